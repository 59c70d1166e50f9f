"""The vector index: build, serialise, parse and search. The only module that imports faiss.

Vectors are normalized float32 and the index is inner-product, so scores are cosine similarities.
"""
from __future__ import annotations

import faiss
import numpy as np

from .schema import IndexMismatch

FAISS_VERSION = faiss.__version__


def build(vectors: np.ndarray) -> faiss.Index:
    """An exact inner-product index over the rows of `vectors`."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        index.add(vectors)
    return index


def to_bytes(index: faiss.Index) -> bytes:
    return faiss.serialize_index(index).tobytes()


def from_bytes(data: bytes, dim: int, count: int) -> faiss.Index:
    """Parse an index whose bytes were already verified by checksum; check its shape."""
    try:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    except Exception as exc:  # faiss raises RuntimeError with its own text
        raise IndexMismatch(f"vectors.faiss could not be read ({exc}); run: python -m rag index --rebuild") from None
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


def search(index: faiss.Index, query: np.ndarray, k: int,
           allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, row ids) for one normalized query vector; rows limited to `allowed` if given.

    Faiss pads with id -1 when fewer than k rows exist; those are dropped here, so callers never
    index a list with -1.
    """
    q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    if q.shape[1] != index.d:   # faiss would only assert; say what happened and what to do
        raise IndexMismatch(f"the question's vector has {q.shape[1]} dimensions but the index holds {index.d}-d "
                            "vectors: the model changed since the index was built; run: python -m rag index --rebuild")
    k = min(k, index.ntotal if allowed is None else len(allowed))
    if k <= 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    params = None
    if allowed is not None:
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
    scores, ids = index.search(q, k, params=params)
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]
