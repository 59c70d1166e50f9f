"""The keyword index of a generation that an update wrote over a base (rag.store.delta_write).

delta/bm25/ holds the forward arrays of the added rows (rag.lexical_forward; term ids go on from the
base's vocabulary, the new terms in added.txt), the live document frequencies of every term (df.npy)
and the live statistics (stats.json: rows, average length). With them a row scores exactly what a build
from scratch of the same passages would give it:
- under a bm25s base, the update rewrote bm25s's score matrix over every row (delta/bm25s/), from the
  forward arrays: no text is tokenized again, and the removed rows have no postings;
- under a tantivy base, tantivy still proposes the base's candidates (skipping the removed rows), the
  added rows' candidates come from their forward arrays, and all are scored exactly with the live
  statistics.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import lexical_forward as F
from .store.delta import split


def load(folder: Path, delta, *, opened: dict, bm25s):
    """The keyword engine of a generation with `delta` (rag.store.delta.Delta); `folder` is its bm25/."""
    if (delta.folder / "bm25s").is_dir():
        return bm25s(delta.folder / "bm25s", delta.live)
    from .lexical_tantivy import TantivyEngine
    return Added(TantivyEngine.load(folder, opened=opened), delta)


def live_vocab(folder: Path) -> tuple[list[str], np.ndarray, dict]:
    """(the terms added after the base's, live df of every term, stats) of a delta/bm25 folder."""
    added = (folder / "added.txt").read_text(encoding="utf-8")
    stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
    return (added.split("\n") if added else []), np.load(folder / "df.npy", allow_pickle=False), stats


class Added:
    """A tantivy base (rows 0..base-1, the removed ones skipped) and the added rows after it."""

    def __init__(self, base, delta):
        folder = delta.folder / "bm25"
        added, df, stats = live_vocab(folder)
        terms = dict(base.terms)
        for t in added:
            terms.setdefault(t, len(terms))
        if len(df) != len(terms):
            raise ValueError(f"delta df.npy has {len(df)} entries for {len(terms)} terms")
        self.fwd = {k: np.asarray(v) for k, v in F.load(folder).items() if k != "avglen"}
        self.fwd["avglen"] = avglen = float(stats["avglen"])
        owner = np.repeat(np.arange(delta.rows), np.diff(self.fwd["indptr"]))
        order = np.argsort(self.fwd["terms"], kind="stable")      # the added rows' postings, by term
        self.posting_terms, self.posting_rows = self.fwd["terms"][order], owner[order]
        self.idf = F.idf(df, delta.live)
        base.terms, base.df, base.idf, base.dead = terms, df, self.idf, delta.dead   # live statistics
        base.fwd = {**base.fwd, "avglen": avglen}
        self.base, self.seam, self.df, self.terms = base, delta.base, df, terms
        self.n = delta.base + delta.rows

    def _qids(self, tokens: list[str]) -> np.ndarray:
        return np.asarray(self.base.ids([t for t in tokens if t]), dtype=np.int64)

    def score_rows(self, tokens: list[str], rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(len(rows), dtype=np.float32)
        low = rows < self.seam
        out[low] = self.base.score_rows(tokens, rows[low])
        qids = self._qids(tokens)
        if len(qids) and (~low).any():
            out[~low] = F.bm25(qids, rows[~low] - self.seam, self.fwd, idf=self.idf, k1=self.base.k1, b=self.base.b)
        return out

    def top(self, tokens: list[str], n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        low, high = (None, None) if allowed is None else split(allowed, self.seam)   # `allowed` is sorted
        rb, sb = self.base.top(tokens, n, low)
        qids = self._qids(tokens)        # a repeated term counts again in the score (bm25s)
        uq = np.unique(qids)
        a, b = np.searchsorted(self.posting_terms, uq), np.searchsorted(self.posting_terms, uq, side="right")
        cand = np.unique(np.concatenate([self.posting_rows[i:j] for i, j in zip(a, b)] or [np.zeros(0, np.int64)]))
        if high is not None:
            cand = np.intersect1d(cand, high)
        sd = F.bm25(qids, cand, self.fwd, idf=self.idf, k1=self.base.k1, b=self.base.b) if len(cand) else \
            np.zeros(0, np.float32)
        rows, scores = np.concatenate([rb, cand + self.seam]), np.concatenate([sb, sd])
        keep = scores > 0
        rows, scores = rows[keep], scores[keep]
        order = np.lexsort((rows, -scores))[:n]
        return rows[order], scores[order]

    def ceiling(self, tokens: list[str]) -> float:
        return self.base.ceiling(tokens)

    def idfs(self, tokens: list[str]) -> np.ndarray:
        return self.base.idfs(tokens)

    def vocabulary(self) -> frozenset[str]:
        return frozenset(t for t, i in self.terms.items() if self.df[i] > 0)
