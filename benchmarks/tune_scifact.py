"""Tune fusion on BEIR SciFact *train* queries (never the test qrels), reusing the cached index.

    python benchmarks/tune_scifact.py [--split train] [--k1 1.2 --b 0.75]

Dense and BM25 scores are computed once per query; every fusion setting is then scored offline
through the same fusion functions the product uses (rag.retrieve.convex / rrf).
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
from rag import index as vindex  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.lexical import Lexical  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "bench" / "scifact"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="train")
    ap.add_argument("--pool", type=int, default=100)
    args = ap.parse_args()
    base = Settings()
    beir.evaluate(base, SCIFACT, args.split, "keyword", depth=10)   # makes sure the cached index exists
    cache = next((ROOT / ".cache").glob("beir-scifact-*"))
    eng = Engine(replace(base, docs_dir=cache / "docs", index_dir=next(cache.glob("index-*")), answer_vectors=False))
    snap = eng.snapshot()
    corpus, queries, qrels = beir.load(SCIFACT, args.split)
    qids = list(qrels)
    qvecs = eng.embedder().encode_queries([queries[q] for q in qids])
    doc_of = np.array([p.doc_id for p in snap.passages])
    texts = [p.text if not (p.para == 1 and p.part <= 1) else f"{d.title}. {p.text}"
             for p in snap.passages for d in [snap.document(p.doc_id)]]
    print("k1   b     fusion  param  nDCG@10  R@100")
    for k1, b in [(1.2, 0.75), (0.9, 0.4), (1.5, 0.75), (1.2, 0.9)]:
        lex = Lexical.build(texts, k1, b, "en")
        cands = []
        for qi, q in enumerate(qids):
            d_scores, d_rows = vindex.search(snap.vectors, qvecs[qi], args.pool)
            ls = lex.scores(lex.tokenize(queries[q]))
            l_rows = retrieve.top_n(ls, args.pool)
            l_rows = l_rows[ls[l_rows] > 0]
            union = np.union1d(d_rows, l_rows)
            dense = vindex.take(snap.vectors, union) @ qvecs[qi]
            cands.append((union, dense, ls[union], d_rows, l_rows))
        for fusion, param in [("rrf", 60)] + [("convex", w / 10) for w in range(3, 10)]:
            run = {}
            for q, (union, dense, lx, d_rows, l_rows) in zip(qids, cands):
                if fusion == "rrf":
                    m = retrieve.rrf([d_rows, l_rows], param)
                    fused = np.array([m[r] for r in union.tolist()])
                else:
                    fused = retrieve.convex(dense, lx, param)
                order = union[np.argsort(-fused, kind="stable")]
                docs = list(dict.fromkeys(doc_of[order].tolist()))
                run[q] = docs[:100]
            m = beir.metrics(run, qrels)
            print(f"{k1:<4} {b:<5} {fusion:7} {param:<6} {m['ndcg@10']:.4f}   {m['recall@100']:.4f}", flush=True)


if __name__ == "__main__":
    main()
