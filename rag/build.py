"""Documents folder -> a new published index generation. Unchanged documents (same file, same
sha256, same model) reuse their passages and vectors; only new or changed ones are embedded."""
from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from . import index as vindex
from . import ingest, library, readers, store
from . import passages as passage_table
from .config import Settings
from .lexical import Lexical
from .schema import BadInput, BuildReport, Document, Passage
from .snapshot import INGEST_VERSION, Snapshot

Progress = Callable[[str, int, int], None]   # (stage, done, total)


def document_files(docs_dir: Path) -> list[Path]:
    """The documents in a folder: visible .txt, .md, .html, .htm and .pdf files, sorted by name."""
    if not docs_dir.is_dir():
        raise BadInput(f"documents folder {docs_dir}/ does not exist; create it or pass --docs DIR")
    return sorted((p for p in docs_dir.iterdir()   # by name: the order of Paths in one folder, 3x cheaper
                   if p.is_file() and p.suffix.lower() in ingest.SUFFIXES and not p.name.startswith(".")),
                  key=lambda p: p.name)


def build(settings: Settings, get_embedder: Callable, previous: Snapshot | None = None,
          rebuild: bool = False, progress: Progress | None = None) -> BuildReport:
    """Ingest, embed what changed (in one batched pass), and publish atomically."""
    t0 = time.perf_counter()
    tick = progress or (lambda *a: None)
    library.ensure(settings)
    files = document_files(settings.docs_dir)
    old = previous if previous is not None and not rebuild and previous.reusable(settings) else None
    old_docs = {d.file: d for d in old.documents} if old else {}
    originals = {f: m.get("original", "") for f, m in library.sources(settings.docs_dir).items()}
    with store.Writer(settings.index_dir) as writer:
        slots, skipped, fresh, seen = [], [], [], set()      # slots: (Document, passages, vecs, sents) | None
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
                slots.append((prev, *_reuse(old, old.doc_rows.get(doc_id, np.zeros(0, np.int64)))))
            else:
                slots.append(None)
                fresh.append((len(slots) - 1, path, data, doc_id, sha, original))
        unchanged = [s[0].file for s in slots if s is not None]
        new, embedded = _ingest_new(settings, get_embedder, fresh, slots, skipped, tick) if fresh else ([], 0)
        slots = [s for s in slots if s is not None]
        if not slots:
            raise BadInput(f"no documents to index in {settings.docs_dir}/ (add .txt, .md, .html or .pdf files)"
                           + "".join(f"\n  skipped {f}: {r}" for f, r in skipped))
        docs = [s[0] for s in slots]
        removed = sorted(set(old_docs) - {d.file for d in docs}) if old else []
        same_files = old and [d.file for d in docs] == [d.file for d in old.documents]
        if same_files and not new and old.manifest.get("bm25") == _bm25_params(settings):
            return BuildReport(len(docs), len(old.passages), (), tuple(unchanged), (), tuple(skipped),
                               time.perf_counter() - t0, old.generation, rebuilt=False)
        dim = old.manifest["dim"] if old and not new else get_embedder().dim
        generation = _write(writer, settings, slots, dim, tick)
    return BuildReport(len(docs), sum(len(s[1]) for s in slots), tuple(new), tuple(unchanged), tuple(removed),
                       tuple(skipped), time.perf_counter() - t0, generation, rebuilt=True, embedded=embedded)


def _ingest_new(settings: Settings, get_embedder, fresh, slots, skipped, tick) -> tuple[list[str], int]:
    """Parse new or changed files, embed all their passages in one batched pass, fill their slots."""
    emb = get_embedder()
    parsed = []
    room = {"lead": "lead", "title": "all"}.get(settings.context, "none")
    for i, (slot, path, data, doc_id, sha, original) in enumerate(fresh):
        try:
            got = readers.read(path.name, data, settings.max_pages, settings.parse_seconds)
            doc, passages = ingest.parse(path.name, got.text, emb.count_tokens, emb.max_tokens, doc_id, sha,
                                         room, got, original, getattr(emb, "count_tokens_batch", None),
                                         getattr(emb, "counts_add_up", False))
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
    vecs, sents, counts = _embed(emb, flat, settings, tick)
    row = srow = 0
    for slot, doc, passages in parsed:
        n, m = len(passages), sum(counts[row:row + len(passages)])
        slots[slot] = (doc, passages, vecs[row:row + n], sents[srow:srow + m])
        row, srow = row + n, srow + m
    return [doc.file for _, doc, _ in parsed], len(flat)


def _unique(doc_id: str, seen: set, name: str) -> str:
    if doc_id in seen:
        doc_id = ingest.doc_id_for(name.replace(".", "_"))
    seen.add(doc_id)
    return doc_id


def _reuse(old: Snapshot, rows: np.ndarray):
    """An unchanged document's passages, vectors and sentence vectors, taken from the old generation."""
    passages = [old.passages[r] for r in rows.tolist()]
    vecs = vindex.take(old.vectors, rows)
    sents = np.vstack([old.sentences_of(r) for r in rows.tolist()] or [np.zeros((0, vecs.shape[1]), np.float32)])
    return passages, vecs, sents


def indexed_text(p: Passage, context: str, doc: Document | None) -> str:
    """What the model and BM25 see for a passage: its text, after the title or heading that
    `context` asks for (see Settings.context). Every piece of a split first paragraph gets the
    title; ingest left room for it in the window."""
    title = doc.title if doc else ""
    head = [title] if title and (context == "title" or context == "lead" and p.para == 1) else []
    head += [p.section] if context == "section" and p.section else []
    return ". ".join(head + [p.text])


def _embed(emb, flat: list[tuple[Document, Passage]], settings: Settings, tick: Progress):
    """Vectors for passages (and, for answers, their sentences) in one batched pass each."""
    def run(stage: str, texts: list[str]) -> np.ndarray:
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            tick(stage, done[0], len(texts))
        tick(stage, 0, len(texts))
        return emb.encode_passages(texts, step)
    vecs = run("embed", [indexed_text(p, settings.context, d) for d, p in flat])
    counts = [len(p.sentences) if settings.answer_vectors else 0 for _, p in flat]
    texts = [s for _, p in flat for s in p.sentence_texts()] if settings.answer_vectors else []
    sents = run("embed sentences", texts) if texts else np.zeros((0, vecs.shape[1]), np.float32)
    return vecs, sents.reshape(len(texts), vecs.shape[1]), counts


def _write(writer: store.Writer, settings: Settings, slots, dim: int, tick) -> str:
    docs = [s[0] for s in slots]
    passages = [p for s in slots for p in s[1]]
    vecs = np.vstack([s[2].reshape(-1, dim) for s in slots]).astype(np.float32)
    sents = np.vstack([s[3].reshape(-1, dim) for s in slots]).astype(np.float32)
    tick("write", 0, 1)
    writer.write("documents.json", json.dumps([d.to_json() for d in docs], ensure_ascii=False).encode("utf-8"))
    passage_table.write(writer, passages, docs)   # passages.jsonl and its row table rows.npy
    writer.write("vectors.faiss", vindex.to_bytes(vindex.build(vecs)))
    buf = _npy(sents)
    writer.write("sentences.npy", buf)
    by_doc = {d.doc_id: d for d in docs}
    Lexical.build([indexed_text(p, settings.context, by_doc.get(p.doc_id)) for p in passages],
                  settings.bm25_k1, settings.bm25_b,
                  settings.stopwords).save(writer.tmp / "bm25")
    writer.add_folder("bm25")
    manifest = {"model": settings.model, "dim": int(dim), "normalized": True, "metric": "inner_product",
                "context": settings.context, "bm25": _bm25_params(settings),
                "answer_vectors": settings.answer_vectors, "onnx": _onnx_hashes(settings),
                "faiss_version": vindex.FAISS_VERSION, "ingest_version": INGEST_VERSION,
                "passages": len(passages), "sentences": int(len(sents)),
                "documents": {d.doc_id: {"file": d.file, "sha256": d.sha256, "passages": len(ps)}
                              for d, ps, *_ in slots},
                "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    name = writer.publish(manifest)
    tick("write", 1, 1)
    return name


def _onnx_hashes(settings: Settings) -> dict:
    """The sha256 of the model's ONNX export files, when an export exists (else {})."""
    from .embed import onnx_dir_for
    try:
        meta = json.loads((onnx_dir_for(settings.index_dir, settings.model) / "export.json").read_text("utf-8"))
        return dict(meta["sha256"]) if meta.get("model") == settings.model else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _bm25_params(settings: Settings) -> dict:
    return {"k1": settings.bm25_k1, "b": settings.bm25_b, "stopwords": settings.stopwords}


def _npy(array: np.ndarray) -> bytes:
    import io
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()
