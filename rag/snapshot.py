"""One published index generation, verified and loaded into memory: documents, passages, vectors,
BM25 and the answer-sentence vectors. Immutable once loaded, so it is safe to share across threads."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import index as vindex
from . import store
from .lexical import Lexical
from .schema import Document, IndexMismatch, Passage

INGEST_VERSION = 3   # bump when parsing changes, so old passages are not reused


@dataclass(frozen=True)
class Snapshot:
    generation: str
    manifest: dict
    documents: tuple[Document, ...]
    passages: tuple[Passage, ...]
    vectors: object                 # faiss index, rows aligned with passages
    lexical: Lexical
    sentence_vectors: np.ndarray    # rows: every sentence of every passage, in passage order
    sentence_start: np.ndarray      # passage row -> first sentence row (len = passages + 1)
    folder: Path
    by_id: dict = field(default_factory=dict)
    doc_rows: dict = field(default_factory=dict)

    @classmethod
    def load(cls, index_dir: Path, model: str) -> "Snapshot":
        """Load the live generation, refusing it when checksums, counts or the model disagree."""
        gen = store.current(index_dir)
        manifest, files = store.read_verified(gen)
        if manifest.get("model") != model:
            raise IndexMismatch(f"the index in {index_dir}/ was built with model {manifest.get('model')!r} "
                                f"({manifest.get('dim')}-d), but the configured model is {model!r}; run: "
                                f"python -m rag index --rebuild, or set --model {manifest.get('model')}")
        try:
            documents = tuple(Document(**d) for d in json.loads(files["documents.json"]))
            passages = tuple(Passage.from_json(json.loads(line))
                             for line in files["passages.jsonl"].decode("utf-8").splitlines() if line)
            sent = np.load(io.BytesIO(files["sentences.npy"]), allow_pickle=False)
            dim, count = int(manifest["dim"]), int(manifest["passages"])
        except (KeyError, ValueError, TypeError) as exc:
            raise IndexMismatch(f"{gen.name} is incomplete or malformed ({type(exc).__name__}: {exc}); "
                                "run: python -m rag index --rebuild") from None
        if len(passages) != count:
            raise IndexMismatch(f"{gen.name}: passages.jsonl has {len(passages)} rows, the manifest says {count}; "
                                "run: python -m rag index --rebuild")
        vectors = vindex.from_bytes(files["vectors.faiss"], dim, count)
        starts = np.concatenate([[0], np.cumsum([len(p.sentences) for p in passages])]).astype(np.int64)
        if len(sent) == 0 and not manifest.get("answer_vectors", True):
            sent = np.zeros((0, dim), dtype=np.float32)          # a retrieval-only index (BEIR runs)
        elif sent.shape != (int(starts[-1]), dim):
            raise IndexMismatch(f"{gen.name}: sentence vectors have shape {sent.shape}, expected "
                                f"({int(starts[-1])}, {dim}); run: python -m rag index --rebuild")
        lexical = Lexical.load(gen / "bm25", count, manifest.get("bm25", {}).get("stopwords", "en"))
        return cls.assemble(gen.name, manifest, documents, passages, vectors, lexical,
                            sent.astype(np.float32), starts, gen)

    @classmethod
    def assemble(cls, generation, manifest, documents, passages, vectors, lexical, sent, starts, folder):
        by_id = {p.id: i for i, p in enumerate(passages)}
        doc_rows: dict[str, list[int]] = {}
        for i, p in enumerate(passages):
            doc_rows.setdefault(p.doc_id, []).append(i)
        return cls(generation, manifest, tuple(documents), tuple(passages), vectors, lexical, sent,
                   starts, folder, by_id, {k: np.asarray(v, dtype=np.int64) for k, v in doc_rows.items()})

    def sentences_of(self, row: int) -> np.ndarray:
        """Vectors of a passage's sentences (none in a retrieval-only index)."""
        return self.sentence_vectors[self.sentence_start[row]:self.sentence_start[row + 1]]

    def best_sentence(self, rows: np.ndarray, qvec: np.ndarray) -> np.ndarray | None:
        """Each row's highest sentence cosine with `qvec`, or None in a retrieval-only index."""
        if len(self.sentence_vectors) == 0 or len(rows) == 0:
            return None
        lo, hi = self.sentence_start[rows], self.sentence_start[rows + 1]
        sizes = hi - lo
        if (sizes == 0).any():
            return None
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        take = np.repeat(lo - offsets, sizes) + np.arange(int(sizes.sum()))
        return np.maximum.reduceat(self.sentence_vectors[take] @ qvec.reshape(-1), offsets)

    def document(self, doc_id: str) -> Document | None:
        return next((d for d in self.documents if d.doc_id == doc_id), None)

    def reusable(self, settings) -> bool:
        """Whether this generation's passages and vectors may be reused by a build with `settings`."""
        m = self.manifest
        return (m.get("model") == settings.model and m.get("ingest_version") == INGEST_VERSION
                and m.get("context") == settings.context and m.get("answer_vectors") == settings.answer_vectors)
