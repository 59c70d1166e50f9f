"""Where the large-corpus engines take over, and what they do to quality.

    python benchmarks/scale_sweep.py thresholds [--sizes 10000 25000 50000 100000]
    python benchmarks/scale_sweep.py quality [--beir ../shared/bench/scifact]

thresholds: exact vs HNSW vector search (p50, recall@10) and bm25s vs tantivy keyword search (p50)
on prefixes of the scale data (benchmarks/scale_data.py), medians of repeated runs, same process.
quality: SciFact test through the product's Engine.search, with the cached index as built (exact +
bm25s) and with the same passages re-indexed by the tantivy engine and by HNSW, both forced.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import scale_data as D  # noqa: E402
from scale import K1, B, exact_top, queries, runs  # noqa: E402

from rag import index as vindex  # noqa: E402
from rag.lexical import Lexical  # noqa: E402


def thresholds(sizes: list[int], repeats: int) -> None:
    qv, qt = queries()
    qv, qt = qv[:300], qt[:300]
    print("| passages | exact p50 | HNSW p50 | HNSW recall@10 | HNSW build | bm25s top-10 p50 | tantivy top-10 p50 |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        x = np.ascontiguousarray(np.load(D.CACHE / "vectors.npy", mmap_mode="r")[:n])
        flat = vindex.build(x, ann_min_rows=n + 1)
        exact = runs(lambda q: vindex.search(flat, q, 10), qv, repeats)
        t = time.perf_counter()
        hnsw = vindex.build(x, ann_min_rows=1)
        built = time.perf_counter() - t
        approx = runs(lambda q: vindex.search(hnsw, q, 10), qv, repeats)
        gt = exact_top(x, qv)
        recall = np.mean([len(set(vindex.search(hnsw, q, 10)[1].tolist()) & set(g.tolist())) / 10
                          for q, g in zip(qv, gt)])
        texts = D.documents(n)
        lex = {e: Lexical.build(texts, K1, B, "en", engine=e) for e in ("bm25s", "tantivy")}
        toks = [lex["bm25s"].tokenize(q) for q in qt]
        kw = {e: runs(lambda tk: lx.top(tk, 10), toks, repeats) for e, lx in lex.items()}
        print(f"| {n:,} | {exact['p50']:.2f} ms | {approx['p50']:.3f} ms | {recall:.4f} | {built:.1f} s "
              f"| {kw['bm25s']['p50']:.2f} ms | {kw['tantivy']['p50']:.2f} ms |", flush=True)


def overlap(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.mean([len(set(x.tolist()) & set(y.tolist())) / max(len(x), 1) for x, y in zip(a, b)]))


def quality(beir: Path) -> None:
    from rag import beir as BE
    from rag.build import indexed_text
    from rag.config import Settings
    from rag.engine import Engine
    corpus, queries_, qrels = BE.load(beir, "test")
    engine = Engine(Settings(index_dir=D.real_index_dir(beir), docs_dir=D.CACHE / "unused", answer_vectors=False))
    snap = engine._snapshot()
    docs = {d.doc_id: d for d in snap.documents}
    texts = [indexed_text(p, snap.manifest["context"], docs.get(p.doc_id)) for p in snap.passages]
    bm = snap.manifest["bm25"]
    variants = {
        "as built (exact, bm25s)": snap,
        "tantivy keyword engine": replace(snap, lexical=Lexical.build(texts, bm["k1"], bm["b"], bm["stopwords"],
                                                                      engine="tantivy")),
        "tantivy + HNSW": replace(snap, lexical=None, vectors=vindex.build(vindex.vectors(snap.vectors), 1)),
    }
    variants["tantivy + HNSW"] = replace(variants["tantivy + HNSW"],
                                         lexical=variants["tantivy keyword engine"].lexical)
    tops = {}
    print("| index | mode | nDCG@10 | Recall@10 | Recall@100 | MRR@10 |")
    print("|---|---|---|---|---|---|")
    for name, variant in variants.items():
        engine._snap = variant        # the same engine and passages, another index
        for mode in ("keyword", "hybrid"):
            run = {}
            for qid in qrels:
                hits = engine.search(queries_[qid], k=200, mode=mode)
                run[qid] = list(dict.fromkeys(h.passage.doc_id for h in hits))[:100]
            m = BE.metrics(run, qrels)
            print(f"| {name} | {mode} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {m['recall@100']:.4f} "
                  f"| {m['mrr@10']:.4f} |", flush=True)
        lx = variant.lexical
        tops[name] = [lx.top(lx.tokenize(queries_[q]), 100)[0] for q in queries_]
    base = tops["as built (exact, bm25s)"]
    print(f"keyword top-100 rows shared with bm25s, all {len(queries_)} SciFact queries: "
          f"{overlap(tops['tantivy keyword engine'], base):.4f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["thresholds", "quality"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[10_000, 25_000, 50_000, 100_000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--beir", type=Path, default=ROOT.parent / "shared" / "bench" / "scifact")
    a = ap.parse_args()
    if a.what == "thresholds":
        thresholds(a.sizes, a.repeats)
    else:
        quality(a.beir)


if __name__ == "__main__":
    main()
