"""The forward keyword index: each row's distinct terms and their counts, and exact BM25 from it. Pure
numpy. Both keyword engines save it beside their own files (bm25/lengths, indptr, terms, tfs, df.npy and
vocab.txt), so an update (rag.store.delta_write) can take passages out and put new ones in without
tokenizing the unchanged ones again: the collection's statistics (live rows, average length, document
frequencies) are recomputed from these arrays, and scores equal those of a build from scratch.

The scoring is bm25s's "lucene" variant: idf log(1 + (N - df + 0.5) / (df + 0.5)) times
tf / (tf + k1 (1 - b + b len / avglen)).
"""
from __future__ import annotations

from array import array
from pathlib import Path

import numpy as np

FORWARD = ("lengths", "indptr", "terms", "tfs")
NAMES = tuple(f"{n}.npy" for n in (*FORWARD, "df")) + ("vocab.txt",)   # the files `save` writes


class Forward:
    """Forward arrays built one row at a time, so no list of every row's tokens is ever held: a block of
    rows' term ids waits in a flat int32 array, then becomes their distinct sorted terms and counts. A
    given `vocab` is extended in place with new terms (ids go on from its size), so old ids stay valid."""
    BLOCK = 65_536

    def __init__(self, vocab: dict[str, int] | None = None):
        self.vocab = {} if vocab is None else vocab
        self._ids, self._lengths = array("i"), array("i")
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []   # (row sizes, terms, counts)
        self._rows = self._flushed = 0

    def add(self, tokens: list[str]) -> None:
        vocab = self.vocab
        self._ids.extend(vocab.setdefault(t, len(vocab)) for t in tokens)
        self._lengths.append(len(tokens))
        self._rows += 1
        if self._rows % self.BLOCK == 0:
            self._flush()

    def _flush(self) -> None:
        lengths = np.frombuffer(self._lengths, dtype=np.int32)[self._flushed:].astype(np.int64)
        flat = np.frombuffer(self._ids, dtype=np.int32).astype(np.int64)
        owner = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        width = max(len(self.vocab), 1)
        keys, counts = np.unique(owner * width + flat, return_counts=True)
        rows, terms = np.divmod(keys, width)
        self._parts.append((np.bincount(rows, minlength=len(lengths)), terms.astype(np.int32),
                            counts.astype(np.uint16)))
        self._ids, self._flushed = array("i"), self._rows

    def arrays(self) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(vocabulary, lengths, indptr, term ids, term counts) of the rows added so far."""
        if self._rows > self._flushed or not self._parts:
            self._flush()
        sizes = np.concatenate([p[0] for p in self._parts])
        indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        return (self.vocab, np.frombuffer(self._lengths, dtype=np.int32).copy(), indptr,
                np.concatenate([p[1] for p in self._parts]), np.concatenate([p[2] for p in self._parts]))


def forward_index(tokens, vocab: dict[str, int] | None = None
                  ) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(vocabulary, lengths, indptr, term ids, term counts): each row's distinct terms, sorted, for an
    iterable of token lists (consumed once; see Forward)."""
    acc = Forward(vocab)
    for doc in tokens:
        acc.add(doc)
    return acc.arrays()


def idf(df: np.ndarray, n: int) -> np.ndarray:
    """bm25s's "lucene" idf, rounded through float32 as bm25s stores it."""
    return np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32).astype(np.float64)


def bm25(qids: np.ndarray, rows: np.ndarray, fwd: dict, *, idf: np.ndarray, k1: float, b: float) -> np.ndarray:
    """Exact BM25 (bm25s 'lucene': idf * tf / (tf + k1 (1 - b + b len / avglen))) of `rows` for query
    term ids `qids` (a repeated term counts again, as in bm25s)."""
    terms, tfs, lengths = fwd["terms"], fwd["tfs"], fwd["lengths"]
    idx = entries(fwd, rows)
    owner = np.repeat(np.arange(len(rows)), np.asarray(fwd["indptr"][rows + 1] - fwd["indptr"][rows]))
    uq, mult = np.unique(qids, return_counts=True)
    t = terms[idx]
    hit = np.isin(t, uq)
    t, owner, tf = t[hit], owner[hit], tfs[idx][hit].astype(np.float64)
    norm = k1 * ((1 - b) + b * lengths[rows][owner] / fwd["avglen"])
    part = (idf[t] * (tf / (norm + tf))).astype(np.float32) * mult[np.searchsorted(uq, t)]
    return np.bincount(owner, weights=part, minlength=len(rows)).astype(np.float32)


def entries(fwd: dict, rows: np.ndarray) -> np.ndarray:
    """Positions in the forward arrays of every term of `rows` (a row's terms are consecutive)."""
    starts, ends = np.asarray(fwd["indptr"][rows]), np.asarray(fwd["indptr"][rows + 1])
    counts = ends - starts
    return np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))


def save(folder: Path, fwd: dict, df: np.ndarray, vocab: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in FORWARD:
        np.save(folder / f"{name}.npy", fwd[name], allow_pickle=False)
    np.save(folder / "df.npy", df, allow_pickle=False)
    (folder / "vocab.txt").write_text("\n".join(vocab), encoding="utf-8")


def load(folder: Path, names=FORWARD) -> dict:
    """The forward arrays of a folder, mapped (a generation's files are immutable and were verified)."""
    fwd = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in names}
    if "lengths" in fwd:
        fwd["avglen"] = float(np.mean(fwd["lengths"])) if len(fwd["lengths"]) else 1.0
    return fwd


def has_forward(folder: Path) -> bool:
    return all((folder / f"{n}.npy").is_file() for n in (*FORWARD, "df")) and (folder / "vocab.txt").is_file()


def bm25s_matrix(parts: list[tuple[dict, np.ndarray | None]], *, idf: np.ndarray, avglen: float,
                 k1: float, b: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bm25s's precomputed score matrix (data, indices, indptr: term-major, rows within a term sorted)
    over the rows of `parts`, one after another; each part is (forward arrays, dead rows mask or None),
    and a dead row gets no postings."""
    rows, terms, scores, offset = [], [], [], 0
    for fwd, dead in parts:
        n = len(fwd["lengths"])
        live = np.arange(n) if dead is None else np.flatnonzero(~dead)
        idx = entries(fwd, live)
        owner = np.repeat(live, np.asarray(fwd["indptr"][live + 1] - fwd["indptr"][live]))
        t, tf = np.asarray(fwd["terms"][idx]), np.asarray(fwd["tfs"][idx]).astype(np.float64)
        norm = k1 * ((1 - b) + b * np.asarray(fwd["lengths"])[owner] / avglen)
        rows.append(owner + offset)
        terms.append(t)
        scores.append((idf[t] * (tf / (norm + tf))).astype(np.float32))
        offset += n
    rows, terms, scores = np.concatenate(rows), np.concatenate(terms), np.concatenate(scores)
    order = np.lexsort((rows, terms))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(terms, minlength=len(idf)))])
    return scores[order], rows[order].astype(np.int32), indptr.astype(np.int64)
