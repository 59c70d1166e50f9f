"""What an update pays to rewrite bm25s's score matrix (rag.lexical_forward.bm25s_matrix), by corpus size:
an update under a bm25s base (below RAG_TANTIVY_MIN_ROWS) rewrites it whole from the forward arrays,
where one under a tantivy base rewrites nothing of the base. Uses the forward arrays of the 1M build
of build_scale.py (real-structured SciFact text), cut to the first N rows; medians of 3 runs.

    python benchmarks/build_scale.py --sizes 1m --steps scratch    # once
    python benchmarks/bm25s_rewrite.py [--sizes 100000 300000 1000000]
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
    a = ap.parse_args()
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


if __name__ == "__main__":
    main()
