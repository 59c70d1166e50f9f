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
        lex = {e: Lexical.build(texts, K1, B, stopwords="en", engine=e) for e in ("bm25s", "tantivy")}
        toks = [lex["bm25s"].tokenize(q) for q in qt]
        kw = {e: runs(lambda tk: lx.top(tk, 10), toks, repeats) for e, lx in lex.items()}
        print(f"| {n:,} | {exact['p50']:.2f} ms | {approx['p50']:.3f} ms | {recall:.4f} | {built:.1f} s "
              f"| {kw['bm25s']['p50']:.2f} ms | {kw['tantivy']['p50']:.2f} ms |", flush=True)


def overlap(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.mean([len(set(x.tolist()) & set(y.tolist())) / max(len(x), 1) for x, y in zip(a, b)]))


def quality(beir: Path) -> None:
    """SciFact test through Engine.search (the index as built: exact + bm25s), and through
    rag.retrieve.rank with the same settings over the same passages re-indexed by tantivy, and by
    tantivy + HNSW, both forced (the variants are built here from the engine's public passages and
    vectors; answer vectors are off, so no sentence share enters either path)."""
    from rag import beir as BE
    from rag import retrieve as R
    from rag.config import Settings
    from rag.engine import Engine
    from rag.store.generation import indexed_text
    corpus, queries_, qrels = BE.load(beir, "test")
    engine = Engine(Settings(index_dir=D.real_index_dir(beir), docs_dir=D.CACHE / "unused", answer_vectors=False))
    s = engine.settings
    rows = [(d.document, p) for d in engine.documents() for p in engine.passages(d.document.doc_id)]
    texts = [indexed_text(p, s.context, doc) for doc, p in rows]
    doc_of = np.array([p.doc_id for _, p in rows])
    vectors = engine.passage_vectors()
    bm25s = Lexical.build(texts, s.bm25_k1, s.bm25_b, stopwords=s.stopwords, engine="bm25s")   # as built
    tantivy = Lexical.build(texts, s.bm25_k1, s.bm25_b, stopwords=s.stopwords, engine="tantivy")
    stores = {"tantivy keyword engine": vindex.Ranking(vindex.build(vectors), tantivy),
              "tantivy + HNSW": vindex.Ranking(vindex.build(vectors, 1), tantivy)}

    def search(name: str, question: str, mode: str) -> list[int]:
        if name not in stores:
            return [h.row for h in engine.search(question, k=200, mode=mode)]
        st, q = stores[name], engine.check_question(question)[0]
        qvec = engine.embedder().encode_queries([q])[0] if mode != "keyword" else None
        return R.rank(st, qvec, st.lexical.tokenize(q), mode=mode, k=200, candidates=s.candidates, fusion=s.fusion,
                      rrf_k=s.rrf_k, weight=s.dense_weight, share=s.sentence_share, floor=s.keyword_floor).rows.tolist()

    print("| index | mode | nDCG@10 | Recall@10 | Recall@100 | MRR@10 |")
    print("|---|---|---|---|---|---|")
    for name in ("as built (exact, bm25s)", *stores):
        for mode in ("keyword", "hybrid"):
            run = {qid: list(dict.fromkeys(doc_of[search(name, queries_[qid], mode)].tolist()))[:100] for qid in qrels}
            m = BE.metrics(run, qrels)
            print(f"| {name} | {mode} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {m['recall@100']:.4f} "
                  f"| {m['mrr@10']:.4f} |", flush=True)
    base, other = ([lx.top(lx.tokenize(queries_[q]), 100)[0] for q in queries_] for lx in (bm25s, tantivy))
    print(f"keyword top-100 rows shared with bm25s, all {len(queries_)} SciFact queries: {overlap(other, base):.4f}")


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
