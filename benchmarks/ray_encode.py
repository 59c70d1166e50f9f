"""Encoding on a Ray cluster against the local encoder: the same work in one run (issue 18, part 1).

    python benchmarks/ray_encode.py [--abstracts 100] [--rounds 3]

The work is what a build encodes: the first N SciFact abstracts (title + text, as passages) and their
sentences (rag.segment), in one encode_passages call, with the product's ONNX export (run `rag index`
first). Variants run interleaved within each round; figures are medians over the rounds.

- local: the build's OnnxEmbedder (2 ONNX threads), and the same with 1 thread (one CPU's worth).
- ray: RayEmbedder on a real two-node cluster on this machine (separate processes, 1 CPU each, one
  worker per CPU, 1 ONNX thread each; tests/ray_cluster.py), as `rag index --ray` runs it. The bytes
  are checked equal to the local encoder's.
- pool start: a call of 16 texts. Every encode_passages call starts its actor pool (each worker then
  loads the model from the object store), so this is paid once per call.
- per-call overhead: one worker encodes 1,024 two-word texts (64 batches, a few ms of ONNX each) at
  TEXTS_PER_CALL texts per map_batches call and at 16 (one batch per call): the same batches on the
  same worker, only the number of calls differs, so (t16 - t512) / (calls16 - calls512) is Ray's cost
  per call. (On the real texts that difference drowns in the noise of a shared 2-core machine.)
- planning: the driver's share (OnnxEmbedder.batches: tokenising and sorting), texts/s.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from ray_cluster import LocalCluster

from rag.config import DEFAULT_MODEL
from rag.embed import onnx
from rag.embed.protocol import onnx_dir_for
from rag.embed.ray_encode import TEXTS_PER_CALL, RayEmbedder
from rag.segment import split_sentences

SCIFACT = ROOT.parent / "shared" / "bench" / "scifact" / "corpus.jsonl"


def work(abstracts: int) -> list[str]:
    texts = []
    with open(SCIFACT, encoding="utf-8") as f:
        for line, _ in zip(f, range(abstracts)):
            doc = json.loads(line)
            texts.append(f"{doc['title']} {doc['text']}".strip())
            texts += [doc["text"][a:b] for a, b in split_sentences(doc["text"])]
    return texts


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--abstracts", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--index", type=Path, default=ROOT / "index", help="where `rag index` left the ONNX export")
    args = ap.parse_args()
    where = onnx_dir_for(args.index, DEFAULT_MODEL)
    two, one = (onnx.try_load(where, DEFAULT_MODEL, threads=t) for t in (2, 1))
    if two is None:
        sys.exit(f"no verified ONNX export in {where}: run `rag index` first")
    texts = work(args.abstracts)
    plan_s, plan = timed(lambda: [rows for rows, _ in two.batches(texts)])
    print(f"work: {args.abstracts} SciFact abstracts + their sentences = {len(texts)} texts in {len(plan)} "
          f"batches of <= {two.batch_size}; planning on the driver {len(texts) / plan_s:,.0f} texts/s")
    ref = two.encode_passages(texts)
    times: dict[str, list[float]] = {}
    with LocalCluster(nodes=2, cpus=1) as cluster:
        cluster_emb = RayEmbedder(two, cluster.address, where)
        big = RayEmbedder(two, cluster.address, where, workers=1)
        small = RayEmbedder(two, cluster.address, where, workers=1, texts_per_call=two.batch_size)
        t_conn, _ = timed(lambda: cluster_emb.encode_passages(texts[:16]))   # connects, puts the export
        tiny = [f"word {i}" for i in range(1024)]
        variants = {"local 2 threads": two.encode_passages, "local 1 thread": one.encode_passages,
                    "ray, all workers": cluster_emb.encode_passages}
        overhead = {f"tiny, 1 worker {TEXTS_PER_CALL}/call": big, "tiny, 1 worker 16/call": small}
        for r in range(args.rounds):
            for name, fn in (list(variants.items()) if r % 2 == 0 else list(variants.items())[::-1]):
                s, got = timed(lambda fn=fn: fn(texts))
                assert got.tobytes() == ref.tobytes(), f"{name}: vectors differ from the local encoder's"
                times.setdefault(name, []).append(s)
            for name, emb in overhead.items():
                s, _ = timed(lambda emb=emb: emb.encode_passages(tiny))
                times.setdefault(name, []).append(s)
            s, _ = timed(lambda: cluster_emb.encode_passages(texts[:16]))
            times.setdefault("pool start (16 texts)", []).append(s)
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
        full = [r for r in cluster_emb.runs if r.texts == len(texts)][-1]
        workers, calls, nodes = full.workers, full.calls, len(full.nodes)
        calls_big, calls_small = big.runs[-1].calls, small.runs[-1].calls
        cluster_emb.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    start = med["pool start (16 texts)"]
    print(f"\nfirst call (connect, export into the object store, pool start): {t_conn:.1f} s")
    for k in variants:
        print(f"{k:24} {med[k]:6.1f} s   {len(texts) / med[k]:6.1f} texts/s")
    steady = len(texts) / (med["ray, all workers"] - start)
    per_call = (med["tiny, 1 worker 16/call"] - med[f"tiny, 1 worker {TEXTS_PER_CALL}/call"]) / (calls_small - calls_big)
    print(f"pool start per call: {start:.1f} s (median)")
    print(f"ray, all workers: {calls} calls on {workers} workers ({nodes} nodes); without the pool start "
          f"{steady:.1f} texts/s = {steady / workers:.1f} texts/s per worker CPU "
          f"(local 1 thread: {len(texts) / med['local 1 thread']:.1f})")
    print(f"per-call overhead: {per_call * 1000:.0f} ms per map_batches call (tiny texts: {med['tiny, 1 worker 16/call']:.1f} s "
          f"in {calls_small} calls, {med[f'tiny, 1 worker {TEXTS_PER_CALL}/call']:.1f} s in {calls_big}, one worker)")
    print(f"ray / local 2 threads: {med['local 2 threads'] / med['ray, all workers']:.2f}x throughput")


if __name__ == "__main__":
    main()
