"""What the engine asks of a loaded index, whichever store holds it: the local generation
(rag.store.snapshot.Snapshot, the default) or a Qdrant collection (rag.store.qdrant_read.QdrantSnapshot).
rag.retrieve, rag.query and rag.engine use nothing else, so both stores rank, answer and cite alike.

Rows are the passages' positions in the generation (documents in index order, passages in reading
order): the same numbers in both stores, so ties break the same way. `allowed` is whatever the store's
`allowed` returned (sorted rows locally, a payload filter in Qdrant); None means every row."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from ..schema import Document, Passage


class Keyword(Protocol):
    """BM25 over the passages (rag.lexical.Lexical locally)."""
    def tokenize(self, text: str) -> list[str]: ...
    def top(self, tokens: list[str], n: int, allowed: Any = None) -> tuple[np.ndarray, np.ndarray]: ...
    def score_rows(self, tokens: list[str], rows: np.ndarray) -> np.ndarray: ...
    def ceiling(self, tokens: list[str]) -> float: ...
    def idfs(self, tokens: list[str]) -> np.ndarray: ...     # each term's idf, 0 when no row has it
    def rare_idf(self) -> float: ...
    def vocabulary(self): ...      # a Container[str] of the indexed terms


class Passages(Protocol):
    """The passage table: passages by row, and a document's passages in reading order."""
    def __len__(self) -> int: ...
    def __getitem__(self, row: int) -> Passage: ...
    def of_document(self, doc_id: str) -> list[Passage]: ...


class Store(Protocol):
    generation: str
    manifest: dict
    documents: tuple[Document, ...]
    passages: Passages
    lexical: Keyword
    labels: dict[str, str]
    doc_rows: Mapping[str, np.ndarray]

    def dense(self, qvec: np.ndarray, n: int, allowed: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """(cosines, rows) of the n nearest passages, best first."""
    def vectors_of(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of the given rows."""
    def allowed(self, doc_ids: Sequence[str] | None, answers_only: bool) -> Any:
        """The rows a search may return: those of `doc_ids` (None: every document), without
        boilerplate when `answers_only`."""
    def best_sentence(self, rows: np.ndarray, qvec: np.ndarray) -> np.ndarray | None: ...
    def sentences_of(self, row: int) -> np.ndarray: ...
    def document(self, doc_id: str) -> Document | None: ...
