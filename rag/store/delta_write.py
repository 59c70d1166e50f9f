"""Writing an update over the current generation, in seconds whatever the index's size (the layout is
in rag.store.delta). The new generation hard-links the base's large files (rag.store.publish.Writer.link)
and writes only what changed: the row table, the document list, the rows added since the base (with
their vectors, sentence vectors and forward keyword arrays), the removed base rows, and the keyword
statistics. A kill at any point leaves the old generation whole (its files are never written) or the
new one published. Past Settings.compact_share the update is not planned and the build writes the
index anew instead (compaction); `rag index --compact` asks for that at any time.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import index as vindex
from .. import lexical_forward as F
from ..lexical import tokenize
from ..schema import Document
from . import delta, generation, layout
from . import passages as passage_table

# The added rows are searched exactly beside the base: 3.3 ms a question at 50k rows (rag.index), so
# past this many the index is written anew whatever Settings.compact_share allows.
DELTA_MAX_ROWS = 50_000
BASE = ("passages.jsonl", "sentences.npy", "vectors.faiss")   # and their block sums, and bm25/
BM25S = ("params.index.json",)   # of a bm25s base, read besides its forward arrays


@dataclass(frozen=True)
class Plan:
    base_docs: list[Document]       # documents whose rows stay in the base, in its order
    slots: list                     # the documents of the delta (generation.Slot), in order
    removed: np.ndarray             # base rows taken out, sorted


def plan(old, slots: list, settings, *, reuse: Callable) -> Plan | None:
    """How to turn the generation `old` into the documents of `slots` (an unchanged Document of `old`,
    or a new generation.Slot each) as an update; None when it must be written anew instead: its
    keyword index has no forward arrays (built before they were saved), the keyword settings changed,
    the index is smaller than Settings.update_min_rows, or the added and removed rows would pass
    Settings.compact_share of the base or DELTA_MAX_ROWS; or the index is staged for a remote store
    (Qdrant applies changes in place itself, from a staged generation written whole)."""
    if (settings.store != "local" or len(old.passages) < settings.update_min_rows or not _live(old, settings)
            or not F.has_forward(old.folder / "bm25") or old.manifest.get("bm25") != generation.bm25_params(settings)):
        return None
    update = old.update
    base = update.base if update else len(old.passages)
    kept = {s.doc_id for s in slots if isinstance(s, Document)}
    base_docs, carried = [], []
    removed = [update.removed] if update else []
    for doc in old.documents:
        lo, hi = old.passages.document_rows(doc.doc_id)
        if doc.doc_id in kept:
            (base_docs if hi <= base else carried).append(doc)
        elif hi <= base:
            removed.append(np.arange(lo, hi, dtype=np.int64))
    new = [s for s in slots if isinstance(s, generation.Slot)]
    added = sum(len(s.passages) for s in new) + sum(old.passages.size_of(d.doc_id) for d in carried)
    out = np.unique(np.concatenate(removed)) if removed else np.zeros(0, np.int64)
    if added + len(out) > settings.compact_share * base or added > DELTA_MAX_ROWS or not base_docs:
        return None
    return Plan(base_docs, [reuse(old, d) for d in carried] + new, out.astype(np.int64))


def write(writer, settings, old, plan: Plan, *, dim: int, tick: Callable[[str, int, int], None]) -> str:
    """Write the update `plan` over `old` into `writer`'s generation and publish it."""
    update = old.update
    base = update.base if update else len(old.passages)
    base_sentences = update.sentences if update else len(old.sentences)
    tick("write", 0, generation.WRITE_STEPS)
    for name, record in old.manifest["files"].items():
        if name.startswith("bm25/") or name in BASE or name.removesuffix(".sums") in BASE:
            writer.link(name, old.folder / name, record)
    docs = plan.base_docs + [s.doc for s in plan.slots]
    writer.write("documents.json", json.dumps([d.to_json() for d in docs], ensure_ascii=False).encode("utf-8"))
    passages = [p for s in plan.slots for p in s.passages]
    lines = [passage_table.line(p) for p in passages]
    writer.write("delta/passages.jsonl", b"".join(lines))
    at = {d.doc_id: i for i, d in enumerate(docs)}
    renumber = np.array([at.get(d.doc_id, -1) for d in old.documents] + [-1], dtype=np.int32)
    table = layout.read_checked(old.folder, old.manifest, ["rows.npy"])["rows.npy"]   # read again: not held
    table = np.load(io.BytesIO(table), allow_pickle=False)[:base].copy()
    table["doc"] = renumber[table["doc"]]           # (a removed row stays -1)
    table["doc"][plan.removed] = -1                 # a changed document's old rows too (same doc_id)
    added = passage_table.row_table([len(line) for line in lines], passages, docs)
    added["offset"] += int(old.manifest["files"]["passages.jsonl"]["bytes"])
    writer.write("rows.npy", _npy(np.concatenate([table, added])))
    tick("write", 1, generation.WRITE_STEPS)
    vecs = np.vstack([s.vectors().reshape(-1, dim) for s in plan.slots] or [np.zeros((0, dim), np.float32)])
    writer.write("delta/vectors.faiss", vindex.to_bytes(vindex.build(vecs, ann_min_rows=len(vecs) + 1)))
    writer.write("delta/removed.npy", _npy(plan.removed))
    tick("write", 2, generation.WRITE_STEPS)
    sentences = generation.write_npy(writer, "delta/sentences.npy", (s.sentences() for s in plan.slots),
                                     rows=sum(s.sentence_rows for s in plan.slots), dim=dim)
    tick("write", 3, generation.WRITE_STEPS)
    tokens = [tokenize(t, settings.stopwords) or [""] for s in plan.slots for t in s.indexed(settings.context)]
    _keyword(writer, old, plan.removed, tokens, base=base, settings=settings)
    tick("write", 4, generation.WRITE_STEPS)
    counts = [(d, old.passages.size_of(d.doc_id)) for d in plan.base_docs]
    manifest = generation.describe(settings, dim=dim, passages=base + len(passages),
                                   sentences=base_sentences + sentences,
                                   documents=counts + [(s.doc, len(s.passages)) for s in plan.slots])
    manifest["delta"] = delta.describe(base, len(passages), base_sentences, len(plan.removed))
    name = writer.publish(manifest)
    tick("write", generation.WRITE_STEPS, generation.WRITE_STEPS)
    return name


def _keyword(writer, old, removed: np.ndarray, tokens: list[list[str]], *, base: int, settings) -> None:
    """delta/bm25/: the added rows' forward arrays (term ids going on from the base's vocabulary), the
    live document frequencies and statistics; under a bm25s base also delta/bm25s/, its score matrix
    over every row, from the forward arrays."""
    bm25s = not (old.folder / "bm25" / "tantivy").is_dir()
    got = layout.read_checked(old.folder, old.manifest, [f"bm25/{n}" for n in (*F.NAMES, *(BM25S if bm25s else ()))])
    base_fwd = {n: np.load(io.BytesIO(got[f"bm25/{n}.npy"]), allow_pickle=False) for n in F.FORWARD}
    text = got["bm25/vocab.txt"].decode("utf-8")
    vocab = {t: i for i, t in enumerate(text.split("\n"))} if text else {}
    known = len(vocab)
    vocab, lengths, indptr, terms, tfs = F.forward_index(tokens, vocab)
    fwd = {"lengths": lengths, "indptr": indptr, "terms": terms, "tfs": tfs}
    gone = np.asarray(base_fwd["terms"][F.entries(base_fwd, removed)], dtype=np.int64)
    df = np.zeros(len(vocab), np.int64)
    df[:known] = np.load(io.BytesIO(got["bm25/df.npy"]), allow_pickle=False)
    df += np.bincount(terms, minlength=len(vocab)) - np.bincount(gone, minlength=len(vocab))
    live = base - len(removed) + len(tokens)
    base_lengths = np.asarray(base_fwd["lengths"], dtype=np.int64)
    avglen = float(base_lengths.sum() - base_lengths[removed].sum() + lengths.sum()) / live if live else 1.0
    for name in F.FORWARD:
        writer.write(f"delta/bm25/{name}.npy", _npy(fwd[name]))
    writer.write("delta/bm25/df.npy", _npy(df))
    writer.write("delta/bm25/added.txt", "\n".join(list(vocab)[known:]).encode("utf-8"))
    writer.write("delta/bm25/stats.json", json.dumps({"avglen": avglen}).encode("utf-8"))
    if not bm25s:
        return
    fwd["avglen"] = avglen
    dead = delta.dead_mask(base, removed)
    data, rows, ptr = F.bm25s_matrix([(base_fwd, dead), (fwd, None)], idf=F.idf(df, live), avglen=avglen,
                                     k1=settings.bm25_k1, b=settings.bm25_b)
    params = json.loads(got["bm25/params.index.json"])
    params["num_docs"] = base + len(tokens)
    for name, array in (("data", data), ("indices", rows), ("indptr", ptr)):
        writer.write(f"delta/bm25s/{name}.csc.index.npy", _npy(array))
    writer.write("delta/bm25s/vocab.index.json", json.dumps(vocab, ensure_ascii=False).encode("utf-8"))
    writer.write("delta/bm25s/params.index.json", json.dumps(params, indent=4).encode("utf-8"))


def _live(old, settings) -> bool:
    """Whether `old` is still the published generation (the build holds the lock now), so that its
    files are there to be shared."""
    try:
        return layout.read_current(settings.index_dir) == old.generation
    except (OSError, UnicodeDecodeError):
        return False


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()
