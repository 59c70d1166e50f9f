"""BM25 over passages (English stopwords + Snowball stemming): the only module that imports bm25s."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN
    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer
    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens, stopwords removed, stemmed. Shared by indexing, queries and answers."""
    stop = _stopwords()
    words = [w for w in _WORD.findall(text.lower()) if w not in stop]
    return _stemmer().stemWords(words) if words else []


class Lexical:
    """A BM25 index whose rows are aligned with the passage list."""

    def __init__(self, bm25, n: int):
        self.bm25, self.n = bm25, n

    @classmethod
    def build(cls, texts: list[str], k1: float = 1.2, b: float = 0.75) -> "Lexical":
        import bm25s
        tokens = [tokenize(t) or [""] for t in texts]   # bm25s needs a token per row; "" never matches
        bm25 = bm25s.BM25(k1=k1, b=b)
        bm25.index(tokens, show_progress=False)
        return cls(bm25, len(texts))

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder), allow_pickle=False, show_progress=False)

    @classmethod
    def load(cls, folder: Path, n: int) -> "Lexical":
        import bm25s
        bm25 = bm25s.BM25.load(str(folder), mmap=False, allow_pickle=False, show_progress=False)
        return cls(bm25, n)

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every row for already-tokenized query terms (zeros when none is known)."""
        ids = self.bm25.get_tokens_ids([t for t in tokens if t])
        if not ids or self.n == 0:
            return np.zeros(self.n, dtype=np.float32)
        return np.asarray(self.bm25.get_scores_from_ids(ids), dtype=np.float32)

    def vocabulary(self) -> frozenset[str]:
        return frozenset(self.bm25.vocab_dict)
