"""The new or changed documents of a build (rag/build.py): each parsed as it is read, its passages
written to a work file of passage lines (rag.store.passage_lines) with the texts the encoder and the
keyword index are given beside it, and its file's bytes let go; then all their passages and
sentences embedded, SPILL_ROWS texts per encoder call, into work files. Each
document is left as a generation.Slot that reads its part of those files when it is written, so no
step holds every Passage, text or vector of a million-passage build at once."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Self

import numpy as np

from . import ingest, readers
from .config import Settings
from .schema import Document
from .store import generation, passage_lines
from .store import passages as passage_table
from .store.generation import indexed_text

Progress = Callable[[str, int, int], None]   # (stage, done, total)
# Texts per encoder call: passage and sentence vectors (1.5 and 6 GB at a million passages) wait on
# disk for the write instead of in memory. Batches are still length-sorted within each call, so
# the vectors equal those of one call to within float rounding.
SPILL_ROWS = 65_536


class Fresh:
    """Documents to embed, added in the order of their slots."""

    def __init__(self, settings: Settings, get_embedder: Callable, work: Callable[[str], Path], skipped: list):
        self.settings, self._get, self._work, self._skipped = settings, get_embedder, work, skipped
        self._emb = self._spill = self._texts = self._sentences = None
        self.parsed: list[tuple[int, Document, passage_lines.Lines]] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        for f in (self._spill, self._texts, self._sentences):
            if f is not None:
                f.close()

    def add(self, slot: int, path: Path, data: bytes, *, doc_id: str, sha: str, original: str) -> None:
        """Parse one file and spill its passages (a file that cannot be read joins `skipped`)."""
        if self._emb is None:
            self._emb = self._get()
            self._spill = passage_lines.Spill(self._work("passages.jsonl"),
                                              lambda sizes, ps: passage_table.row_table(sizes, ps, ()))
            self._texts = passage_lines.Texts(self._work("texts"))          # what is encoded, in order
            self._sentences = passage_lines.Texts(self._work("sentence-texts"))
        s, emb = self.settings, self._emb
        try:
            got = readers.read(path.name, data, max_pages=s.max_pages, seconds=s.parse_seconds)
            doc, passages = ingest.parse(path.name, got.text, count=emb.count_tokens, limit=emb.max_tokens,
                                         doc_id=doc_id, sha=sha, extracted=got, original=original,
                                         title_room={"lead": "lead", "title": "all"}.get(s.context, "none"),
                                         counts=emb.count_tokens_batch, adds_up=emb.counts_add_up)
        except ingest.UnsupportedDocument as exc:
            self._skipped.append((path.name, str(exc)))
            return
        if passages:
            self.parsed.append((slot, doc, self._spill.add(passages)))
            self._texts.add(indexed_text(p, s.context, doc) for p in passages)
            if s.answer_vectors:
                self._sentences.add(t for p in passages for t in p.sentence_texts())
        else:
            self._skipped.append((path.name, f"{path.name}: no text to index (empty, or only whitespace)"))

    def embed(self, slots: list, tick: Progress) -> tuple[list[str], int]:
        """Embed every added document's passages and sentences and fill its slot. Returns the files
        embedded and their passage count."""
        if not self.parsed:
            return [], 0
        texts, sentence_texts = self._texts, self._sentences
        rows, counts = len(texts), len(sentence_texts)
        vectors = _encode(self._emb, texts.blocks(SPILL_ROWS), self._work("passages.f32"), tick, "embed", rows)
        sentences = _encode(self._emb, sentence_texts.blocks(SPILL_ROWS), self._work("sentences.f32"), tick,
                            "embed sentences", counts)
        row = srow = 0
        for slot, doc, lines in self.parsed:
            n, m = len(lines), int(lines.fields["sentences"].sum()) if self.settings.answer_vectors else 0
            slots[slot] = generation.Slot(doc, lines, lambda a=row, n=n: vectors(a, n), m,
                                          lambda a=srow, m=m: sentences(a, m),
                                          lambda a=row, n=n: texts.read(a, a + n))
            row, srow = row + n, srow + m
        return [doc.file for _, doc, _ in self.parsed], rows


def _encode(emb, blocks: Iterator[list[str]], path: Path, tick: Progress, stage: str, total: int):
    """Encode blocks of texts into the float32 file `path`; returns read(first, count) of its rows."""
    done, dim = [0], emb.dim
    if total:
        tick(stage, 0, total)

    def step(n: int) -> None:
        done[0] += n
        tick(stage, done[0], total)
    with open(path, "wb") as f:
        for texts in blocks:
            block = np.ascontiguousarray(emb.encode_passages(texts, step), np.float32)
            f.write(block.reshape(-1, dim).data if block.size else b"")

    def read(first: int, count: int) -> np.ndarray:
        return np.fromfile(path, np.float32, count=count * dim, offset=first * dim * 4).reshape(count, dim)
    return read
