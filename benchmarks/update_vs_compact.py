"""Warm `ask` on an index written as updates against the same documents compacted, interleaved in one
process so both see the same machine. The compacted twin is a hard-linked copy of the index folder
(`cp -al`: no bytes copied; compacting it writes a new generation there and leaves the original's files
alone), compacted with `rag index --compact` semantics (Engine.build(compact=True), nothing embedded).

    python benchmarks/build_scale.py --sizes 1m --steps "add one" "add 1%"     # an updated index
    python benchmarks/update_vs_compact.py [--size 1m] [--warm 300] [--questions 200]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import build_scale as B  # noqa: E402
import scale_data as D  # noqa: E402
import scale_product_data as P  # noqa: E402
from scale import SIZES  # noqa: E402


def engine(n: int, index: Path):
    from rag.config import Settings
    from rag.embed import onnx as onnx_embed
    from rag.engine import Engine
    settings = Settings(docs_dir=B.docs_folder(n), index_dir=index)
    emb = B.Replay(onnx_embed.try_load(next(P.ONNX.glob("*/export.json")).parent, settings.model),
                   np.load(D.CACHE / "vectors.npy", mmap_mode="r"))
    return Engine(settings, embedder=emb)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1m", choices=list(SIZES))
    ap.add_argument("--warm", type=int, default=300)
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--compact-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    n = SIZES[a.size]
    index, twin = D.CACHE / f"build-index-{n}", D.CACHE / f"build-index-{n}-compacted"
    if a.compact_only:
        t = time.perf_counter()
        report = engine(n, twin).build(compact=True)
        print(f"compacted the twin: {report.written}, {report.passages:,} passages, {time.perf_counter() - t:.0f} s")
        return
    shutil.rmtree(twin, ignore_errors=True)
    subprocess.run(["cp", "-al", str(index), str(twin)], check=True)
    subprocess.run([sys.executable, __file__, "--size", a.size, "--compact-only"], check=True)
    updated, compacted = engine(n, index), engine(n, twin)
    delta = updated._snapshot().manifest.get("delta")
    assert delta and not compacted._snapshot().manifest.get("delta"), "run an update on the index first"
    questions = np.load(D.CACHE / "real.npz")["query_texts"].tolist()
    for q in questions[:a.warm]:               # first touches: block sums verified, pages cached
        updated.ask(q), compacted.ask(q)
    times: dict[str, list[float]] = {"updated": [], "compacted": []}
    for q in questions[a.warm:a.warm + a.questions]:
        for name, e in (("updated", updated), ("compacted", compacted)):
            t = time.perf_counter()
            e.ask(q)
            times[name].append(time.perf_counter() - t)
    same = sum(updated.ask(q).to_json()["answer"] == compacted.ask(q).to_json()["answer"]
               for q in questions[a.warm:a.warm + 50])
    print(f"{n:,} passages; update: {delta['rows']:,} rows added, {delta['removed']:,} removed")
    for name, ts in times.items():
        print(f"{name}: ask p50 {1000 * np.median(ts):.1f} ms, p95 {1000 * np.percentile(ts, 95):.1f} ms")
    print(f"ratio of p50s {np.median(times['updated']) / np.median(times['compacted']):.2f}; "
          f"same answer for {same}/50 questions")
    shutil.rmtree(twin, ignore_errors=True)


if __name__ == "__main__":
    main()
