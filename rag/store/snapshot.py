"""One published index generation, verified and loaded: documents, the passage table, vectors, BM25
and the answer-sentence vectors. Passages (rag.store.passages) and, in a large index, sentence vectors
(rag.store.sentences) are read from disk per query, so a loaded index costs little more than its vector
and keyword indexes. Immutable once loaded, so it is safe to share across threads."""
from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import index as vindex
from ..ingest import INGEST_VERSION
from ..lexical import Lexical
from ..schema import Document, IndexMismatch
from . import delta, layout
from .passages import ROW, PassageTable
from .sentences import SentenceVectors


@dataclass(frozen=True)
class Snapshot:
    generation: str
    manifest: dict
    documents: tuple[Document, ...]
    passages: PassageTable          # a Sequence[Passage] read from disk on demand, plus per-row arrays
    vectors: object                 # faiss index (or a base's and an update's: delta.Dense), rows aligned with passages
    lexical: Lexical
    sentences: SentenceVectors      # rows: every sentence of every passage, in passage order
    folder: Path
    update: delta.Delta | None = None   # a generation an update wrote over a base (rag.store.delta)

    @classmethod
    def load(cls, index_dir: Path, model: str) -> "Snapshot":
        """Load the live generation, refusing it when checksums, counts or the model disagree."""
        gen = layout.current(index_dir)
        manifest, files = layout.read_verified(gen, read=("documents.json", "rows.npy", "delta/removed.npy"),
                                              keep_open=("passages.jsonl", "sentences.npy", "vectors.faiss",
                                                         "bm25/terms.npy", "bm25/tfs.npy", *delta.KEPT_OPEN),
                                              ahead=("vectors.faiss",))
        handles = [f for f in files.values() if not isinstance(f, bytes)]
        try:
            snap = cls._open(gen, manifest, files, model=model)
        except BaseException:
            for f in handles:
                f.close()
            raise
        return snap   # the passage table and the sentence vectors own (and close) their files

    @classmethod
    def _open(cls, gen: Path, manifest: dict, files: dict, *, model: str) -> "Snapshot":
        if manifest.get("model") != model:
            raise IndexMismatch(f"the index in {gen.parent}/ was built with model {manifest.get('model')!r} "
                                f"({manifest.get('dim')}-d), but the configured model is {model!r}; run: "
                                f"python -m rag index --rebuild, or set --model {manifest.get('model')}")
        try:
            documents = tuple(Document(**d) for d in json.loads(files["documents.json"]))
            dim, count = int(manifest["dim"]), int(manifest["passages"])
            update = delta.Delta.of(gen, manifest, files.pop("delta/removed.npy", b""))
            if update is not None:   # a base and an update's rows (rag.store.delta)
                sizes = [int(manifest["files"][k]["bytes"]) for k in ("passages.jsonl", "delta/passages.jsonl")]
                files["passages.jsonl"] = delta.Joined(files["passages.jsonl"], files.pop("delta/passages.jsonl"),
                                                       sizes)
            passages = _table(files, documents)
            sent = SentenceVectors(files["sentences.npy"])
            if update is not None:
                sent = delta.JoinedSentences(sent, SentenceVectors(files.pop("delta/sentences.npy")))
        except (KeyError, ValueError, TypeError) as exc:
            raise IndexMismatch(f"{gen.name} is incomplete or malformed ({type(exc).__name__}: {exc}); "
                                "run: python -m rag index --rebuild") from None
        if len(passages) != count:
            raise IndexMismatch(f"{gen.name}: passages.jsonl has {len(passages)} rows, the manifest says {count}; "
                                "run: python -m rag index --rebuild")
        with files.pop("vectors.faiss") as f:   # verified; parsed from the file, never held as bytes
            vectors = vindex.from_file(f, dim, count if update is None else update.base)
        if update is not None:
            with files.pop("delta/vectors.faiss") as f:
                vectors = delta.Dense(vectors, vindex.from_file(f, dim, update.rows), update.removed)
        starts = passages.sentence_start
        if sent.shape != (int(starts[-1]), dim) and (len(sent) or manifest.get("answer_vectors", True)):
            raise IndexMismatch(f"{gen.name}: sentence vectors have shape {sent.shape}, expected "
                                f"({int(starts[-1])}, {dim}); run: python -m rag index --rebuild")
        opened = {Path(k).stem: files.pop(k) for k in ("bm25/terms.npy", "bm25/tfs.npy") if k in files}
        lexical = Lexical.load(gen / "bm25", count, manifest.get("bm25", {}).get("stopwords", "en"), opened=opened,
                               delta=update)
        return cls(gen.name, manifest, documents, passages, vectors, lexical, sent, gen, update)

    @property
    def sentence_vectors(self) -> np.ndarray:
        """Every sentence vector (read whole when a large index keeps them on disk)."""
        return self.sentences.all()

    @property
    def sentence_start(self) -> np.ndarray:
        """Passage row -> its first sentence row (len = passages + 1)."""
        return self.passages.sentence_start

    @property
    def by_id(self):
        """Passage id -> row (a Mapping)."""
        return self.passages.by_id

    @functools.cached_property
    def labels(self) -> dict[str, str]:
        """doc_id -> how citations name the document."""
        return {d.doc_id: d.label for d in self.documents}

    @property
    def doc_rows(self):
        """doc_id -> its rows, an int64 array (a Mapping)."""
        return self.passages.doc_rows

    @property
    def answer_rows(self) -> np.ndarray | None:
        """The rows answers may come from (not boilerplate), or None when that is every row."""
        return self.passages.answer_rows

    def dense(self, qvec: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(cosines, rows) of the n nearest passages (rag.store.interface.Store)."""
        if isinstance(self.vectors, delta.Dense):
            return self.vectors.search(qvec, n, allowed)
        return vindex.search(self.vectors, qvec, n, allowed=allowed)

    def vectors_of(self, rows: np.ndarray) -> np.ndarray:
        if isinstance(self.vectors, delta.Dense):
            return self.vectors.take(rows)
        return vindex.take(self.vectors, rows)

    def all_vectors(self) -> np.ndarray:
        """Every row's vector, in row order (an update's removed rows too)."""
        if isinstance(self.vectors, delta.Dense):
            return self.vectors.all()
        return vindex.vectors(self.vectors)

    def allowed(self, doc_ids, answers_only: bool) -> np.ndarray | None:
        """The rows of `doc_ids` (None: every document), without boilerplate when `answers_only`;
        sorted, or None for every row."""
        if doc_ids is None:
            return self.answer_rows if answers_only else None
        rows = np.concatenate([self.doc_rows.get(i, np.zeros(0, np.int64)) for i in doc_ids])
        if answers_only:
            rows = rows[~self.passages.boilerplate[rows]]
        return np.sort(rows)

    def sentences_of(self, row: int) -> np.ndarray:
        """Vectors of a passage's sentences (none in a retrieval-only index)."""
        lo, hi = int(self.sentence_start[row]), int(self.sentence_start[row + 1])
        return self.sentences.span(lo, hi if len(self.sentences) else lo)

    def best_sentence(self, rows: np.ndarray, qvec: np.ndarray) -> np.ndarray | None:
        """Each row's highest sentence cosine with `qvec`, or None in a retrieval-only index."""
        if len(self.sentences) == 0 or len(rows) == 0:
            return None
        lo, hi = self.sentence_start[rows], self.sentence_start[rows + 1]
        sizes = hi - lo
        if (sizes == 0).any():
            return None
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        return np.maximum.reduceat(self.sentences.spans(lo, hi) @ qvec.reshape(-1), offsets)

    def document(self, doc_id: str) -> Document | None:
        i = self.passages.doc_index.get(doc_id)
        return None if i is None else self.documents[i]

    def stale(self, settings) -> str:
        """Why this generation's passages and vectors may not be reused by a build with `settings`
        ("" when they may): the build then reads and embeds every document again, and says why."""
        m = self.manifest
        if m.get("ingest_version") != INGEST_VERSION:
            return (f"the index was made by an older reader (ingest version {m.get('ingest_version')}, now "
                    f"{INGEST_VERSION}: documents are read and split into sentences differently); "
                    "every document is read again")
        for key, now in (("model", settings.model), ("context", settings.context),
                         ("answer_vectors", settings.answer_vectors)):
            if m.get(key) != now:
                return f"the index was built with {key} {m.get(key)!r}, now {now!r}; every document is embedded again"
        built = (m.get("onnx") or {}).get("encoder") or "fp32"
        if built != settings.encoder:
            return f"the index was built with encoder {built!r}, now {settings.encoder!r}; every document is embedded again"
        return ""


def _table(files: dict, documents) -> PassageTable:
    """The passage table: from rows.npy, or by reading passages.jsonl once for a generation
    written before rows.npy existed."""
    if "rows.npy" not in files:
        return PassageTable.parse(files["passages.jsonl"], documents)
    rows = np.load(io.BytesIO(files["rows.npy"]), allow_pickle=False)
    if rows.dtype != ROW or rows.ndim != 1:
        raise ValueError(f"rows.npy holds {rows.dtype} {rows.shape}")
    return PassageTable(files["passages.jsonl"], rows, documents)

