"""Reading a generation that an update wrote over a base (rag.store.delta_write). The base's large
files (passages.jsonl, sentences.npy, vectors.faiss, the keyword index) are hard links to the files of
the build that made them, unchanged; delta/ holds the rows the updates added since, and
delta/removed.npy the base rows they took out. Row r < base is the base's row r, any other the
delta's row r - base, so a document's rows stay consecutive and every per-row array (rows.npy) covers
both. Removed rows keep their place: they are in no document, and no search returns them.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import index as vindex

FOLDER = "delta"
KEPT_OPEN = ("delta/passages.jsonl", "delta/sentences.npy", "delta/vectors.faiss")   # small: hashed at load


@dataclass(frozen=True)
class Delta:
    """What the manifest and delta/ say about the update: row counts and the removed base rows."""
    base: int               # rows of the base generation
    rows: int               # rows added after them
    sentences: int          # sentence vectors of the base (the delta's follow)
    removed: np.ndarray     # sorted base rows taken out (int64)
    folder: Path

    @property
    def live(self) -> int:
        return self.base - len(self.removed) + self.rows

    @property
    def dead(self) -> np.ndarray:
        """A bool per base row: taken out."""
        return dead_mask(self.base, self.removed)

    @classmethod
    def of(cls, gen: Path, manifest: dict, removed: bytes) -> "Delta | None":
        d = manifest.get("delta")
        if d is None:
            return None
        rows = np.load(io.BytesIO(removed), allow_pickle=False)
        if rows.dtype != np.int64 or rows.ndim != 1 or (len(rows) and (rows[0] < 0 or rows[-1] >= d["base"])):
            raise ValueError(f"removed.npy holds {rows.dtype} {rows.shape}")
        return cls(int(d["base"]), int(d["rows"]), int(d["sentences"]), rows, gen / FOLDER)


def dead_mask(rows: int, removed: np.ndarray) -> np.ndarray:
    mask = np.zeros(rows, dtype=bool)
    mask[removed] = True
    return mask


def describe(base: int, rows: int, sentences: int, removed: int) -> dict:
    """The manifest's "delta" record."""
    return {"base": base, "rows": rows, "sentences": sentences, "removed": removed}


def split(rows: np.ndarray, seam: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted rows -> (the base's, the delta's less `seam`), without a pass over a million rows."""
    rows = np.asarray(rows, dtype=np.int64)
    cut = int(np.searchsorted(rows, seam))
    return rows[:cut], rows[cut:] - seam


class Joined:
    """Two files read as one (the base's passages.jsonl, then the delta's): pread across the seam."""

    def __init__(self, first, second, sizes: tuple[int, int]):
        self.parts, self.seam, self.size = (first, second), sizes[0], sizes[0] + sizes[1]

    def pread(self, n: int, offset: int) -> bytes:
        a = self.parts[0].pread(max(0, min(n, self.seam - offset)), offset) if offset < self.seam else b""
        rest = n - len(a)
        return a + (self.parts[1].pread(rest, max(0, offset - self.seam)) if rest > 0 else b"")

    def close(self) -> None:
        for f in self.parts:
            f.close()


class JoinedSentences:
    """The base's sentence vectors, then the delta's (rag.store.sentences.SentenceVectors each)."""

    def __init__(self, base, delta):
        self.base, self.delta = base, delta
        self.shape = (len(base) + len(delta), base.shape[1])

    def __len__(self) -> int:
        return self.shape[0]

    def span(self, lo: int, hi: int) -> np.ndarray:
        return self.spans(np.array([lo]), np.array([hi]))

    def spans(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Rows lo[i]:hi[i] of every i, concatenated (a passage's sentences are all in one part)."""
        lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
        seam, sizes = len(self.base), hi - lo
        out = np.empty((int(sizes.sum()), self.shape[1]), np.float32)
        starts = np.cumsum(sizes) - sizes
        for part, mask, shift in ((self.base, lo < seam, 0), (self.delta, lo >= seam, seam)):
            if mask.any() and sizes[mask].sum():
                got = part.spans(lo[mask] - shift, hi[mask] - shift)
                k = sizes[mask]
                out[np.repeat(starts[mask] - np.cumsum(k) + k, k) + np.arange(int(k.sum()))] = got
        return out

    def all(self) -> np.ndarray:
        return np.vstack([self.base.all(), self.delta.all()])


class Dense:
    """The base's vector index (removed rows skipped) and the delta's exact index, searched as one."""

    def __init__(self, base, delta, removed: np.ndarray):
        self.base, self.delta, self.seam = base, delta, base.ntotal
        self.ntotal, self.d = base.ntotal + delta.ntotal, base.d
        self._skip = vindex.without(removed) if len(removed) else None

    def search(self, q: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if allowed is None:
            sb, rb = vindex.search(self.base, q, k, skip=self._skip)
            sd, rd = vindex.search(self.delta, q, k)
        else:   # `allowed`: live rows only, sorted (rag.store.snapshot.Snapshot.allowed)
            low, high = split(allowed, self.seam)
            sb, rb = vindex.search(self.base, q, k, allowed=low)
            sd, rd = vindex.search(self.delta, q, k, allowed=high)
        scores, rows = np.concatenate([sb, sd]), np.concatenate([rb, rd + self.seam])
        order = np.lexsort((rows, -scores))[:k]
        return scores[order], rows[order]

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.d), np.float32)
        low = rows < self.seam
        out[low] = vindex.take(self.base, rows[low])
        out[~low] = vindex.take(self.delta, rows[~low] - self.seam)
        return out

    def all(self) -> np.ndarray:
        return np.vstack([vindex.vectors(self.base), vindex.vectors(self.delta)])

