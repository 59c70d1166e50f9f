"""A Qdrant collection as the engine's store (rag.store.interface.Store): Qdrant finds each retriever's
candidates (dense, and sparse BM25 with its IDF modifier), under a payload filter; the points come back
with their vectors and payload, and the scores fusion sees are computed here, exactly as the local
store computes them (cosine of the stored vectors, bm25s's BM25 from the stored term weights and the
terms' document frequencies), so the product's own fusion ranks both stores alike.

A reader reads one generation of one collection, named when it is loaded: every query is filtered to
the points of that generation (rag.store.qdrant.visible), so it never mixes two."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from qdrant_client import models as M

from ..schema import Document, IndexMismatch, Passage, RagError
from . import qdrant as Q
from .passages import DocRows
from .qdrant_bm25 import QdrantKeyword, reweigh

MARGIN = 16            # extra candidates asked for, so ties at the cut are settled here as locally
CACHED_POINTS = 4096   # points kept: `ask` reads again the passages and sentences of the top hits


@dataclass(frozen=True)
class Point:
    passage: Passage
    vector: np.ndarray           # (dim,) float32
    terms: dict[int, float]      # sparse index -> BM25 term weight
    sentences: np.ndarray        # (m, dim) float32, m = 0 in a retrieval-only index


class QdrantSnapshot:
    def __init__(self, client, loc: Q.Location, name: str, payload: dict, api_key: str):
        self.manifest: dict = payload["manifest"]
        self._c, self._loc, self._key, self.collection = client, loc, api_key, name
        self.g = int(self.manifest["generation"])
        self.generation, self._visible = f"{name}@{self.g}", Q.visible(self.g)
        self.documents = tuple(Document(**d) for d in payload["documents"])
        self.dim, self.n = int(self.manifest["dim"]), int(self.manifest["passages"])
        counts = [int(self.manifest["documents"][d.doc_id]["passages"]) for d in self.documents]
        self._bounds = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        self._doc_index = {d.doc_id: i for i, d in enumerate(self.documents)}
        self._boilerplate = np.asarray(payload.get("boilerplate", []), dtype=np.int64)
        self.labels = {d.doc_id: d.label for d in self.documents}
        self.doc_rows = DocRows(self._doc_index, self.document_rows)
        self.passages = _Passages(self)
        self.lexical = QdrantKeyword(self)
        self._cache: OrderedDict[int, Point] = OrderedDict()
        self._lock = threading.RLock()

    @classmethod
    def load(cls, settings) -> QdrantSnapshot:
        """The collection the alias names, refusing one built with another model or a newer format."""
        c, loc = Q.client(settings)
        with Q.calling(loc, settings.qdrant_api_key):
            name = Q.require_live(c, loc)
            head = Q.head(c, name) or {}
            got = c.retrieve(name, [Q.manifest_id(head.get("generation", 0))], with_payload=True)
        m = got[0].payload.get("manifest", {}) if got else {}
        if not got or int(m.get("store_format", 0)) > Q.STORE_FORMAT:
            raise IndexMismatch(f"{name} in Qdrant at {loc} has no manifest this program reads (format "
                                f"{m.get('store_format')}, this program {Q.STORE_FORMAT}); upgrade the program "
                                "or run: python -m rag index --rebuild --store …")
        if m.get("model") != settings.model:
            raise IndexMismatch(f"the index in Qdrant at {loc} was built with model {m.get('model')!r} "
                                f"({m.get('dim')}-d), but the configured model is {settings.model!r}; run: "
                                f"python -m rag index --rebuild, or set --model {m.get('model')}")
        return cls(c, loc, name, got[0].payload, settings.qdrant_api_key)

    # -- Qdrant calls ---------------------------------------------------------------------------
    def _call(self, method: str, *args, **kw):
        with Q.calling(self._loc, self._key):
            return getattr(self._c, method)(self.collection, *args, **kw)

    def _keep(self, records) -> list[int]:
        """Cache the points a call returned (with vectors and payload); their rows, in order."""
        rows = []
        m, bm = self.manifest, self.manifest["bm25"]
        with self._lock:
            for r in records:
                v, pay = r.vector or {}, r.payload
                row = int(self._bounds[self._doc_index[pay["doc_id"]]]) + int(pay["ord"])
                sp = v.get(Q.BM25)
                weights = reweigh(sp.values, pay["dl"], pay["avgdl"], m["avgdl"], bm["k1"], bm["b"]) if sp else []
                self._cache[row] = Point(Passage.from_json(pay["passage"]), np.asarray(v[Q.DENSE], dtype=np.float32),
                                         dict(zip(sp.indices, weights)) if sp else {},
                                         np.asarray(v.get(Q.SENTENCES, ()), dtype=np.float32).reshape(-1, self.dim))
                rows.append(row)
            while len(self._cache) > CACHED_POINTS:
                self._cache.popitem(last=False)
        return rows

    def points(self, rows) -> list[Point]:
        """The points of `rows` (fetched in one call for those not cached)."""
        rows = [int(r) for r in rows]
        with self._lock:
            missing = [r for r in dict.fromkeys(rows) if r not in self._cache]
        if missing:
            self._keep(self._call("retrieve", self.ids(missing), with_payload=True, with_vectors=True))
        with self._lock:
            got = {r: self._cache.get(r) for r in rows}
        if any(p is None for p in got.values()):   # evicted meanwhile by other threads: read again, uncached
            lost = [r for r, p in got.items() if p is None]
            with self._lock:
                self._keep(self._call("retrieve", self.ids(lost), with_payload=True, with_vectors=True))
                got.update({r: self._cache.get(r) for r in lost})
        if any(p is None for p in got.values()):
            raise RagError(f"generation {self.g} of {self.collection} in Qdrant was replaced twice while this "
                           "question was answered (its points are gone); ask again")
        return [got[r] for r in rows]

    def ids(self, rows) -> list[str]:
        """The point ids of rows of this generation (rag.store.qdrant.point_id)."""
        docs = np.searchsorted(self._bounds, rows, side="right") - 1
        return [Q.point_id(self.documents[d].sha256, self.documents[d].doc_id, int(r - self._bounds[d]))
                for r, d in zip(rows, docs.tolist())]

    def search(self, query, using: str, n: int, allowed) -> list[int]:
        allowed = self._visible if allowed is None else allowed
        res = self._call("query_points", query=query, using=using, limit=max(1, n + MARGIN), query_filter=allowed,
                         with_payload=True, with_vectors=True)
        return self._keep(res.points)

    # -- the Store interface ---------------------------------------------------------------------
    def dense(self, qvec: np.ndarray, n: int, allowed=None) -> tuple[np.ndarray, np.ndarray]:
        if qvec.reshape(-1).shape[0] != self.dim:
            raise IndexMismatch(f"the question's vector has {qvec.size} dimensions but the index holds {self.dim}-d "
                                "vectors: the model changed since the index was built; run: python -m rag index --rebuild")
        if n <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        rows = np.asarray(self.search(qvec.reshape(-1).tolist(), Q.DENSE, n, allowed), dtype=np.int64)
        scores = self.vectors_of(rows) @ qvec.reshape(-1)
        order = np.lexsort((rows, -scores))[:n]
        return scores[order], rows[order]

    def vectors_of(self, rows: np.ndarray) -> np.ndarray:
        pts = self.points(rows)
        return np.stack([p.vector for p in pts]) if pts else np.zeros((0, self.dim), np.float32)

    def all_vectors(self) -> np.ndarray:
        return np.concatenate([self.vectors_of(np.arange(lo, min(self.n, lo + 1024)))
                               for lo in range(0, self.n, 1024)] or [np.zeros((0, self.dim), np.float32)])

    def allowed(self, doc_ids, answers_only: bool):
        """A payload filter on the indexed doc_id and boilerplate fields, within this generation. The
        documents were chosen by rag.filters.select, as for the local store."""
        must = list(self._visible.must)
        must += [] if doc_ids is None else [M.FieldCondition(key="doc_id", match=M.MatchAny(any=list(doc_ids)))]
        must_not = [M.FieldCondition(key="boilerplate", match=M.MatchValue(value=True))] \
            if answers_only and len(self._boilerplate) else []
        return M.Filter(must=must, must_not=must_not)

    def best_sentence(self, rows: np.ndarray, qvec: np.ndarray) -> np.ndarray | None:
        if not self.manifest.get("sentences") or len(rows) == 0:
            return None
        pts = self.points(rows)
        if any(len(p.sentences) == 0 for p in pts):
            return None
        return np.array([(p.sentences @ qvec.reshape(-1)).max() for p in pts], dtype=np.float32)

    def sentences_of(self, row: int) -> np.ndarray:
        return self.points([row])[0].sentences

    def document(self, doc_id: str) -> Document | None:
        i = self._doc_index.get(doc_id)
        return None if i is None else self.documents[i]

    def document_rows(self, doc_id: str) -> tuple[int, int]:
        i = self._doc_index.get(doc_id)
        return (0, 0) if i is None else (int(self._bounds[i]), int(self._bounds[i + 1]))


class _Passages:
    """The passage table, read from the points' payload."""

    def __init__(self, snap: QdrantSnapshot):
        self._snap = snap

    def __len__(self) -> int:
        return self._snap.n

    @property
    def live(self) -> int:
        """Every row (a Qdrant generation has no removed rows kept in place)."""
        return self._snap.n

    def __getitem__(self, row: int) -> Passage:
        return self._snap.points([row])[0].passage

    def of_document(self, doc_id: str) -> list[Passage]:
        lo, hi = self._snap.document_rows(doc_id)
        recs = self._snap._call("retrieve", self._snap.ids(np.arange(lo, hi)), with_payload=["passage", "ord"])
        return [Passage.from_json(r.payload["passage"]) for r in sorted(recs, key=lambda r: r.payload["ord"])]
