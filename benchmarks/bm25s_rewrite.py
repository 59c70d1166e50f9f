"""What an update pays to rewrite bm25s's score matrix (rag.lexical_forward.bm25s_matrix), by corpus size:
an update under a bm25s base (below RAG_TANTIVY_MIN_ROWS) rewrites it whole from the forward arrays,
where one under a tantivy base rewrites nothing of the base. Uses the forward arrays of the 1M build
of build_scale.py (real-structured SciFact text), cut to the first N rows; medians of 3 runs.

    python benchmarks/build_scale.py --sizes 1m --steps scratch    # once
    python benchmarks/bm25s_rewrite.py [--sizes 100000 300000 1000000]
    python benchmarks/bm25s_rewrite.py --engines --sizes 300000 500000    # keyword top-10 p50 of each engine

With --engines, both keyword engines are built over the first N rows (tokens rebuilt from the forward
arrays: each term repeated its count) and the 1,109 SciFact questions are searched three times, top 10.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import lexical_forward as F  # noqa: E402
from rag.store import layout  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", type=int, default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--index", type=Path, default=ROOT / ".cache" / "scale" / "build-index-1000000")
    ap.add_argument("--engines", action="store_true")
    a = ap.parse_args()
    if a.engines:
        return engines(a)
    full = F.load(layout.current(a.index) / "bm25")
    vocab = len(np.load(layout.current(a.index) / "bm25" / "df.npy"))
    print("| rows | postings | rewrite (median of 3) |\n|---|---|---|")
    for n in a.sizes:
        end = int(full["indptr"][n])
        fwd = {"lengths": np.asarray(full["lengths"][:n]), "indptr": np.asarray(full["indptr"][:n + 1]),
               "terms": np.asarray(full["terms"][:end]), "tfs": np.asarray(full["tfs"][:end])}
        df = np.bincount(fwd["terms"], minlength=vocab)
        dead = np.zeros(n, dtype=bool)
        dead[:1000] = True                      # one document of 1,000 passages removed
        times = []
        for _ in range(3):
            t = time.perf_counter()
            F.bm25s_matrix([(fwd, dead)], idf=F.idf(df, n - 1000), avglen=float(fwd["lengths"].mean()),
                           k1=0.9, b=0.4)
            times.append(time.perf_counter() - t)
        print(f"| {n:,} | {end:,} | {np.median(times):.2f} s |", flush=True)


def engines(a) -> None:
    from rag.lexical import Lexical, tokenize
    full = F.load(layout.current(a.index) / "bm25")
    vocab = (layout.current(a.index) / "bm25" / "vocab.txt").read_text(encoding="utf-8").split("\n")
    questions = np.load(ROOT / ".cache" / "scale" / "real.npz")["query_texts"].tolist()
    print("| rows | bm25s top-10 p50 | tantivy top-10 p50 |\n|---|---|---|")
    for n in a.sizes:
        ptr, terms, tfs = full["indptr"], np.asarray(full["terms"]), np.asarray(full["tfs"])
        texts = [" ".join(vocab[t] for t, c in zip(terms[ptr[r]:ptr[r + 1]], tfs[ptr[r]:ptr[r + 1]]) for _ in range(c))
                 for r in range(n)]
        got = []
        for engine in ("bm25s", "tantivy"):
            lex = Lexical.build(texts, 0.9, 0.4, stopwords="none", engine=engine)
            qs = [lex.tokenize(" ".join(tokenize(q))) for q in questions]   # stemmed as the texts were
            times = []
            for _ in range(3):
                for q in qs:
                    t = time.perf_counter()
                    lex.top(q, 10)
                    times.append(time.perf_counter() - t)
            got.append(1000 * float(np.median(times)))
            del lex
        print(f"| {n:,} | {got[0]:.2f} ms | {got[1]:.2f} ms |", flush=True)


if __name__ == "__main__":
    main()
