"""BM25 over passages (English stopwords + Snowball stemming): the only module that imports bm25s."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

_WORD = re.compile(r"\w+")


STOPWORDS = ("en", "en_plus", "none")


@lru_cache(maxsize=4)
def _stopwords(which: str) -> frozenset[str]:
    from bm25s import stopwords
    if which not in STOPWORDS:
        raise ValueError(f"stopwords must be one of {', '.join(STOPWORDS)}; got {which!r}")
    return frozenset(() if which == "none" else getattr(stopwords, "STOPWORDS_" + which.upper()))


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer
    return Stemmer.Stemmer("english")


def tokenize(text: str, stopwords: str = "en") -> list[str]:
    """Lowercased word tokens, stopwords removed, stemmed. Shared by indexing, queries and answers."""
    stop = _stopwords(stopwords)
    words = [w for w in _WORD.findall(text.lower()) if w not in stop]
    return _stemmer().stemWords(words) if words else []


class Lexical:
    """A BM25 index whose rows are aligned with the passage list."""

    def __init__(self, bm25, n: int, stopwords: str = "en"):
        self.bm25, self.n, self.stopwords = bm25, n, stopwords

    @classmethod
    def build(cls, texts: list[str], k1: float = 1.2, b: float = 0.75, stopwords: str = "en") -> "Lexical":
        import bm25s
        tokens = [tokenize(t, stopwords) or [""] for t in texts]   # bm25s needs a token per row; "" never matches
        bm25 = bm25s.BM25(k1=k1, b=b)
        bm25.index(tokens, show_progress=False)
        return cls(bm25, len(texts), stopwords)

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text, self.stopwords)

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder), allow_pickle=False, show_progress=False)

    @classmethod
    def load(cls, folder: Path, n: int, stopwords: str = "en") -> "Lexical":
        import bm25s
        bm25 = bm25s.BM25.load(str(folder), mmap=False, allow_pickle=False, show_progress=False)
        return cls(bm25, n, stopwords)

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every row for already-tokenized query terms (zeros when none is known)."""
        ids = self.bm25.get_tokens_ids([t for t in tokens if t])
        if not ids or self.n == 0:
            return np.zeros(self.n, dtype=np.float32)
        return np.asarray(self.bm25.get_scores_from_ids(ids), dtype=np.float32)

    def vocabulary(self) -> frozenset[str]:
        return frozenset(self.bm25.vocab_dict)
