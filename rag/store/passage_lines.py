"""A document's passages as lines of passages.jsonl, read when needed: what a build holds of each
document between reading it and writing the generation, instead of its Passage objects (about 2 KB
each, 2 GB at a million passages). A new document's lines are in the build's work file (Spill), a
re-used one's in the previous generation's table (PassageTable.lines); either is copied into the
new passages.jsonl byte for byte, and its row fields (paragraph, part, sentences, boilerplate) come
from a small array, so writing the table parses nothing."""
from __future__ import annotations

import errno
import json
import os
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

import numpy as np

from ..schema import IndexMismatch, Passage

BLOCK_ROWS = 4096       # passages parsed per read when iterating
Pread = Callable[[int, int], bytes]   # (size, offset) -> bytes


def line(p: Passage) -> bytes:
    """A passage's line of passages.jsonl."""
    return (json.dumps(p.to_json(), ensure_ascii=False) + "\n").encode("utf-8")


def parse(data: bytes) -> Passage:
    try:
        return Passage.from_json(json.loads(data))
    except (ValueError, TypeError, KeyError) as exc:   # the bytes passed their checksum: a bad build
        raise IndexMismatch(f"passages.jsonl has a malformed row ({exc}); run: python -m rag index --rebuild") from None


def _write_all(file, data: bytes) -> None:
    """An unbuffered write goes on until every byte is written: a nearly full disk takes part of it,
    and the next write raises the disk's own error (ENOSPC), which the build reports with its fix."""
    view = memoryview(data)
    while view:
        n = file.write(view)
        if not n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), file.name)
        view = view[n:]


class Lines(Sequence):
    """Sequence[Passage] over consecutive lines of a file: bytes bounds[i]..bounds[i+1] hold row i.
    `fields` is its rows' part of the row table (rag.store.passages.ROW; offset and doc are set when
    the table is written), None for a view only read from; `cached` rows parsed alone are kept."""

    def __init__(self, pread: Pread, bounds: np.ndarray, fields: np.ndarray | None = None, *, cached: int = 0):
        self._pread, self.bounds, self.fields = pread, np.asarray(bounds, np.int64), fields
        b = self.bounds
        one = lambda i: parse(pread(int(b[i + 1] - b[i]), int(b[i])))  # no reference to self: no cycle
        self._one = lru_cache(cached)(one) if cached else one

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        i = int(i) + len(self) if i < 0 else int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"passage row {i} out of range")
        return self._one(i)

    def __iter__(self) -> Iterator[Passage]:
        for a in range(0, len(self), BLOCK_ROWS):
            yield from self.rows(a, min(len(self), a + BLOCK_ROWS))

    def cache_clear(self) -> None:
        """Forget the cached rows: the next read of each goes to the file."""
        if hasattr(self._one, "cache_clear"):
            self._one.cache_clear()

    def rows(self, lo: int, hi: int) -> list[Passage]:
        """Rows lo..hi-1, read in one call and parsed (not cached)."""
        if hi <= lo:
            return []
        data = self._pread(int(self.bounds[hi] - self.bounds[lo]), int(self.bounds[lo]))
        return [parse(x) for x in data.splitlines()]

    def view(self, lo: int, hi: int, fields: np.ndarray | None = None) -> Lines:
        """Rows lo..hi-1 as lines of their own (to copy into a new table)."""
        return Lines(self._pread, self.bounds[lo:hi + 1] if hi > lo else self.bounds[lo:lo + 1], fields)

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.bounds)

    def raw(self) -> bytes:
        """The lines as they are in the file (a document's: kilobytes)."""
        return self._pread(int(self.bounds[-1] - self.bounds[0]), int(self.bounds[0]))


class Texts:
    """Pieces written one after another to an unbuffered work file (what add() wrote is readable at
    once), their ends kept in a compact array, and read back by index. As strings (`add`, `read`):
    what the encoder and the keyword index are given, made once as a document is read instead of
    parsed back from its lines for each of them."""

    def __init__(self, path: Path):
        self._file = open(path, "w+b", buffering=0)  # noqa: SIM115 (closed by close())
        self._fd, self._ends = self._file.fileno(), array("q", [0])

    def append(self, pieces: list[bytes]) -> np.ndarray:
        """Write pieces; returns their bounds in the file (len(pieces) + 1 offsets)."""
        first = len(self._ends) - 1
        at = self._ends[-1]
        for d in pieces:
            at += len(d)
            self._ends.append(at)
        _write_all(self._file, b"".join(pieces))
        return np.asarray(self._ends[first:], np.int64)

    def add(self, texts: Iterable[str]) -> None:
        self.append([t.encode("utf-8") for t in texts])

    def pread(self, n: int, offset: int) -> bytes:
        return os.pread(self._fd, n, offset)

    def __len__(self) -> int:
        return len(self._ends) - 1

    def read(self, lo: int, hi: int) -> list[str]:
        """Texts lo..hi-1."""
        ends = self._ends[lo:hi + 1]
        data = self.pread(ends[-1] - ends[0], ends[0]) if hi > lo else b""
        base = ends[0]
        return [data[a - base:b - base].decode("utf-8") for a, b in pairwise(ends)]

    def blocks(self, size: int) -> Iterator[list[str]]:
        for lo in range(0, len(self), size):
            yield self.read(lo, min(len(self), lo + size))

    def close(self) -> None:
        self._file.close()


class Spill:
    """The build's work file of new documents' passage lines, written a document at a time; `fields`
    makes their rows' part of the row table (rag.store.passages.row_table)."""

    def __init__(self, path: Path, fields: Callable[[list[int], Sequence[Passage]], np.ndarray]):
        self._file, self._fields = Texts(path), fields

    def add(self, passages: Sequence[Passage]) -> Lines:
        lines = [line(p) for p in passages]
        bounds = self._file.append(lines)
        return Lines(self._file.pread, bounds, self._fields([len(x) for x in lines], passages))

    def close(self) -> None:
        self._file.close()
