"""Writing one index generation: the files rag/build.py publishes through rag.store.publish.Writer.

Memory stays bounded whatever the corpus size: passages are copied as lines and parsed a block at a
time for the keyword index, vectors go into the vector index a block at a time, and sentence vectors
(4 per passage on average, 6 GB at a million passages) are streamed into sentences.npy block by
block, never stacked into one array or serialised into one bytes object."""
from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from .. import index as vindex
from ..config import Settings
from ..embed.protocol import manifest_record, onnx_dir_for
from ..ingest import INGEST_VERSION
from ..lexical import Lexical
from ..schema import Document, Passage
from . import passages as passage_table
from . import publish
from .passage_lines import Lines

# The write's progress steps: passage table, vector index, sentence vectors, keyword index, publish.
WRITE_STEPS = 5


# Vectors added to the vector index per call: a block at a time, never all of them (1.5 GB at 1M rows).
INDEX_BLOCK_ROWS = 131_072


@dataclass(frozen=True)
class Slot:
    """One document of a generation: its passages (lines in a file, parsed when read: rag.store.
    passage_lines), and the reads of their vectors (n, dim), of its m sentence vectors and, when the
    build made them already, of the passages' indexed texts; all made only when written (from the
    build's work files, or a re-used document's from the old generation)."""
    doc: Document
    passages: Lines
    vectors: Callable[[], np.ndarray]
    sentence_rows: int
    sentences: Callable[[], np.ndarray]
    texts: Callable[[], list[str]] | None = None

    def indexed(self, context: str) -> list[str]:
        """What the model and BM25 see of each passage (indexed_text)."""
        return self.texts() if self.texts else [indexed_text(p, context, self.doc) for p in self.passages]


def indexed_text(p: Passage, context: str, doc: Document | None) -> str:
    """What the model and BM25 see for a passage: its text, after the title or heading that
    `context` asks for (see Settings.context). Every piece of a split first paragraph gets the
    title; ingest left room for it in the window."""
    title = doc.title if doc else ""
    head = [title] if title and (context == "title" or context == "lead" and p.para == 1) else []
    head += [p.section] if context == "section" and p.section else []
    return ". ".join(head + [p.text])


def write(writer: publish.Writer, settings: Settings, slots: Sequence[Slot], *, dim: int,
          tick: Callable[[str, int, int], None]) -> str:
    """Write every file of the generation from the documents' slots, then publish it."""
    docs = [s.doc for s in slots]
    rows = sum(len(s.passages) for s in slots)
    tick("write", 0, WRITE_STEPS)
    writer.write("documents.json", json.dumps([d.to_json() for d in docs], ensure_ascii=False).encode("utf-8"))
    passage_table.write(writer, [s.passages for s in slots])   # passages.jsonl and its row table rows.npy
    tick("write", 1, WRITE_STEPS)
    index = vindex.build_blocks(_blocks((s.vectors for s in slots), dim), rows=rows, dim=dim,
                                ann_min_rows=settings.hnsw_min_rows)
    vindex.save(index, writer.tmp / "vectors.faiss")  # straight to the file, then checksummed from it
    del index
    writer.add_file("vectors.faiss")
    tick("write", 2, WRITE_STEPS)
    sentences = write_npy(writer, "sentences.npy", (s.sentences() for s in slots),
                          rows=sum(s.sentence_rows for s in slots), dim=dim)
    tick("write", 3, WRITE_STEPS)
    Lexical.build((t for s in slots for t in s.indexed(settings.context)),
                  settings.bm25_k1, settings.bm25_b, stopwords=settings.stopwords,
                  tantivy_min_rows=settings.tantivy_min_rows, rows=rows).save(writer.tmp / "bm25")
    writer.add_folder("bm25")
    tick("write", 4, WRITE_STEPS)
    manifest = describe(settings, dim=dim, passages=rows, sentences=sentences,
                        documents=[(s.doc, len(s.passages)) for s in slots])
    name = writer.publish(manifest)
    tick("write", WRITE_STEPS, WRITE_STEPS)
    return name


def _blocks(reads: Iterable[Callable[[], np.ndarray]], dim: int) -> Iterator[np.ndarray]:
    """The documents' vectors, read in order and stacked INDEX_BLOCK_ROWS or more at a time."""
    held: list[np.ndarray] = []
    count = 0
    for read in reads:
        held.append(np.asarray(read(), np.float32).reshape(-1, dim))
        count += len(held[-1])
        if count >= INDEX_BLOCK_ROWS:
            yield np.vstack(held)
            held, count = [], 0
    if held:
        yield np.vstack(held)


def describe(settings: Settings, *, dim: int, passages: int, sentences: int,
             documents: Sequence[tuple[Document, int]]) -> dict:
    """The manifest of a generation (publish.Writer adds the files, format and checksum)."""
    return {"model": settings.model, "dim": int(dim), "normalized": True, "metric": "inner_product",
            "context": settings.context, "bm25": bm25_params(settings),
            "answer_vectors": settings.answer_vectors, "onnx": onnx_hashes(settings),
            "faiss_version": vindex.FAISS_VERSION, "ingest_version": INGEST_VERSION,
            "passages": passages, "sentences": sentences,
            "documents": {d.doc_id: {"file": d.file, "sha256": d.sha256, "passages": n} for d, n in documents},
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def write_npy(writer: publish.Writer, name: str, blocks: Iterable[np.ndarray], *, rows: int, dim: int) -> int:
    """A float32 (rows, dim) .npy file, byte for byte what np.save writes, from blocks of rows
    written and hashed as they come (constant memory). Returns the rows; refuses a count that differs."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (rows, dim)})

    def chunks():
        yield header.getvalue()
        written = 0
        for block in blocks:
            block = np.ascontiguousarray(block, dtype=np.float32).reshape(-1, dim)
            yield block.reshape(-1).view(np.uint8)
            written += len(block)
        if written != rows:
            raise ValueError(f"{name}: {written} rows written, {rows} announced")
    writer.write_chunks(name, chunks())
    return rows


def onnx_hashes(settings: Settings) -> dict:
    """The sha256 of the model's ONNX export files, when an export exists (else {}), and the encoder
    that builds with them when it is not fp32 (rag.embed.protocol.manifest_record)."""
    try:
        meta = json.loads((onnx_dir_for(settings.index_dir, settings.model) / "export.json").read_text("utf-8"))
        return manifest_record(meta["sha256"], settings.encoder) if meta.get("model") == settings.model else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def bm25_params(settings: Settings) -> dict:
    return {"k1": settings.bm25_k1, "b": settings.bm25_b, "stopwords": settings.stopwords}
