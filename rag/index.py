"""The vector index: build, serialise, parse and search. The only module that imports faiss.

Vectors are normalized float32 and the index is inner-product, so scores are cosine similarities.
Below ANN_MIN_ROWS the index is exact (IndexFlatIP); from there on it is an HNSW graph over
float16-stored vectors, which keeps every vector (reconstructable to within float16 rounding).
"""
from __future__ import annotations

import os
from collections.abc import Iterable

import faiss
import numpy as np

from .schema import IndexMismatch

FAISS_VERSION = faiss.__version__
# One question is one search: OpenMP threads only add a barrier, which cost 15 ms per exact search of
# 10k rows (0.6 ms with one thread) while another process kept the second core busy. So searches run
# on one thread and builds, which do parallelise, on all cores. OpenMP's thread count is a per-thread
# setting, so it is set in the calling thread each time (any server thread may search).
BUILD_THREADS = os.cpu_count() or 1

# Exact search of one question, measured on real-structured MiniLM vectors (docs/BENCHMARKS.md,
# "Scale"): 0.63 ms at 10k rows, 1.6 ms at 25k, 3.3 ms at 50k, 12 ms at 100k, 113 ms at 1M; HNSW
# 0.5-0.9 ms from 10k to 100k (recall@10 >= 0.997) and 1.1 ms at 1M (0.971). Below 50k exact search
# costs about as much as encoding the question and needs no graph build (7.6 s at 50k), so it
# stays, and small corpora get bit-for-bit the results they got before.
ANN_MIN_ROWS = 50_000
# HNSW: M 32 and efConstruction 160 (80 gave recall@10 0.947 at 1M with efSearch 384 and 0.961
# with 512; 160 gives 0.970 at 384, 1.0 ms). efSearch 384 keeps recall@10 >= 0.95 at 1M.
HNSW_M, EF_CONSTRUCTION, EF_SEARCH = 32, 160, 384


def build(vectors: np.ndarray, ann_min_rows: int = ANN_MIN_ROWS) -> faiss.Index:
    """An inner-product index over the rows of `vectors`: exact below `ann_min_rows` rows, else HNSW."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return build_blocks([vectors], rows=len(vectors), dim=vectors.shape[1], ann_min_rows=ann_min_rows)


def build_blocks(blocks: Iterable[np.ndarray], *, rows: int, dim: int, ann_min_rows: int = ANN_MIN_ROWS) -> faiss.Index:
    """The index of `build` over `rows` vectors that come a block at a time (a build never holds them
    all: 1.5 GB at a million rows). An HNSW graph grows block by block, as HNSW does by design."""
    if rows < max(ann_min_rows, 1):
        index = faiss.IndexFlatIP(dim)
    else:   # float16 storage: half the memory, recall and speed as float32 (measured)
        index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction, index.hnsw.efSearch = EF_CONSTRUCTION, EF_SEARCH
        index.train(np.zeros((1, dim), np.float32))   # fp16 needs no statistics
    faiss.omp_set_num_threads(BUILD_THREADS)
    try:
        for block in blocks:
            block = np.ascontiguousarray(block, dtype=np.float32).reshape(-1, dim)
            if len(block):
                index.add(block)
    finally:
        faiss.omp_set_num_threads(1)   # this thread's later searches
    if index.ntotal != rows:
        raise ValueError(f"vector index: {index.ntotal} vectors added, {rows} announced")
    return index


def approximate(index: faiss.Index) -> bool:
    return isinstance(index, faiss.IndexHNSW)


def save(index: faiss.Index, path) -> None:
    """Write an index to a file as faiss serialises it, a piece at a time: no serialised copy of it in
    memory (1 GB at 1M rows). A failed write (a full disk) raises its own OSError."""
    with open(path, "wb") as f:
        writer = faiss.PyCallbackIOWriter(f.write)
        faiss.write_index(index, writer)
        del writer          # flushes its last piece


def to_bytes(index: faiss.Index) -> bytes:
    return faiss.serialize_index(index).tobytes()


def from_bytes(data: bytes, dim: int, count: int) -> faiss.Index:
    """Parse an index whose bytes were already verified by checksum; check its shape."""
    try:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    except Exception as exc:  # faiss raises RuntimeError with its own text
        raise _unreadable(exc) from None
    return _shape_checked(index, dim, count)


def from_file(file, dim: int, count: int) -> faiss.Index:
    """Parse an index from an open file already verified by checksum, read in pieces of 1 MB: the
    load never holds the file's bytes (1 GB at a million rows) and faiss's copy beside the index."""
    try:
        index = faiss.read_index(faiss.PyCallbackIOReader(file.read))
    except Exception as exc:
        raise _unreadable(exc) from None
    return _shape_checked(index, dim, count)


def _unreadable(exc: Exception) -> IndexMismatch:
    return IndexMismatch(f"vectors.faiss could not be read ({exc}); run: python -m rag index --rebuild")


def _shape_checked(index: faiss.Index, dim: int, count: int) -> faiss.Index:
    if index.d != dim or index.ntotal != count:
        raise IndexMismatch(f"vectors.faiss holds {index.ntotal} vectors of dimension {index.d}, the manifest "
                            f"says {count} of {dim}; run: python -m rag index --rebuild")
    return index


def vectors(index: faiss.Index) -> np.ndarray:
    """All stored vectors, in row order (for re-using unchanged documents' embeddings)."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)


def take(index: faiss.Index, rows: np.ndarray) -> np.ndarray:
    """The stored vectors of the given rows."""
    if len(rows) == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_batch(np.asarray(rows, dtype=np.int64))


def without(rows: np.ndarray) -> tuple:
    """A filter for `search` that skips `rows` (those an update took out), made once and reused."""
    inner = faiss.IDSelectorBatch(np.asarray(rows, dtype=np.int64))
    return faiss.IDSelectorNot(inner), inner, len(rows)   # the inner selector must outlive the outer


def search(index: faiss.Index, query: np.ndarray, k: int, *, allowed: np.ndarray | None = None,
           skip: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, row ids) for one normalized query vector; rows limited to `allowed` if given,
    else (with `skip`, a `without` filter) every row but those skipped.

    Faiss pads with id -1 when fewer than k rows exist; those are dropped here, so callers never
    index a list with -1.
    """
    faiss.omp_set_num_threads(1)
    q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    if q.shape[1] != index.d:   # faiss would only assert; say what happened and what to do
        raise IndexMismatch(f"the question's vector has {q.shape[1]} dimensions but the index holds {index.d}-d "
                            "vectors: the model changed since the index was built; run: python -m rag index --rebuild")
    skip = skip if allowed is None else None
    k = min(k, index.ntotal - (skip[2] if skip else 0) if allowed is None else len(allowed))
    if k <= 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    if approximate(index):
        scores, ids = _search_graph(index, q, k, allowed=allowed, skip=skip)
    else:
        params = faiss.SearchParameters(sel=skip[0]) if skip else None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
        scores, ids = index.search(q, k, params=params)
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]


def _search_graph(index: faiss.Index, q: np.ndarray, k: int, *, allowed: np.ndarray | None, skip: tuple | None):
    """HNSW search. A small allowed set is searched exactly (a graph walk would mostly meet rows it
    must skip); a larger one filters the walk through a bitmap, with efSearch raised by how sparse
    the set is so the walk still sees about EF_SEARCH allowed rows."""
    ef = max(EF_SEARCH, k)
    if allowed is None and skip:
        return index.search(q, k, params=faiss.SearchParametersHNSW(sel=skip[0], efSearch=ef))
    if allowed is None:
        return index.search(q, k, params=faiss.SearchParametersHNSW(efSearch=ef))
    allowed = np.asarray(allowed, dtype=np.int64)
    if len(allowed) < ANN_MIN_ROWS:
        sims = take(index, allowed) @ q[0]
        best = np.lexsort((allowed, -sims))[:k]
        return sims[best][None], allowed[best][None]
    mask = np.zeros(index.ntotal, dtype=bool)
    mask[allowed] = True
    bits = np.packbits(mask, bitorder="little")
    sel = faiss.IDSelectorBitmap(index.ntotal, faiss.swig_ptr(bits))
    ef = min(index.ntotal, int(ef * index.ntotal / len(allowed)))
    return index.search(q, k, params=faiss.SearchParametersHNSW(sel=sel, efSearch=ef))


class Ranking:
    """A vector index and a keyword index as the part of a store (rag.store.interface.Store) that
    rag.retrieve.rank reads: for tests and benchmarks that rank without a generation."""

    def __init__(self, index: faiss.Index, lexical, best_sentence=None):
        self.vectors, self.lexical = index, lexical
        self._best = best_sentence

    def dense(self, qvec: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return search(self.vectors, qvec, n, allowed=allowed)

    def vectors_of(self, rows: np.ndarray) -> np.ndarray:
        return take(self.vectors, rows)

    def best_sentence(self, rows: np.ndarray, qvec: np.ndarray) -> np.ndarray | None:
        return None if self._best is None else self._best(rows, qvec)
