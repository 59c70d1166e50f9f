"""Scale of the whole product index: 10k, 100k and 1M passages in the format rag/build.py writes
(made by benchmarks/scale_product_data.py), each opened by rag.Engine in a fresh process: load time,
RSS after load and after the queries, peak RSS (VmHWM), and hybrid search / ask p50 and p95 with the
product's settings against the floor (encode the question + one faiss search, as latency.py),
interleaved per question, each the median of repeats; then a citation lookup.

    python benchmarks/scale_data.py                     # once: vectors, words (see there)
    python benchmarks/scale_product.py [--sizes 10k 100k 1m] [--queries 200] [--repeats 3] [--rebuild]

Questions: real SciFact queries, encoded by the ONNX export in index/. The load is timed with the
files in the page cache (read once before), against reading them again (the floor in brackets).
"""
from __future__ import annotations

import argparse
import json
import statistics
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

from rag.store import layout  # noqa: E402

S = P.S


def status_mb(key: str) -> float:
    """VmRSS (now), VmHWM (peak), RssAnon or RssFile of this process, in MB."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(key + ":"))
    return int(line.split()[1]) / 1024


def read_s(folder: Path) -> float:
    """Seconds to read every file of a generation (the load's floor: no checksum, no parsing)."""
    t, buf = time.perf_counter(), bytearray(8 << 20)
    for f in (f for f in folder.rglob("*") if f.is_file()):
        with open(f, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass
    return time.perf_counter() - t


def interleaved(fns: dict, items: list, repeats: int) -> dict:
    """p50 and p95 (ms) of each fn, run in turn on each item (like moments on a noisy machine)."""
    times = {name: [[] for _ in range(repeats)] for name in fns}
    for r in range(repeats):
        for it in items:
            for name, fn in fns.items():
                t = time.perf_counter()
                fn(it)
                times[name][r].append((time.perf_counter() - t) * 1000)
    return {name: {q: statistics.median(float(np.percentile(ts, int(q[1:]))) for ts in runs) for q in ("p50", "p95")}
            for name, runs in times.items()}


def serve(n: int, queries: int, repeats: int) -> dict:
    """Open the size-n index with Engine in this (fresh) process; time the load, searches and asks
    against the floor (encode the question + one faiss search, as benchmarks/latency.py)."""
    from rag.embed.onnx import try_load
    from rag.engine import Engine
    emb = try_load(next(P.ONNX.glob("*/export.json")).parent, S.model)
    assert emb is not None, f"no usable ONNX export of {S.model} under {P.ONNX}"
    questions = np.load(D.CACHE / "real.npz")["query_texts"].tolist()[:queries]
    emb.encode_queries(questions[:1])
    folder = layout.current(P.folder(n))
    read_s(folder)                                   # the first read warms the page cache
    disk = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20
    out = {"passages": n, "read_s": read_s(folder), "rss_base_mb": status_mb("VmRSS"), "disk_mb": disk,
           "sentence_share": S.sentence_share}
    engine = Engine(S.with_(index_dir=folder.parent, docs_dir=D.CACHE / "unused"), embedder=emb)
    t = time.perf_counter()
    engine.status()                                  # loads the generation
    out.update(load_s=time.perf_counter() - t, rss_load_mb=status_mb("VmRSS"), peak_load_mb=status_mb("VmHWM"))
    out.update(interleaved({"floor": lambda q: engine.floor(q, S.k),
                            "search": engine.search, "ask": engine.ask}, questions, repeats))
    t = time.perf_counter()
    found = [len(engine.cite(f"Doc {i}, ¶{i + 3}").found) for i in range(min(20, n // P.PER_DOC))]
    out["cite_ms"] = (time.perf_counter() - t) * 1000 / len(found)
    assert all(found), "a citation did not resolve"
    out["rss_end_mb"], out["peak_mb"] = status_mb("VmRSS"), status_mb("VmHWM")
    out["rss_anon_mb"], out["rss_file_mb"] = status_mb("RssAnon"), status_mb("RssFile")   # file: mapped index files
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["10k", "100k", "1m"], choices=list(SIZES))
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rebuild", action="store_true", help="write the product index even when it exists")
    ap.add_argument("--child", choices=["build", "serve"])
    ap.add_argument("--n", type=int)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(P.build(a.n) if a.child == "build" else serve(a.n, a.queries, a.repeats)))
        return
    for size in a.sizes:
        n, rows = SIZES[size], []
        for mode in (["build"] if a.rebuild or not (P.folder(n) / "CURRENT").exists() else []) + ["serve"]:
            done = subprocess.run([sys.executable, __file__, "--child", mode, "--n", str(n), "--queries",
                                   str(a.queries), "--repeats", str(a.repeats)], capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{mode} {n} failed:\n{done.stderr[-3000:]}")
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps({mode: rows[-1]}), flush=True)
        s = rows[-1]
        x = {k: f"{s[k]['p50']:.2f} / {s[k]['p95']:.2f} ms ({s[k]['p50'] / s['floor']['p50']:.2f}x)"
             for k in ("search", "ask")}
        print(f"| {n:,} | {s['disk_mb']:,.0f} MB | {s['load_s']:.2f} s ({s['read_s']:.2f}) "
              f"| {s['rss_load_mb']:,.0f} MB "
              f"(+{s['rss_load_mb'] - s['rss_base_mb']:,.0f}) | {s['rss_end_mb']:,.0f} MB | {s['peak_mb']:,.0f} MB "
              f"| {s['floor']['p50']:.2f} ms | {x['search']} | {x['ask']} | {s['cite_ms']:.1f} ms |", flush=True)


if __name__ == "__main__":
    main()
