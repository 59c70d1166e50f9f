"""BM25 over a Qdrant collection, with rag.lexical.Lexical's interface: Qdrant's sparse index (IDF
modifier) finds the candidates; their exact scores are computed here from the stored term weights and
the vocabulary points' document frequencies, as bm25s computes them ("lucene": float32 idf times the
term weight, summed over the query's terms in order, a repeated term counting again)."""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Container

import numpy as np
from qdrant_client import models as M

from ..lexical import tokenize
from . import qdrant as Q


def reweigh(values, dl: int, was: float, now: float, k1: float, b: float) -> list[float]:
    """Term weights written with average length `was`, as they are with `now` (the generation's): the
    term frequencies are recovered from the weights (tf = w K / (1 - w), an integer) and weighed again
    exactly as rag.store.qdrant_write weighs them."""
    if was == now:
        return list(values)
    w = np.asarray(values, dtype=np.float64)
    tf = np.rint(w * (k1 * ((1 - b) + b * dl / np.float64(was))) / (1 - w)).astype(np.float32)
    return (tf / (k1 * ((1 - b) + b * dl / np.float64(now)) + tf)).tolist()


class QdrantKeyword:
    """The keyword side of a rag.store.qdrant_read.QdrantSnapshot."""

    def __init__(self, snap):
        self._snap, self.n = snap, snap.n
        self.stopwords = snap.manifest.get("bm25", {}).get("stopwords", "en")
        self._shards: OrderedDict[int, dict] = OrderedDict()   # vocabulary points read so far

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text, self.stopwords)

    def known(self, tokens: list[str]) -> dict[str, tuple[int, int]]:
        """(sparse index, document frequency) of each of `tokens` the collection holds."""
        shards = int(self._snap.manifest.get("term_shards", 1))
        where = {t: Q.shard_of(t, shards) for t in tokens if t}
        with self._snap._lock:
            have = {s: self._shards[s] for s in set(where.values()) if s in self._shards}
        wanted = sorted(set(where.values()) - set(have))
        if wanted:
            g = self._snap.g
            recs = self._snap._call("retrieve", [Q.shard_id(g, s) for s in wanted], with_payload=True)
            got = {str(r.id): r.payload.get("terms", {}) for r in recs}
            have.update({s: got.get(Q.shard_id(g, s), {}) for s in wanted})
            with self._snap._lock:
                self._shards.update({s: have[s] for s in wanted})
                while len(self._shards) > 1024:
                    self._shards.popitem(last=False)
        return {t: (int(v[0]), int(v[1])) for t, s in where.items() if (v := have[s].get(t)) is not None}

    def idf(self, df: int) -> float:
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))   # bm25s "lucene", as Qdrant's IDF modifier

    def top(self, tokens: list[str], n: int, allowed=None) -> tuple[np.ndarray, np.ndarray]:
        known = self.known(tokens)
        if not known or n <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        weight = {}
        for t in tokens:
            if t in known:
                weight[known[t][0]] = weight.get(known[t][0], 0.0) + 1.0    # a repeated term counts again
        query = M.SparseVector(indices=list(weight), values=list(weight.values()))
        rows = np.asarray(self._snap.search(query, Q.BM25, n, allowed), dtype=np.int64)
        scores = self.score_rows(tokens, rows)
        order = np.lexsort((rows, -scores))[:n]
        rows, scores = rows[order], scores[order]
        return rows[scores > 0], scores[scores > 0]

    def score_rows(self, tokens: list[str], rows: np.ndarray) -> np.ndarray:
        scores = np.zeros(len(rows), dtype=np.float32)
        known = self.known(tokens)
        if not known or len(rows) == 0:
            return scores
        pts = self._snap.points(rows)
        for t in tokens:
            if t in known:
                tid, idf = known[t][0], np.float32(self.idf(known[t][1]))
                scores += np.array([np.float32(idf * p.terms.get(tid, 0.0)) for p in pts], dtype=np.float32)
        return scores

    def ceiling(self, tokens: list[str]) -> float:
        return float(self.idfs(tokens).sum())

    def idfs(self, tokens: list[str]) -> np.ndarray:
        known = self.known(tokens)
        return np.array([self.idf(known[t][1]) if t in known else 0.0 for t in tokens], dtype=np.float64)

    def rare_idf(self) -> float:
        return float(np.log(1 + (self.n - 0.5) / 1.5)) if self.n else 0.0

    def vocabulary(self) -> Container[str]:
        return _Vocabulary(self)


class _Vocabulary(Container):
    def __init__(self, kw: QdrantKeyword):
        self._kw = kw

    def __contains__(self, term) -> bool:
        return isinstance(term, str) and term in self._kw.known([term])
