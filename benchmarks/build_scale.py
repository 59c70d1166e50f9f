"""The product's build (rag/build.py) at 100k and 1M passages: time per stage and peak memory for a
build from scratch, a re-index of the unchanged folder, and a re-index after one document changed.

    python benchmarks/scale_data.py                # once: vectors, words (see there)
    python benchmarks/build_scale.py [--sizes 100k 1m]

Documents: .txt files of 1,000 paragraphs each in .cache/scale/build-docs-N/, the passage texts of
scale_product_data (real SciFact passages, then ~80-word synthetic ones cut into sentences).
Everything runs through rag.build.build with the product's ONNX embedder (the seed index's export),
so ingest counts tokens with the real tokenizer, except the model call itself: encoding 1M passages
and their ~3.9M sentences would take about 11 hours here (build_speed.py measures it: ~45 passages/s
alone, ~26/s with their sentences). It returns real-structured vectors instead: scale_data's vectors
(real MiniLM embeddings, then samples of the model fitted to them) for passages, and for sentences
rows of those plus noise (cosine ~0.8). The rest is the product's code: reading and cutting, the
vector index (HNSW at these sizes), the keyword index, the passage table, the streamed sentence
vectors, checksums and the atomic publish. Each step runs in a fresh process; peak RSS is its VmHWM.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import scale_data as D  # noqa: E402
import scale_product_data as P  # noqa: E402
from scale import SIZES  # noqa: E402
from scale_product import status_mb  # noqa: E402

STEPS = ("scratch", "unchanged", "one changed")
# Updates (#17 part 1), run in this order over the index a scratch step left: one new document (1,000
# passages), one changed (a paragraph added), one removed, then 1% of the corpus added; then the
# updated index answers questions, is compacted (`rag index --compact`) and answers them again.
UPDATES = ("add one", "update one", "remove one", "add 1%", "ask updated", "compact", "ask compacted")
WRITE = ("passage table", "vector index", "sentence vectors", "keyword index", "publish")


class Replay:
    """The product's ONNX embedder with the model call replaced by cached real-structured vectors."""

    def __init__(self, real, path: Path):
        """The vectors are read from `path` (a .npy file) a block at a time, not mapped: a mapping's
        pages count in this process's RSS (1.5 GB at 1M) and are not the product's memory."""
        x = np.load(path, mmap_mode="r")
        self.path, self.offset, self.n, self.at, self.encoded = path, x.offset, len(x), {False: 0, True: 0}, 0
        self.name, self.dim, self.max_tokens, self.backend = real.name, real.dim, real.max_tokens, "replay"
        self.counts_add_up, self.count_tokens, self.fingerprint = real.counts_add_up, real.count_tokens, ""
        self.count_tokens_batch, self.encode_queries = real.count_tokens_batch, real.encode_queries

    def encode_passages(self, texts, progress=None) -> np.ndarray:
        """Passages get the cached vectors in order, sentences noisy copies of them. A build encodes
        its passages, then their sentences, a block of texts per call; a block of sentences is told
        apart by its texts (one sentence each; a passage of these documents has several)."""
        sentences = sum(t.count(". ") for t in texts) < len(texts) / 2
        out, rng = np.empty((len(texts), self.dim), np.float32), np.random.default_rng(self.at[sentences])
        for a in range(0, len(texts), 100_000):
            rows = (self.at[sentences] + np.arange(a, min(a + 100_000, len(texts)))) % self.n
            v = self.rows(rows) + (P.NOISE * rng.standard_normal((len(rows), self.dim), dtype=np.float32)
                                if sentences else 0)
            out[a:a + len(rows)] = v / np.linalg.norm(v, axis=1, keepdims=True)
            if progress:
                progress(len(rows))
        self.at[sentences] += len(texts)
        self.encoded += len(texts)
        return out

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows that run on by one (wrapping at the end), read from the file."""
        parts, start = [], 0
        for end in [*(np.flatnonzero(np.diff(rows) != 1) + 1).tolist(), len(rows)]:
            lo, k = int(rows[start]), end - start
            parts.append(np.fromfile(self.path, np.float32, count=k * self.dim,
                                     offset=self.offset + lo * self.dim * 4).reshape(k, self.dim))
            start = end
        return np.vstack(parts)


def docs_folder(n: int) -> Path:
    """n passages as .txt files of P.PER_DOC paragraphs (written once)."""
    folder = D.CACHE / f"build-docs-{n}"
    if not (folder / ".done").exists():
        folder.mkdir(parents=True, exist_ok=True)
        texts = D.documents(n)
        for i in range(0, n, P.PER_DOC):
            body = "\n\n".join(P.sentences(t) for t in texts[i:i + P.PER_DOC])
            (folder / f"doc{i // P.PER_DOC:05d}.txt").write_text(body + "\n", encoding="utf-8")
        (folder / ".done").write_text("")
    return folder


def child(step: str, n: int) -> dict:
    """One step in this process: Engine.build, with stage times and VmHWM. The generation it publishes
    is loaded at the end, as a user's build does ("load new"; not in the figures before 2026-11-29)."""
    from rag.config import Settings
    from rag.embed import onnx as onnx_embed
    from rag.engine import Engine
    docs, index = docs_folder(n), D.CACHE / f"build-index-{n}"
    settings = Settings(docs_dir=docs, index_dir=index)
    emb = Replay(onnx_embed.try_load(next(P.ONNX.glob("*/export.json")).parent, settings.model),
                 D.CACHE / "vectors.npy")
    first, kept = docs / "doc00000.txt", docs / ".doc00000.txt.orig"    # hidden: not a document
    if step == "scratch":
        restore(docs)                          # the folder as docs_folder wrote it
    if step == "one changed":
        if not kept.exists():
            kept.write_bytes(first.read_bytes())
        with open(first, "a", encoding="utf-8") as f:
            f.write(f"\nA paragraph added at {time.time():.0f} to change this document.\n")
    if step in UPDATES:
        change(docs, step, n)
    if step.startswith("ask"):
        return asked(step, n, Engine(settings, embedder=emb))
    starts: dict[str, float] = {}
    t0 = time.perf_counter()

    peaks: dict[str, float] = {}    # each stage's own peak RSS: VmHWM read, then reset, as a stage ends

    def tick(stage: str, done: int, total: int) -> None:   # the write's steps apart (rag.store.generation.write)
        name = WRITE[done] if stage == "write" and done < len(WRITE) else stage
        if name not in starts:
            if starts:
                peaks[max(starts, key=starts.get)] = status_mb("VmHWM")
            Path("/proc/self/clear_refs").write_text("5")
        starts.setdefault(name, time.perf_counter() - t0)
    engine = Engine(settings, embedder=emb)
    if step != "scratch":
        engine.status()                        # loads the previous generation (timed apart)
    loaded = time.perf_counter() - t0
    report = engine.build(rebuild=step == "scratch", compact=step == "compact", progress=tick)
    wall = time.perf_counter() - t0
    built = loaded + report.seconds             # then Engine.build loads the new generation
    marks = [("load previous", 0.0), ("list and hash files", loaded), *sorted(starts.items(), key=lambda kv: kv[1]),
             ("load new", built)]
    gen = index / report.generation
    return {"step": step, "passages": report.passages, "rebuilt": report.rebuilt, "embedded": emb.encoded,
            "written": report.written,
            "wall_s": wall, "stages": {k: round(b - a, 2) for (k, a), (_, b) in zip(marks, marks[1:] + [("", wall)])},
            "peak_rss_mb": max([status_mb("VmHWM"), *peaks.values()]),
            "stage_peak_mb": {k: round(v) for k, v in peaks.items()},
            "disk_mb": sum(f.stat().st_size for f in gen.rglob("*") if f.is_file()) / 1e6}


def restore(docs: Path) -> None:
    """Undo the steps' changes: added documents removed, changed or removed ones put back."""
    for f in docs.glob("added-*.txt"):
        f.unlink()
    for kept in docs.glob(".*.orig"):
        kept.replace(docs / kept.name[1:].removesuffix(".orig"))


def change(docs: Path, step: str, n: int) -> None:
    """The documents change of an update step (the originals kept hidden for `restore`)."""
    def keep(name: str) -> Path:
        f, kept = docs / name, docs / f".{name}.orig"
        if not kept.exists():
            kept.write_bytes(f.read_bytes())
        return f
    stamp = f"{time.time():.0f}"
    if step in ("add one", "add 1%"):
        for i in range(1 if step == "add one" else max(1, n // 100 // P.PER_DOC)):
            source = (docs / f"doc{10 + i % (n // P.PER_DOC - 10):05d}.txt").read_text(encoding="utf-8")   # unchanged
            (docs / f"added-{step[4:].replace('%', 'pc')}-{i:03d}.txt").write_text(
                "\n\n".join(f"Added {stamp} {i}: {p}" for p in source.split("\n\n")), encoding="utf-8")
    elif step == "update one":
        with open(keep("doc00002.txt"), "a", encoding="utf-8") as f:
            f.write(f"\nA paragraph added at {stamp} to change this document.\n")
    elif step == "remove one":
        keep("doc00003.txt").unlink()


def asked(step: str, n: int, engine) -> dict:
    """Warm `ask` latency over 200 SciFact questions (after 50 to warm up), and the generation's shape."""
    questions = np.load(D.CACHE / "real.npz")["query_texts"].tolist()
    for q in questions[:50]:
        engine.ask(q)
    times = []
    for q in questions[50:250]:
        t = time.perf_counter()
        engine.ask(q)
        times.append(time.perf_counter() - t)
    snap = engine._snapshot()
    return {"step": step, "passages": engine.status().passages, "ask_p50_ms": 1000 * float(np.median(times)),
            "ask_p95_ms": 1000 * float(np.percentile(times, 95)), "delta": snap.manifest.get("delta"),
            "peak_rss_mb": status_mb("VmHWM")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["100k", "1m"], choices=list(SIZES))
    ap.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS + UPDATES)
    ap.add_argument("--child", nargs=2, metavar=("STEP", "N"))
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], int(a.child[1]))))
        return
    rows = []
    for n in (SIZES[s] for s in a.sizes):
        t = time.perf_counter()
        docs_folder(n)
        print(f"{n:,} passages: documents ready in {time.perf_counter() - t:.0f} s", flush=True)
        for step in a.steps:
            out = subprocess.run([sys.executable, __file__, "--child", step, str(n)], capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"{step} at {n}: exit {out.returncode}\n{out.stderr[-3000:]}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(r)
            print(json.dumps(r), flush=True)
    cols = ("load previous", "list and hash files", "read", "embed", "embed sentences", "reuse", *WRITE)
    print("\n| passages | step | wall | " + " | ".join(cols) + " | embedded | peak RSS | on disk |")
    print("|---" * (len(cols) + 6) + "|")
    for r in rows:
        if "ask_p50_ms" in r:
            print(f"| {r['passages']:,} | {r['step']}: ask p50 {r['ask_p50_ms']:.1f}, p95 {r['ask_p95_ms']:.1f} ms |")
            continue
        print(f"| {r['passages']:,} | {r['step']} | {r['wall_s']:.1f} s | "
              + " | ".join(f"{r['stages'].get(c, 0):.1f} s" for c in cols)
              + f" | {r['embedded']:,} | {r['peak_rss_mb']:,.0f} MB | {r['disk_mb']:,.0f} MB |")


if __name__ == "__main__":
    main()
