"""Index build throughput against the raw encoders on the same passages, in the same run.

    python benchmarks/build_speed.py [--docs 400] [--repeats 3] [--full | --reindex-full]

Passages: the first --docs SciFact abstracts, written as files (rag.beir.materialize). Each repeat
times, on the same passages: the product's build (Engine.build from scratch, retrieval-only and
with answer-sentence vectors), raw ONNX Runtime (tokenizers + one session, length-sorted batches)
and raw sentence-transformers (SentenceTransformer.encode). Then re-indexing the unchanged corpus
in fresh processes, timed after imports. --full also builds all of SciFact from scratch (and times
its unchanged re-index; --reindex-full only that, on the index --full left).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale_data import real_index_dir  # noqa: E402

from rag import beir as BE  # noqa: E402
from rag.build import indexed_text  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.embed import onnx_dir_for  # noqa: E402
from rag.engine import Engine  # noqa: E402

CACHE = ROOT / ".cache" / "build_speed"
BEIR = ROOT.parent / "shared" / "bench" / "scifact"
REINDEX = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from rag.config import Settings
from rag.engine import Engine
t = time.perf_counter()
report = Engine(Settings(docs_dir=Path({docs!r}), index_dir=Path({index!r}), answer_vectors={answers})).build()
print(time.perf_counter() - t, report.rebuilt)
"""


def raw_onnx(onnx_dir: Path, batch: int = 16):
    """The floor: tokenizer + one ONNX Runtime session, length-sorted batches, nothing else.
    Returns an encode function; loading is not timed (the product's build gets a loaded model too)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(onnx_dir / "tokenizer.json"))
    tok.enable_truncation(256)
    tok.no_padding()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 2, 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(onnx_dir / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    fields = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}

    def encode(texts: list[str]) -> np.ndarray:
        encs = tok.encode_batch(texts)
        order = sorted(range(len(encs)), key=lambda i: len(encs[i]))
        out = np.empty((len(texts), 384), dtype=np.float32)
        for s in range(0, len(order), batch):
            rows = order[s:s + batch]
            width = max(len(encs[i]) for i in rows)
            feed = {n: np.zeros((len(rows), width), dtype=np.int64) for n in names}
            for r, i in enumerate(rows):
                for n in names:
                    feed[n][r, :len(encs[i])] = getattr(encs[i], fields[n])
            out[rows] = sess.run(["sentence_embedding"], feed)[0]
        return out
    return encode


def raw_torch():
    """sentence-transformers as its docs use it: encode() (which sorts by length), default batch."""
    from sentence_transformers import SentenceTransformer
    from rag.embed import resolve_model
    model = SentenceTransformer(resolve_model(Settings().model)[0], device="cpu")
    return lambda texts: model.encode(texts, normalize_embeddings=True, convert_to_numpy=True,
                                      show_progress_bar=False)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def product_build(settings: Settings, emb) -> tuple[float, int, list[str], list[str]]:
    """(seconds, passages, the passages' indexed texts, their sentences) of one build from scratch."""
    shutil.rmtree(settings.index_dir, ignore_errors=True)
    engine = Engine(settings, embedder=emb)
    t = time.perf_counter()
    report = engine.build()
    seconds = time.perf_counter() - t
    snap = engine.snapshot()
    docs = {d.doc_id: d for d in snap.documents}
    texts = [indexed_text(p, settings.context, docs.get(p.doc_id)) for p in snap.passages]
    return seconds, report.passages, texts, [s for p in snap.passages for s in p.sentence_texts()]


def reindex(settings: Settings, repeats: int) -> float:
    code = REINDEX.format(root=str(ROOT), docs=str(settings.docs_dir), index=str(settings.index_dir),
                          answers=settings.answer_vectors)
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        seconds, rebuilt = out.stdout.split()
        assert rebuilt == "False", "the unchanged corpus was rebuilt"
        times.append(float(seconds))
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--full", action="store_true", help="also build all of SciFact from scratch")
    ap.add_argument("--reindex-full", action="store_true", help="time re-indexing the full build of --full")
    a = ap.parse_args()
    from rag import onnx_embed
    onnx_dir = onnx_dir_for(real_index_dir(BEIR), Settings().model)
    emb = onnx_embed.try_load(onnx_dir, Settings().model)
    corpus = dict(list(BE.load(BEIR, "test")[0].items())[:a.docs])
    BE.materialize(corpus, CACHE / "docs")
    base = Settings(docs_dir=CACHE / "docs", index_dir=CACHE / "index", answer_vectors=False)
    onnx, torch = raw_onnx(onnx_dir), raw_torch()
    rows = {k: [] for k in ("build+sentences", "build", "onnx", "torch", "onnx+sentences")}
    for _ in range(a.repeats):
        seconds, n, texts, sentences = product_build(replace(base, answer_vectors=True), emb)
        rows["build+sentences"].append(n / seconds)
        seconds, n, texts, _ = product_build(base, emb)      # last, so the re-index below reuses it
        rows["build"].append(n / seconds)
        rows["onnx"].append(n / timed(lambda: onnx(texts)))
        rows["torch"].append(n / timed(lambda: torch(texts)))
        rows["onnx+sentences"].append(n / timed(lambda: onnx(texts + sentences)))   # what build+sentences encodes
    med = {k: statistics.median(v) for k, v in rows.items()}
    floor = max(med["onnx"], med["torch"])
    print(f"{a.docs} SciFact abstracts -> {n} passages ({len(sentences)} sentences); medians of {a.repeats} runs")
    for k, v in med.items():
        print(f"  {k:16s} {v:7.1f} passages/s  ({v / floor:.2f}x the faster raw encoder on the passages)")
    print(f"  build+sentences against raw ONNX on the same passages and sentences: "
          f"{med['build+sentences'] / med['onnx+sentences']:.2f}x")
    print(f"  re-index unchanged, after imports: {reindex(base, 3):.3f} s (median of 3 processes)")
    full = Settings(docs_dir=real_index_dir(BEIR).parent / "docs", index_dir=CACHE / "full-index",
                    answer_vectors=False)
    if a.full:
        seconds, n, _, _ = product_build(full, emb)
        print(f"  full SciFact build from scratch: {seconds:.0f} s, {n} passages, {n / seconds:.1f} passages/s")
    if a.full or a.reindex_full:
        print(f"  full SciFact re-index unchanged, after imports: {reindex(full, 5):.3f} s (median of 5 processes)")
    print(json.dumps({"medians": med, "floor": floor}))


if __name__ == "__main__":
    main()
