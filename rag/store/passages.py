"""The passage table of a generation. passages.jsonl stays on disk and a Passage is parsed only when
its row is asked for (the last few thousand are cached); rows.npy, a small numpy row table, holds
what the query path needs of every row without parsing it: byte offset, document, paragraph, part,
sentence count and boilerplate flag. At a million passages that is 25 MB instead of ~2 GB of objects.
"""
from __future__ import annotations

import io
import os
import re
import weakref
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from ..schema import Document, IndexMismatch, Passage
from .passage_lines import Lines, line
from .passage_lines import parse as _parse

ROW = np.dtype([("offset", "<i8"), ("doc", "<i4"), ("para", "<i4"), ("part", "<i4"),
                ("sentences", "<i4"), ("boilerplate", "?")])
_WHERE = re.compile(r"(\d+)(?:\.(\d+))?", re.ASCII)   # "<para>" or "<para>.<part>" of a passage id
CACHED_ROWS = 4096     # parsed passages kept: a query returns k of them and `ask` reads the top ones again


def encode(passages: Sequence[Passage], documents: Sequence[Document]) -> tuple[bytes, bytes]:
    """passages.jsonl (a JSON object per line) and rows.npy (its row table), in memory (tests, tools)."""
    lines = [line(p) for p in passages]
    out = io.BytesIO()
    np.save(out, row_table([len(x) for x in lines], passages, documents), allow_pickle=False)
    return b"".join(lines), out.getvalue()


def write(writer, parts: Sequence[Lines]) -> None:
    """Write passages.jsonl and its row table rows.npy into a generation being built (a
    publish.Writer): parts[i] are document i's lines, copied as they are a document at a time, so
    neither the whole text nor the Passage objects are ever in memory (2 GB at a million passages)."""
    writer.write_chunks("passages.jsonl", (part.raw() for part in parts if len(part)))
    rows = np.concatenate([part.fields for part in parts] or [np.zeros(0, ROW)])
    sizes = np.concatenate([part.sizes for part in parts] or [np.zeros(0, np.int64)])
    rows["offset"] = np.cumsum(sizes) - sizes
    rows["doc"] = np.repeat(np.arange(len(parts), dtype=np.int32), [len(part) for part in parts])
    out = io.BytesIO()
    np.save(out, rows, allow_pickle=False)
    writer.write("rows.npy", out.getvalue())


def row_table(sizes: Sequence[int], passages: Sequence[Passage], documents: Sequence[Document]) -> np.ndarray:
    """The rows.npy table of passages whose JSON lines (with their newlines) are `sizes` bytes long."""
    doc_of = {d.doc_id: i for i, d in enumerate(documents)}
    rows = np.zeros(len(passages), ROW)
    rows["offset"] = np.cumsum([0, *sizes])[:-1]
    rows["doc"] = [doc_of.get(p.doc_id, -1) for p in passages]
    rows["para"], rows["part"] = [p.para for p in passages], [p.part for p in passages]
    rows["sentences"] = [len(p.sentences) for p in passages]
    rows["boilerplate"] = [p.boilerplate for p in passages]
    return rows


class PassageTable(Sequence):
    """Sequence[Passage] over passages.jsonl (an open file: readable even after the generation's
    folder is removed), with the per-row arrays `boilerplate`, `sentence_start` (row -> its first
    sentence vector, len rows + 1) and the lookups `by_id`, `doc_rows` and `of_document`. After an
    update the rows include those it took out (`removed`, doc -1): they keep their place, are in no
    document and no answer, and `live` counts the others; `live_rows()` iterates those."""

    def __init__(self, file, rows: np.ndarray, documents: Sequence[Document]):
        size = file.size if hasattr(file, "size") else os.fstat(file.fileno()).st_size
        starts = np.ascontiguousarray(rows["offset"], dtype=np.int64)
        ends = np.append(starts[1:], size)
        doc = np.ascontiguousarray(rows["doc"], dtype=np.int32)
        live = np.flatnonzero(doc >= 0)     # -1: a row an update took out (rag.store.delta_write)
        if len(rows) and (starts[0] != 0 or (ends <= starts).any() or (np.diff(doc[live]) < 0).any()
                          or doc.min() < -1 or doc.max() >= len(documents)):
            raise IndexMismatch("rows.npy does not describe passages.jsonl; run: python -m rag index --rebuild")
        self.para = np.ascontiguousarray(rows["para"], dtype=np.int32)
        self.part = np.ascontiguousarray(rows["part"], dtype=np.int32)
        self.boilerplate = np.ascontiguousarray(rows["boilerplate"], dtype=bool)
        self.removed = doc < 0 if len(live) < len(doc) else None    # None: no row was taken out
        # None: every row (searches skip removed rows themselves, so those alone never make a list)
        answerable = ~self.boilerplate if self.removed is None else ~self.boilerplate & ~self.removed
        self.answer_rows = np.flatnonzero(answerable) if self.boilerplate.any() else None
        self.live = len(live)
        self.sentence_start = np.concatenate([[0], np.cumsum(rows["sentences"], dtype=np.int64)])
        self.doc_index = {d.doc_id: i for i, d in enumerate(documents)}
        at = np.searchsorted(doc[live], np.arange(len(documents) + 1))   # document i: live[at[i]:at[i+1]]
        self.first = np.append(live, len(doc))[at[:-1]]                  # its rows: first[i]:end[i]
        self.end = np.where(at[1:] > at[:-1], np.append(live, 0)[np.maximum(at[1:] - 1, 0)] + 1, self.first)
        self._lines = Lines(file.pread, np.append(starts, size), cached=CACHED_ROWS)
        weakref.finalize(self, file.close)

    @classmethod
    def parse(cls, file, documents: Sequence[Document]) -> "PassageTable":
        """The table of a generation written before rows.npy existed: made by reading every row once."""
        lines = file.read().splitlines(keepends=True)
        return cls(file, row_table([len(x) for x in lines], [_parse(x) for x in lines], documents), documents)

    def __len__(self) -> int:
        return len(self._lines)

    def __getitem__(self, row):
        return self._lines[row]

    def __iter__(self) -> Iterator[Passage]:
        return iter(self._lines)    # in blocks: a million rows are never all in memory

    def cache_clear(self) -> None:
        self._lines.cache_clear()

    @property
    def bounds(self) -> np.ndarray:
        """Byte offsets in passages.jsonl: row i is bounds[i]..bounds[i+1]."""
        return self._lines.bounds

    def live_rows(self) -> Iterator[tuple[int, Passage]]:
        """(row, passage) of every row not taken out by an update, in row order."""
        for row, p in enumerate(self):
            if self.removed is None or not self.removed[row]:
                yield row, p

    def rows(self, lo: int, hi: int) -> list[Passage]:
        """Passages lo..hi-1, read in one call and not cached (a document, an iteration)."""
        return self._lines.rows(lo, hi)

    def lines(self, lo: int, hi: int) -> Lines:
        """Rows lo..hi-1 (consecutive, as a document's are) as lines to copy into a new table."""
        fields = np.zeros(max(0, hi - lo), ROW)
        fields["para"], fields["part"] = self.para[lo:hi], self.part[lo:hi]
        fields["sentences"] = np.diff(self.sentence_start[lo:hi + 1]) if hi > lo else 0
        fields["boilerplate"] = self.boilerplate[lo:hi]
        return self._lines.view(lo, hi, fields)

    @property
    def by_id(self) -> Mapping[str, int]:
        return _ById(self)

    @property
    def doc_rows(self) -> Mapping[str, np.ndarray]:
        return DocRows(self.doc_index, self.document_rows)

    def document_rows(self, doc_id: str) -> tuple[int, int]:
        """(first row, end row) of a document's passages, (0, 0) for an unknown one."""
        i = self.doc_index.get(doc_id)
        return (0, 0) if i is None else (int(self.first[i]), int(self.end[i]))

    def size_of(self, doc_id: str) -> int:
        """How many passages a document has (0 for an unknown one)."""
        lo, hi = self.document_rows(doc_id)
        return hi - lo

    def of_document(self, doc_id: str) -> list[Passage]:
        """A document's passages, in order."""
        return self.rows(*self.document_rows(doc_id))

    def row_of(self, pid: str) -> int | None:
        """The row of passage id "<doc_id>:<para>[.<part>]", found from its document's rows."""
        doc_id, _, where = pid.rpartition(":")
        m = _WHERE.fullmatch(where)
        lo, hi = self.document_rows(doc_id)
        if m is None or hi == lo:
            return None
        hit = np.flatnonzero((self.para[lo:hi] == int(m[1])) & (self.part[lo:hi] == int(m[2] or 0)))
        return lo + int(hit[0]) if len(hit) and self[lo + int(hit[0])].id == pid else None


class _ById(Mapping):
    """passage id -> row, answered from the row table instead of a million-entry dict."""

    def __init__(self, table: PassageTable):
        self._table = table

    def __getitem__(self, pid: str) -> int:
        row = self._table.row_of(pid) if isinstance(pid, str) else None
        if row is None:
            raise KeyError(pid)
        return row

    def __len__(self) -> int:
        return len(self._table)

    def __iter__(self) -> Iterator[str]:
        return (p.id for p in self._table)


class DocRows(Mapping):
    """doc_id -> its rows (an int64 array), for any store whose documents hold consecutive rows:
    `doc_index` (doc_id -> position) and `document_rows` (doc_id -> (first row, end row))."""

    def __init__(self, doc_index: Mapping[str, int], document_rows):
        self._index, self._rows = doc_index, document_rows

    def __getitem__(self, doc_id: str) -> np.ndarray:
        if doc_id not in self._index:
            raise KeyError(doc_id)
        return np.arange(*self._rows(doc_id), dtype=np.int64)

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)
