"""Tune fusion on BEIR SciFact *train* queries (never the test qrels), reusing the cached index.

    python benchmarks/tune_scifact.py [--split train] [--bm25 0.9,0.4 1.2,0.75] [--shares 0,0.2,0.35]

Dense and BM25 scores are computed once per query; every fusion setting is then scored offline
through the functions the product uses (rag.retrieve.bounded / convex / rrf, Lexical.ceiling), on
the same candidates as `rag eval --beir` (200 per retriever: that run asks for 200 passages so that
100 documents remain after merging a document's passages).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import beir, retrieve  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.lexical import Lexical  # noqa: E402
from rag.schema import Document, Passage  # noqa: E402
from rag.store.generation import indexed_text  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "bench" / "scifact"
FUSIONS = [("rrf", 60)] + [("convex", w) for w in (0.5, 0.6, 0.7)] + \
          [("bounded", w) for w in (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)]


def passage_rows(eng: Engine) -> list[tuple[Document, Passage]]:
    """Every passage with its document, in row order (the order Engine.candidates' rows index)."""
    return [(d.document, p) for d in eng.documents() for p in eng.passages(d.document.doc_id)]


def fuse(fusion: str, param: float, c: retrieve.Candidates, share: float = 0.0) -> np.ndarray:
    dense = retrieve.with_sentences(c.dense, c.best_sentence, share)
    if fusion == "rrf":
        m = retrieve.rrf([c.dense_rows, c.keyword_rows], int(param))
        return np.array([m[r] for r in c.rows.tolist()])
    if fusion == "convex":
        return retrieve.convex(dense, c.lexical, param)
    return retrieve.bounded(dense, c.lexical, param, ceiling=c.ceiling)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="train")
    ap.add_argument("--pool", type=int, default=200)
    ap.add_argument("--bm25", nargs="*", default=["0.9,0.4"], help="k1,b pairs; the index's own is 0.9,0.4")
    ap.add_argument("--shares", default="0", help="sentence shares to try, comma-separated (Settings.sentence_share)")
    args = ap.parse_args()
    base = Settings()
    beir.evaluate(base, SCIFACT, split=args.split, mode="keyword", depth=10)   # makes sure the cached index exists
    cache = next((ROOT / ".cache").glob("beir-scifact-*"))
    eng = Engine(replace(base, docs_dir=cache / "docs", index_dir=next(cache.glob("index-*"))))
    rows = passage_rows(eng)
    _, queries, qrels = beir.load(SCIFACT, args.split)
    qids = list(qrels)
    qvecs = eng.embedder().encode_queries([queries[q] for q in qids])
    doc_of = np.array([p.doc_id for _, p in rows])
    texts = [indexed_text(p, base.context, d) for d, p in rows]
    print(f"{args.split}: {len(qids)} queries, {args.pool} candidates per retriever\n"
          "k1   b     share fusion  param  nDCG@10  R@100")
    for pair in args.bm25:
        k1, b = (float(x) for x in pair.split(","))
        lex = None if (k1, b) == (base.bm25_k1, base.bm25_b) else Lexical.build(texts, k1, b, stopwords=base.stopwords)
        cands = [eng.candidates(queries[q], pool=args.pool, qvec=qvecs[i], lexical=lex) for i, q in enumerate(qids)]
        for share in (float(x) for x in args.shares.split(",")):
            for fusion, param in FUSIONS:
                run = {}
                for q, c in zip(qids, cands):
                    fused = fuse(fusion, param, c, share)
                    order = c.rows[np.lexsort((c.rows, -fused))]
                    run[q] = list(dict.fromkeys(doc_of[order].tolist()))[:100]
                m = beir.metrics(run, qrels)
                print(f"{k1:<4} {b:<5} {share:<5} {fusion:7} {param:<6} {m['ndcg@10']:.4f}   {m['recall@100']:.4f}",
                      flush=True)


if __name__ == "__main__":
    main()
