"""The points of one generation in Qdrant (rag.store.qdrant_write publishes them): a passage's point
(vector, sentence multivector, sparse BM25 vector, payload) and the generation's vocabulary points.

Sparse values are bm25s's "lucene" term weights, tf / (tf + k1 * (1 - b + b * dl / avgdl)), from the
local index's analyser (rag.lexical.tokenize), k1 and b; the collection's IDF modifier multiplies
them by ln(1 + (N - n + 0.5) / (n + 0.5)), bm25s's idf. avgdl moves with the corpus: a reader
weighs older points again from their stored dl and avgdl (rag.store.qdrant_bm25.reweigh)."""
from __future__ import annotations

from collections import Counter

import numpy as np
from qdrant_client import models as M

from ..filters import iso_date
from ..lexical import tokenize
from . import qdrant as Q
from .generation import indexed_text
from .snapshot import Snapshot

BATCH = 256     # points per upsert: a few MB of vectors per request


def fill(c, name: str, snap: Snapshot, settings, *, g: int, skip: set, vocab: tuple[dict, int]) -> dict:
    """Upsert the points of the documents not in `skip`, then the vocabulary of generation g."""
    by_doc = {d.doc_id: d for d in snap.documents}
    context, (k1, b) = snap.manifest.get("context", settings.context), (snap.manifest["bm25"]["k1"],
                                                                        snap.manifest["bm25"]["b"])
    stop = snap.manifest["bm25"].get("stopwords", settings.stopwords)

    def tokens(p):
        return tokenize(indexed_text(p, context, by_doc.get(p.doc_id)), stop) or [""]   # as Lexical.build
    df: Counter = Counter()
    lengths = []
    removed = snap.passages.removed               # rows an update took out (rag.store.delta): not counted
    for row, p in enumerate(snap.passages):       # pass 1: document frequencies and lengths, of all rows
        toks = tokens(p)
        lengths.append(len(toks))
        if removed is None or not removed[row]:
            df.update(set(toks) - {""})
    live = np.array(lengths)[~removed] if removed is not None else np.array(lengths)
    avgdl = float(live.mean()) if len(live) else 1.0
    known, next_tid = vocab
    tid = {t: known[t] for t in df if t in known}
    for t in sorted(set(df) - set(tid)):          # new terms get new sparse indexes; old ones keep theirs
        tid[t], next_tid = next_tid, next_tid + 1
    for d in snap.documents:                      # pass 2: the points of new and changed documents
        if (d.doc_id, d.sha256) in skip:
            continue
        lo, hi = snap.passages.document_rows(d.doc_id)
        for a in range(lo, hi, BATCH):
            z = min(hi, a + BATCH)
            c.upsert(name, [point(snap, p, row, d, tid=tid, dl=lengths[row], avgdl=avgdl, k1=k1, b=b, g=g,
                                   tokens=tokens(p), vec=v)
                            for row, p, v in zip(range(a, z), snap.passages.rows(a, z),
                                                 snap.vectors_of(np.arange(a, z)))], wait=True)
    shards = max(1, -(-len(tid) // Q.TERMS_PER_SHARD))
    parts: list[dict] = [{} for _ in range(shards)]
    for t, i in tid.items():
        parts[Q.shard_of(t, shards)][t] = [i, df[t]]
    for a in range(0, shards, 8):
        c.upsert(name, [M.PointStruct(id=Q.shard_id(g, i), vector={}, payload={"meta": g, "terms": parts[i]})
                        for i in range(a, min(shards, a + 8))], wait=True)
    return {"avgdl": avgdl, "terms": len(tid), "term_shards": shards, "next_tid": next_tid}


def point(snap: Snapshot, p, row: int, d, *, tid, dl, avgdl, k1, b, g, tokens, vec) -> M.PointStruct:
    counts = Counter(t for t in tokens if t)
    tf = np.array(list(counts.values()), dtype=np.float32)
    weights = tf / (k1 * ((1 - b) + b * dl / np.float64(avgdl)) + tf)      # bm25s _score_tfc_lucene
    vector = {Q.DENSE: vec.tolist(), Q.BM25: M.SparseVector(indices=[tid[t] for t in counts], values=weights.tolist())}
    a, z = int(snap.sentence_start[row]), int(snap.sentence_start[row + 1])
    if len(snap.sentences) and z > a:
        vector[Q.SENTENCES] = snap.sentences.span(a, z).tolist()
    lo = snap.passages.document_rows(d.doc_id)[0]
    return M.PointStruct(id=Q.point_id(d.sha256, d.doc_id, row - lo), vector=vector, payload={
        "doc_id": d.doc_id, "sha": d.sha256, "ord": row - lo, "born": g, "dead": Q.ALIVE, "dl": dl, "avgdl": avgdl,
        "author": d.author, "date": iso_date(d.date), "label": d.label, "boilerplate": p.boilerplate,
        "passage": p.to_json()})


def vocabulary(c, name: str, old: dict | None) -> tuple[dict, int]:
    """The previous generation's term -> sparse index, and the next free index."""
    if not old:
        return {}, 0
    m = old["manifest"]
    ids = [Q.shard_id(m["generation"], i) for i in range(int(m["term_shards"]))]
    known = {}
    for a in range(0, len(ids), 64):
        for r in c.retrieve(name, ids[a:a + 64], with_payload=True):
            known.update({t: int(v[0]) for t, v in r.payload["terms"].items()})
    return known, int(m["next_tid"])
