"""Index build throughput against the raw encoders on the same passages, in the same run.

    python benchmarks/build_speed.py [--docs 400] [--repeats 3] [--full | --reindex-full]

Passages: the first --docs SciFact abstracts, written as files (rag.beir.materialize). Each repeat
times, on the same passages: the product's build (Engine.build from scratch, retrieval-only and
with answer-sentence vectors), raw ONNX Runtime (tokenizers + one session, length-sorted batches)
and raw sentence-transformers (SentenceTransformer.encode), in ABBA order (odd repeats reversed).
Models are loaded, and one build is run, before timing. The retrieval-only build is compared with
the faster raw encoder on the passages; the default build, which also embeds every sentence for the
answer step, with the faster raw encoder on the passages and their sentences (equal work). Per-run
ratios and CPU time per passage (less sensitive to other load on the machine) are printed beside the
ratio of medians. Then re-indexing the unchanged corpus in fresh processes, timed after imports.
--full also builds all of SciFact from scratch, retrieval-only and then with answer-sentence vectors
(the default, and what `rag eval --beir` builds), and times the retrieval-only index's unchanged
re-index; --reindex-full only that, on the index --full left.
"""
from __future__ import annotations

import argparse
import json
import os
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
from rag.config import Settings  # noqa: E402
from rag.embed.protocol import onnx_dir_for  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.store.generation import indexed_text  # noqa: E402

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

    from rag.embed.protocol import resolve_model
    model = SentenceTransformer(resolve_model(Settings().model)[0], device="cpu")
    return lambda texts: model.encode(texts, normalize_embeddings=True, convert_to_numpy=True,
                                      show_progress_bar=False)


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) of one call."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def product_build(settings: Settings, emb) -> tuple[tuple[float, float], int, list[str], list[str]]:
    """((wall, CPU) seconds, passages, the passages' indexed texts, their sentences) of one build from scratch."""
    shutil.rmtree(settings.index_dir, ignore_errors=True)
    engine = Engine(settings, embedder=emb)
    report = []
    seconds = timed(lambda: report.append(engine.build()))
    rows = [(d.document, p) for d in engine.documents() for p in engine.passages(d.document.doc_id)]
    texts = [indexed_text(p, settings.context, doc) for doc, p in rows]
    return seconds, report[0].passages, texts, [s for _, p in rows for s in p.sentence_texts()]


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
    from rag.embed import onnx as onnx_embed
    onnx_dir = onnx_dir_for(real_index_dir(BEIR), Settings().model)
    emb = onnx_embed.try_load(onnx_dir, Settings().model)
    corpus = dict(list(BE.load(BEIR, "test")[0].items())[:a.docs])
    BE.materialize(corpus, CACHE / "docs")
    base = Settings(docs_dir=CACHE / "docs", index_dir=CACHE / "index", answer_vectors=False)
    answers = replace(base, answer_vectors=True, index_dir=CACHE / "index-answers")
    onnx, torch = raw_onnx(onnx_dir), raw_torch()
    _, n, texts, sentences = product_build(answers, emb)     # untimed: the build's lazy imports, like the encoders'
    units = {"build": lambda: product_build(base, emb)[0], "onnx": lambda: timed(lambda: onnx(texts)),
             "torch": lambda: timed(lambda: torch(texts)),
             "build+sentences": lambda: product_build(answers, emb)[0],
             # The equal-work floor of the default build: the same passages and their sentences, in one
             # call (sorted together, which pads a little less than the build's two passes).
             "onnx+sentences": lambda: timed(lambda: onnx(texts + sentences)),
             "torch+sentences": lambda: timed(lambda: torch(texts + sentences))}
    load, wall, cpu = [os.getloadavg()[0]], {k: [] for k in units}, {k: [] for k in units}
    for r in range(a.repeats):
        for k in (list(units) if r % 2 == 0 else list(units)[::-1]):   # ABBA: a drift in load hits both sides
            w, c = units[k]()
            wall[k].append(n / w)
            cpu[k].append(c / n)
        load.append(os.getloadavg()[0])
    med = {k: statistics.median(v) for k, v in wall.items()}
    print(f"{a.docs} SciFact abstracts -> {n} passages ({len(sentences)} sentences); medians of {a.repeats} "
          f"runs; 1-min load average {' '.join(f'{x:.1f}' for x in load)} (start, after each run)")
    for kind, suffix, what in (("retrieval-only build", "", "passages"),
                               ("default build (answer-sentence vectors)", "+sentences", "passages + sentences")):
        build = wall["build" + suffix]
        faster = max(("onnx", "torch"), key=lambda e: med[e + suffix])
        print(f"  {kind}: {med['build' + suffix]:.1f} passages/s; raw ONNX {med['onnx' + suffix]:.1f}/s and raw "
              f"sentence-transformers {med['torch' + suffix]:.1f}/s on the same {what}")
        each = [b / f for b, f in zip(build, wall[faster + suffix])]   # measured one after the other
        print(f"    against the faster raw encoder ({faster}): {med['build' + suffix] / med[faster + suffix]:.2f}x "
              f"(ratio of medians); per run " + " ".join(f"{r:.2f}" for r in each)
              + f" (median {statistics.median(each):.2f})")
        ms = {k: 1000 * statistics.median(cpu[k + suffix]) for k in ("build", faster)}
        print(f"    CPU time per passage (all threads; less sensitive to other load): build {ms['build']:.1f} ms, "
              f"raw {faster} {ms[faster]:.1f} ms: {ms[faster] / ms['build']:.2f}x")
    print(f"  re-index unchanged, after imports: {reindex(base, 3):.3f} s (median of 3 processes)")
    full = Settings(docs_dir=real_index_dir(BEIR).parent / "docs", index_dir=CACHE / "full-index",
                    answer_vectors=False)
    if a.full:
        (seconds, _), n, _, _ = product_build(full, emb)
        print(f"  full SciFact build from scratch, retrieval-only: {seconds:.0f} s, {n} passages, "
              f"{n / seconds:.1f} passages/s")
        (seconds, _), n, _, _ = product_build(replace(full, index_dir=CACHE / "full-index-default",
                                                      answer_vectors=True), emb)
        print(f"  full SciFact build from scratch, default (answer-sentence vectors): {seconds:.0f} s, {n} passages, "
              f"{n / seconds:.1f} passages/s")
    if a.full or a.reindex_full:
        print(f"  full SciFact re-index unchanged, after imports: {reindex(full, 5):.3f} s (median of 5 processes)")
    print(json.dumps({"passages_per_second": wall, "cpu_seconds_per_passage": cpu, "load": load}))


if __name__ == "__main__":
    main()
