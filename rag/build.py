"""Documents folder -> a new published index generation. Unchanged documents (same file, same
sha256, same model) reuse their passages and vectors; only new or changed ones are embedded."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Callable

import numpy as np

from . import ingest, library, readers
from .config import Settings
from .schema import BadInput, BuildReport, Document, Passage
from .store import delta_write, generation, publish
from .store.generation import indexed_text
from .store.snapshot import Snapshot

Progress = Callable[[str, int, int], None]   # (stage, done, total)
# Sentences per encoder call when building: their vectors (4 per passage, 6 GB at a million
# passages) wait on disk for the write instead of in memory. Batches are still length-sorted
# within each call, so the vectors equal those of one call to within float rounding.
SPILL_ROWS = 65_536


def document_files(docs_dir: Path) -> list[Path]:
    """The documents in a folder: visible .txt, .md, .html, .htm and .pdf files, sorted by name."""
    if not docs_dir.is_dir():
        raise BadInput(f"documents folder {docs_dir}/ does not exist; create it or pass --docs DIR")
    return sorted((p for p in docs_dir.iterdir()   # by name: the order of Paths in one folder, 3x cheaper
                   if p.is_file() and p.suffix.lower() in ingest.SUFFIXES and not p.name.startswith(".")),
                  key=lambda p: p.name)


def build(settings: Settings, get_embedder: Callable, *, previous: Snapshot | None = None,
          rebuild: bool = False, compact: bool = False, progress: Progress | None = None) -> BuildReport:
    """Ingest, embed what changed (in one batched pass), and publish atomically: as an update over the
    previous generation when it is small enough (rag.store.delta_write), else written whole (always
    with `compact`, which also rewrites an unchanged folder's updated index)."""
    t0 = time.perf_counter()
    tick = progress or (lambda *a: None)
    library.ensure(settings)
    files = document_files(settings.docs_dir)
    stale = previous.stale(settings) if previous is not None and not rebuild else ""
    old = previous if previous is not None and not rebuild and not stale else None
    old_docs = {d.file: d for d in old.documents} if old else {}
    originals = {f: m.get("original", "") for f, m in library.sources(settings.docs_dir).items()}
    with publish.Writer(settings.index_dir) as writer:
        slots, skipped, fresh, seen = [], [], [], set()   # a Slot; an unchanged Document; None until parsed
        shas: dict[str, str] = {}
        for path in files:
            try:
                data = readers.load_file(path, settings.max_file_bytes)
            except ingest.UnsupportedDocument as exc:
                skipped.append((path.name, str(exc)))
                continue
            sha = hashlib.sha256(data).hexdigest()
            if sha in shas:
                skipped.append((path.name, f"{path.name}: same content as {shas[sha]}; not indexed twice"))
                continue
            shas[sha] = path.name
            doc_id = _unique(ingest.doc_id_for(path.name), seen, path.name)
            prev = old_docs.get(path.name)
            original = originals.get(path.name, "")
            if prev is not None and prev.sha256 == sha and prev.doc_id == doc_id and prev.original == original:
                slots.append(prev)        # re-used from the old generation only if a new one is written
            else:
                slots.append(None)
                fresh.append((len(slots) - 1, path, data, doc_id, sha, original))
        unchanged = [s.file for s in slots if s is not None]
        new, embedded = (_ingest_new(settings, get_embedder, fresh, slots=slots, skipped=skipped, tick=tick,
                                     spill=writer.work_file("sentences.f32")) if fresh else ([], 0))
        slots = [s for s in slots if s is not None]
        if not slots:
            raise BadInput(f"no documents to index in {settings.docs_dir}/ (add .txt, .md, .html or .pdf files)"
                           + "".join(f"\n  skipped {f}: {r}" for f, r in skipped))
        docs = [s.doc if isinstance(s, generation.Slot) else s for s in slots]
        removed = sorted(set(old_docs) - {d.file for d in docs}) if old else []
        same_files = old and [d.file for d in docs] == [d.file for d in old.documents]
        if (same_files and not new and old.manifest.get("bm25") == generation.bm25_params(settings)
                and not (compact and old.update)):
            return BuildReport(len(docs), old.passages.live, (), tuple(unchanged), (), tuple(skipped),
                               time.perf_counter() - t0, old.generation, rebuilt=False)
        dim = old.manifest["dim"] if old and not new else get_embedder().dim
        update = delta_write.plan(old, slots, settings, reuse=_reuse) if old and not compact else None
        if update is not None:
            name = delta_write.write(writer, settings, old, update, dim=dim, tick=tick)
        else:
            reused = [i for i, s in enumerate(slots) if not isinstance(s, generation.Slot)]
            for k, i in enumerate(reused):
                slots[i] = _reuse(old, slots[i])
                if k % 200 == 0 or k == len(reused) - 1:
                    tick("reuse", k + 1, len(reused))
            name = generation.write(writer, settings, slots, dim=dim, tick=tick)
    rows = sum(len(s.passages) if isinstance(s, generation.Slot) else old.passages.size_of(s.doc_id) for s in slots)
    return BuildReport(len(docs), rows, tuple(new), tuple(unchanged), tuple(removed), tuple(skipped),
                       time.perf_counter() - t0, name, rebuilt=True, embedded=embedded, notice=stale,
                       written="update" if update is not None else "whole")


def _ingest_new(settings: Settings, get_embedder, fresh, *, slots, skipped, tick,
                spill: Path) -> tuple[list[str], int]:
    """Parse new or changed files, embed all their passages in one batched pass, fill their slots."""
    emb = get_embedder()
    parsed = []
    room = {"lead": "lead", "title": "all"}.get(settings.context, "none")
    tick("read", 0, len(fresh))
    for i, (slot, path, data, doc_id, sha, original) in enumerate(fresh):
        try:
            got = readers.read(path.name, data, max_pages=settings.max_pages, seconds=settings.parse_seconds)
            doc, passages = ingest.parse(path.name, got.text, count=emb.count_tokens, limit=emb.max_tokens,
                                         doc_id=doc_id, sha=sha, title_room=room, extracted=got,
                                         original=original, counts=emb.count_tokens_batch,
                                         adds_up=emb.counts_add_up)
        except ingest.UnsupportedDocument as exc:
            skipped.append((path.name, str(exc)))
            continue
        if passages:
            parsed.append((slot, doc, passages))
        else:
            skipped.append((path.name, f"{path.name}: no text to index (empty, or only whitespace)"))
        if i % 200 == 0 or i == len(fresh) - 1:
            tick("read", i + 1, len(fresh))
    flat = [(doc, p) for _, doc, ps in parsed for p in ps]
    vecs, counts, sentences = _embed(emb, flat, settings, tick=tick, spill=spill)
    row = srow = 0
    for slot, doc, passages in parsed:
        n, m = len(passages), sum(counts[row:row + len(passages)])
        slots[slot] = generation.Slot(doc, passages, vecs[row:row + n], m, lambda a=srow, m=m: sentences(a, m))
        row, srow = row + n, srow + m
    return [doc.file for _, doc, _ in parsed], len(flat)


def _unique(doc_id: str, seen: set, name: str) -> str:
    if doc_id in seen:
        doc_id = ingest.doc_id_for(name.replace(".", "_"))
    seen.add(doc_id)
    return doc_id


def _reuse(old: Snapshot, doc: Document) -> generation.Slot:
    """An unchanged document's passages and vectors, taken from the old generation; its sentence
    vectors are read from there when they are written (a block per document, never all at once)."""
    lo, hi = old.passages.document_rows(doc.doc_id)
    a, b = (int(old.sentence_start[lo]), int(old.sentence_start[hi])) if len(old.sentences) else (0, 0)
    return generation.Slot(doc, old.passages.rows(lo, hi), old.vectors_of(np.arange(lo, hi)),
                           b - a, lambda: old.sentences.span(a, b))


def _embed(emb, flat: list[tuple[Document, Passage]], settings: Settings, *, tick: Progress, spill: Path):
    """Vectors for the passages, in one batched pass; for answers, their sentences' vectors, encoded
    SPILL_ROWS at a time and written to `spill` as they come. Returns the passage vectors, the
    sentence count of each passage, and read(first, count) for rows of the sentence vectors."""
    def progress(stage: str, total: int) -> Callable[[int], None]:
        done = [0]
        tick(stage, 0, total)

        def step(n: int) -> None:
            done[0] += n
            tick(stage, done[0], total)
        return step
    vecs = emb.encode_passages([indexed_text(p, settings.context, d) for d, p in flat],
                               progress("embed", len(flat)))
    dim = vecs.shape[1]
    counts = [len(p.sentences) if settings.answer_vectors else 0 for _, p in flat]
    step = progress("embed sentences", sum(counts)) if sum(counts) else None

    def blocks():   # SPILL_ROWS sentence texts at a time, made as they are needed (not 4M strings at once)
        texts: list[str] = []
        for _, p in flat if settings.answer_vectors else ():
            texts += p.sentence_texts()
            while len(texts) >= SPILL_ROWS:
                yield texts[:SPILL_ROWS]
                texts = texts[SPILL_ROWS:]
        if texts:
            yield texts
    with open(spill, "wb") as f:
        for texts in blocks():
            block = np.ascontiguousarray(emb.encode_passages(texts, step), np.float32)
            f.write(block.reshape(-1, dim).data if block.size else b"")

    def read(first: int, count: int) -> np.ndarray:
        return np.fromfile(spill, np.float32, count=count * dim, offset=first * dim * 4).reshape(count, dim)
    return vecs, counts, read
