"""BM25 over passages (English stopwords + Snowball stemming): the only module that imports bm25s."""
from __future__ import annotations

import re
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import lexical_forward as F

_WORD = re.compile(r"\w+")


STOPWORDS = ("en", "en_plus", "none")


@lru_cache(maxsize=4)
def _stopwords(which: str) -> frozenset[str]:
    if which not in STOPWORDS:
        raise ValueError(f"stopwords must be one of {', '.join(STOPWORDS)}; got {which!r}")
    return frozenset(() if which == "none" else getattr(_bm25s_stopwords(), "STOPWORDS_" + which.upper()))


def _bm25s_stopwords():
    """bm25s's stopword lists, read from its data-only module without running the package's
    __init__, which imports scipy (0.2 s of a cold `rag ask` on an index that uses tantivy)."""
    import importlib.util
    if (loaded := sys.modules.get("bm25s.stopwords")) is not None:
        return loaded
    spec = importlib.util.find_spec("bm25s")
    if spec is None or spec.origin is None:
        raise ImportError("bm25s is not installed; run: make install")
    where = importlib.util.spec_from_file_location("rag._bm25s_stopwords", Path(spec.origin).parent / "stopwords.py")
    module = importlib.util.module_from_spec(where)
    where.loader.exec_module(module)
    return module


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer
    return Stemmer.Stemmer("english")


def tokenize(text: str, stopwords: str = "en") -> list[str]:
    """Lowercased word tokens, stopwords removed, stemmed. Shared by indexing, queries and answers."""
    stop = _stopwords(stopwords)
    words = [w for w in _WORD.findall(text.lower()) if w not in stop]
    return _stemmer().stemWords(words) if words else []


# From this many rows the keyword engine is tantivy + exact rescoring (rag.lexical_tantivy), below
# it bm25s. Measured on SciFact-distributed text (docs/BENCHMARKS.md, "Scale"), top-10 p50 bm25s /
# tantivy: 0.07 / 0.25 ms at 10k, 0.42 / 0.68 ms at 100k, 1.86 / 2.14 ms at 500k, 4.4 / 4.3-4.5 ms at
# 1M: they cross at about 1M rows. But an update (rag.store.delta_write) rewrites bm25s's score matrix
# whole, 4.4 s at 500k and 10.8 s at 1M, where under tantivy it rewrites nothing of the base; from
# 500k tantivy costs 0.3 ms more a question and keeps every update within seconds. Small corpora keep
# bm25s: their scores and rankings are exactly as before.
TANTIVY_MIN_ROWS = 500_000
ENGINES = ("auto", "bm25s", "tantivy")


class Lexical:
    """A BM25 index whose rows are aligned with the passage list, behind one interface whatever the
    engine: `top` for candidates, `score_rows` for the exact scores of given rows."""

    def __init__(self, engine, n: int, stopwords: str = "en", *, live: int | None = None):
        self.engine, self.n, self.stopwords = engine, n, stopwords
        self.live = n if live is None else live    # rows not taken out by an update (rag.lexical_delta)
        self._vocabulary: frozenset[str] | None = None

    @classmethod
    def build(cls, texts, k1: float = 1.2, b: float = 0.75, *, stopwords: str = "en",
              engine: str = "auto", tantivy_min_rows: int = TANTIVY_MIN_ROWS, rows: int | None = None) -> "Lexical":
        """Index `texts` (a sequence, or an iterable of `rows` texts, read once and never held whole);
        engine "auto" picks bm25s below `tantivy_min_rows` rows, else tantivy."""
        if engine not in ENGINES:
            raise ValueError(f"keyword engine must be one of {', '.join(ENGINES)}; got {engine!r}")
        n = len(texts) if rows is None else rows
        tokens = (tokenize(t, stopwords) or [""] for t in texts)   # a token per row; "" never matches
        if engine == "tantivy" or engine == "auto" and n >= tantivy_min_rows:
            from .lexical_tantivy import TantivyEngine
            built = TantivyEngine.build(tokens, k1, b)
        else:
            built = _Bm25s.build(tokens, k1, b)
        if built.n != n:
            raise ValueError(f"{built.n} texts indexed, {n} announced")
        return cls(built, n, stopwords)

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text, self.stopwords)

    def save(self, folder: Path) -> None:
        self.engine.save(folder)

    @classmethod
    def load(cls, folder: Path, n: int, stopwords: str = "en", *, opened: dict | None = None,
             delta=None) -> "Lexical":
        """Load either engine's folder (a tantivy folder has a tantivy/ subfolder). `opened`: files of it
        already open and checked block by block as they are read (rag.store.blocks.Checked, by name).
        `delta` (a rag.lexical_delta.Delta): the generation is a base plus an update's rows."""
        if delta is not None:
            from . import lexical_delta
            return cls(lexical_delta.load(Path(folder), delta, opened=opened or {}, bm25s=_Bm25s.load),
                       n, stopwords, live=delta.live)
        if (Path(folder) / "tantivy").is_dir():
            from .lexical_tantivy import TantivyEngine
            return cls(TantivyEngine.load(Path(folder), opened=opened or {}), n, stopwords)
        return cls(_Bm25s.load(folder), n, stopwords)

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every row for already-tokenized query terms (zeros when none is known)."""
        return self.score_rows(tokens, np.arange(self.n))

    def score_rows(self, tokens: list[str], rows: np.ndarray) -> np.ndarray:
        """BM25 scores of the given rows (for fusing candidates that only the dense side found)."""
        if self.n == 0:
            return np.zeros(len(rows), dtype=np.float32)
        return self.engine.score_rows(tokens, np.asarray(rows, dtype=np.int64))

    def top(self, tokens: list[str], n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of the n best rows that share a term with the query, best first, ties by row;
        only rows in `allowed` when given."""
        if self.n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return self.engine.top(tokens, n, allowed)

    def ceiling(self, tokens: list[str]) -> float:
        """The least upper bound of a row's BM25 score for these query terms: the sum of their idf
        (a repeated term counts again, as in scoring), approached as each term's frequency grows."""
        return self.engine.ceiling(tokens) if self.n else 0.0

    def idfs(self, tokens: list[str]) -> np.ndarray:
        """Each term's idf (0 for a term no live row has): what it adds to the ceiling."""
        return self.engine.idfs(tokens) if self.n else np.zeros(len(tokens))

    def rare_idf(self) -> float:
        """The idf of a term found in a single row (both engines use the bm25s "lucene" idf): the most
        one query term adds to the ceiling, so ceiling / rare_idf counts a question's terms in units of
        a term that no other row shares (rag.retrieve.adaptive)."""
        return float(np.log(1 + (self.live - 0.5) / 1.5)) if self.live else 0.0

    def vocabulary(self) -> frozenset[str]:
        """The indexed terms, built once (every `ask` checks the question's words against it)."""
        if self._vocabulary is None:
            self._vocabulary = self.engine.vocabulary() - {""}   # "": the token of a row with no words
        return self._vocabulary


class _Bm25s:
    """bm25s: scores are precomputed per posting; a query sums its terms' postings over all rows."""

    def __init__(self, bm25, live: int | None = None):
        self.bm25, self.n = bm25, int(bm25.scores["num_docs"])
        self.live = self.n if live is None else live   # an update's matrix has rows with no postings
        self._last: tuple = ((), None)   # the last query's scores: hybrid asks for top, then the union's
        self.forward: tuple | None = None  # (arrays, df, vocabulary) saved beside it (rag.lexical_forward)

    @classmethod
    def build(cls, tokens, k1: float, b: float) -> "_Bm25s":
        """bm25s's score matrix ("lucene"), made from the forward arrays (rag.lexical_forward) that are
        fed a row at a time from `tokens`, an iterable consumed once; saved in bm25s's own format."""
        import bm25s
        vocab, lengths, indptr, terms, tfs = F.forward_index(tokens)
        fwd = {"lengths": lengths, "indptr": indptr, "terms": terms, "tfs": tfs}
        df, n = np.bincount(terms, minlength=len(vocab)), len(lengths)
        data, rows, ptr = F.bm25s_matrix([(fwd, None)], idf=F.idf(df, n), avglen=float(lengths.mean()) if n else 1.0,
                                         k1=k1, b=b)
        bm25 = bm25s.BM25(k1=k1, b=b)
        bm25.vocab_dict, bm25.unique_token_ids_set, bm25.nonoccurrence_array = vocab, set(vocab.values()), None
        bm25.scores = {"data": data, "indices": rows, "indptr": ptr, "num_docs": n}
        engine = cls(bm25)
        engine.forward = (fwd, df, list(vocab))
        return engine

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder), allow_pickle=False, show_progress=False)
        if self.forward is not None:   # what an update needs to recompute the scores (rag.lexical_delta)
            F.save(Path(folder), *self.forward)

    @classmethod
    def load(cls, folder: Path, live: int | None = None) -> "_Bm25s":
        import bm25s
        return cls(bm25s.BM25.load(str(folder), mmap=False, allow_pickle=False, show_progress=False), live)

    def all_scores(self, tokens: list[str]) -> np.ndarray:
        key, scores = self._last
        if key == tuple(tokens) and scores is not None:
            return scores
        ids = self.bm25.get_tokens_ids([t for t in tokens if t])
        if not ids:
            scores = np.zeros(self.n, dtype=np.float32)
        else:
            scores = np.asarray(self.bm25.get_scores_from_ids(ids), dtype=np.float32)
        self._last = (tuple(tokens), scores)   # one assignment: safe when threads share the engine
        return scores

    def score_rows(self, tokens: list[str], rows: np.ndarray) -> np.ndarray:
        return self.all_scores(tokens)[rows]

    def top(self, tokens: list[str], n: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        scores = self.all_scores(tokens)
        rows = top_n(scores, n, allowed)
        rows = rows[scores[rows] > 0]          # a row that shares no term with the question is no hit
        return rows, scores[rows]

    def ceiling(self, tokens: list[str]) -> float:
        return float(self.idfs(tokens).sum())

    def idfs(self, tokens: list[str]) -> np.ndarray:
        indptr, vocab = self.bm25.scores["indptr"], self.bm25.vocab_dict
        ids = np.array([vocab.get(t, -1) if t else -1 for t in tokens], dtype=np.int64)
        df = np.where(ids >= 0, indptr[ids + 1] - indptr[ids], 0)           # postings of these terms only
        # a term only rows an update took out had is in no live row's score; bm25s "lucene" idf
        return np.where(df > 0, np.log(1 + (self.live - df + 0.5) / (np.maximum(df, 1) + 0.5)), 0.0)

    def vocabulary(self) -> frozenset[str]:
        if self.live == self.n:
            return frozenset(self.bm25.vocab_dict)
        indptr = self.bm25.scores["indptr"]     # after an update: the terms some live row still has
        return frozenset(t for t, i in self.bm25.vocab_dict.items() if indptr[i + 1] > indptr[i])


def top_n(scores: np.ndarray, n: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Rows of the n highest scores (ties broken by row), skipping rows outside `allowed`."""
    if allowed is not None:
        masked = np.full_like(scores, -np.inf)
        masked[allowed] = scores[allowed]
        scores = masked
    n = min(n, len(scores) if allowed is None else len(allowed))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]
