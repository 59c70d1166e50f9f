"""Publishing a local generation to Qdrant (rag.store.qdrant has the layout). Each passage is a point
with its vector, its sentences' vectors (a multivector), a sparse BM25 vector, and its text and
metadata as payload; beside them each generation's vocabulary (BM25 terms' sparse index and document
frequency, TERMS_PER_SHARD terms a point), its manifest point, and the head point, written last.

Incremental (the live collection was built with the same model, analyser and format): the points of
new or changed documents are upserted with born = g, those of removed or changed documents get
dead = g, then the head moves to g. Otherwise (a first publish, `fresh`, another model...) a new
collection gets every point and the alias moves to it. Points and collections no reader can still
see (older than the previous generation) are deleted afterwards.

The points themselves are made by rag.store.qdrant_points."""
from __future__ import annotations

import contextlib
import re
import secrets
import warnings

import numpy as np
from qdrant_client import models as M

from . import qdrant as Q
from . import qdrant_points as P
from .layout import SELF
from .snapshot import Snapshot

# What must match for an incremental publish: anything else changes the vectors or the passages.
SAME = ("model", "dim", "context", "answer_vectors", "ingest_version", "bm25")


def publish(settings, snap: Snapshot, *, fresh: bool = False) -> str:
    """Make `snap` the store's live generation; returns its name, "<collection>@<generation>"."""
    c, loc = Q.client(settings)
    source = snap.manifest.get(SELF) or snap.generation
    with Q.calling(loc, settings.qdrant_api_key):
        name = Q.live(c, loc)
        head = Q.head(c, name) if name else None
        old = _payload(c, name, Q.manifest_id(head["generation"])) if head else None
        m = (old or {}).get("manifest", {})
        if m.get("source") == source and not fresh:
            return f"{name}@{head['generation']}"
        same = old and not fresh and m.get("store_format") == Q.STORE_FORMAT and all(
            m.get(k) == snap.manifest.get(k) for k in SAME) and _encoder(m) == _encoder(snap.manifest)
        if same:
            return _incremental(c, name, snap, settings, old=old, g=int(head["generation"]) + 1, source=source)
        if not name and c.collection_exists(loc.collection):
            raise ValueError(f"{loc} is a collection, not an alias this program publishes to; choose "
                             "another collection name in the store URL")
        new = f"{loc.collection}-{snap.generation}-{secrets.token_hex(3)}"
        _create(c, new, int(snap.manifest["dim"]), shards=loc.shards, replicas=loc.replicas)
        try:
            _incremental(c, new, snap, settings, old=None, g=1, source=source)
            ops = [M.DeleteAliasOperation(delete_alias=M.DeleteAlias(alias_name=loc.collection))] if name else []
            ops.append(M.CreateAliasOperation(create_alias=M.CreateAlias(collection_name=new,
                                                                         alias_name=loc.collection)))
            c.update_collection_aliases(change_aliases_operations=ops)   # one request: atomic
        except BaseException:
            with contextlib.suppress(Exception):
                c.delete_collection(new)
            raise
        mine = re.compile(re.escape(loc.collection) + r"-gen-\d{6}-[0-9a-f]{6}")
        for col in c.get_collections().collections:     # keep the one readers may still be answering from
            if mine.fullmatch(col.name) and col.name not in (new, name):
                c.delete_collection(col.name)
    return f"{new}@1"


def _incremental(c, name: str, snap: Snapshot, settings, *, old: dict | None, g: int, source: str) -> str:
    """Generation g in collection `name`: new points, retired points, vocabulary, manifest, then the head."""
    if old:   # what a publish that died before moving the head left behind
        c.delete(name, points_selector=M.FilterSelector(filter=M.Filter(
            must=[M.FieldCondition(key="born", range=M.Range(gte=g))])), wait=True)
        c.set_payload(name, payload={"dead": Q.ALIVE}, points=M.Filter(
            must=[M.FieldCondition(key="dead", range=M.Range(gte=g, lt=Q.ALIVE))]), wait=True)
    before = {(d["doc_id"], d["sha256"]) for d in (old or {}).get("documents", [])}
    now = {(d.doc_id, d.sha256) for d in snap.documents}
    stats = P.fill(c, name, snap, settings, g=g, skip=before & now, vocab=P.vocabulary(c, name, old))
    for doc_id, sha in sorted(before - now):
        c.set_payload(name, payload={"dead": g}, points=M.Filter(must=[
            M.FieldCondition(key="doc_id", match=M.MatchValue(value=doc_id)),
            M.FieldCondition(key="sha", match=M.MatchValue(value=sha)),
            M.FieldCondition(key="dead", range=M.Range(gte=Q.ALIVE))]), wait=True)
    manifest = {k: v for k, v in snap.manifest.items() if k != "files"}
    manifest.update(stats, store_format=Q.STORE_FORMAT, source=source, collection=name, generation=g,
                    local_generation=snap.generation)
    c.upsert(name, [M.PointStruct(id=Q.manifest_id(g), vector={}, payload={
        "meta": g, "manifest": manifest, "documents": [d.to_json() for d in snap.documents],
        "boilerplate": np.flatnonzero(snap.passages.boilerplate).tolist()})], wait=True)
    c.upsert(name, [M.PointStruct(id=Q.HEAD_ID, vector={}, payload={"generation": g, "collection": name})],
             wait=True)                                          # readers move to g here
    if old:   # nothing older than g - 1 is visible to a reader any more
        c.delete(name, points_selector=M.FilterSelector(filter=M.Filter(should=[
            M.FieldCondition(key="dead", range=M.Range(lt=g - 1)),
            M.FieldCondition(key="meta", range=M.Range(lt=g - 1))])), wait=True)
    return f"{name}@{g}"


def _payload(c, name: str, point: str) -> dict | None:
    got = c.retrieve(name, [point], with_payload=True)
    return got[0].payload if got else None


def _encoder(manifest: dict) -> str:
    return (manifest.get("onnx") or {}).get("encoder") or "fp32"


def _create(c, name: str, dim: int, *, shards: int | None, replicas: int | None) -> None:
    """A new collection; on a cluster, `shards` and `replicas` (the store URL's ?shards=&replicas=)
    spread it over the nodes and keep copies (Qdrant's defaults are one shard, one copy)."""
    c.create_collection(name, shard_number=shards, replication_factor=replicas, vectors_config={
        Q.DENSE: M.VectorParams(size=dim, distance=M.Distance.DOT),    # unit vectors: dot = cosine
        Q.SENTENCES: M.VectorParams(size=dim, distance=M.Distance.DOT, hnsw_config=M.HnswConfigDiff(m=0),
                                    multivector_config=M.MultiVectorConfig(comparator=M.MultiVectorComparator.MAX_SIM))},
        sparse_vectors_config={Q.BM25: M.SparseVectorParams(modifier=M.Modifier.IDF)})
    with warnings.catch_warnings():    # local mode says payload indexes do nothing there
        warnings.simplefilter("ignore")
        for field, kind in (("doc_id", "KEYWORD"), ("sha", "KEYWORD"), ("author", "KEYWORD"), ("date", "KEYWORD"),
                            ("boilerplate", "BOOL"), ("born", "INTEGER"), ("dead", "INTEGER"), ("meta", "INTEGER")):
            c.create_payload_index(name, field, field_schema=getattr(M.PayloadSchemaType, kind))
