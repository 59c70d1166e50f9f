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
from . import ingest, store
from .config import Settings
from .lexical import Lexical
from .schema import BadInput, BuildReport, Document, Passage
from .snapshot import INGEST_VERSION, Snapshot

Progress = Callable[[str, int, int], None]   # (stage, done, total)


def document_files(docs_dir: Path) -> list[Path]:
    """The documents in a folder: visible .txt/.md files, sorted by name."""
    if not docs_dir.is_dir():
        raise BadInput(f"documents folder {docs_dir}/ does not exist; create it or pass --docs DIR")
    return sorted(p for p in docs_dir.iterdir()
                  if p.is_file() and p.suffix.lower() in ingest.SUFFIXES and not p.name.startswith("."))


def build(settings: Settings, get_embedder: Callable, previous: Snapshot | None = None,
          rebuild: bool = False, progress: Progress | None = None) -> BuildReport:
    """Ingest, embed what changed, and publish atomically. Returns what was done."""
    t0 = time.perf_counter()
    tick = progress or (lambda *a: None)
    files = document_files(settings.docs_dir)
    old = previous if previous is not None and not rebuild and previous.reusable(settings) else None
    old_docs = {d.file: d for d in old.documents} if old else {}
    with store.Writer(settings.index_dir) as writer:
        docs, parts, skipped, new, unchanged, seen = [], [], [], [], [], set()
        to_parse: list[tuple[Path, str, str]] = []
        for path in files:
            try:
                data = _read(path, settings.max_file_bytes)
            except ingest.UnsupportedDocument as exc:
                skipped.append((path.name, str(exc)))
                continue
            sha = hashlib.sha256(data).hexdigest()
            doc_id = _unique(ingest.doc_id_for(path.name), seen, path.name)
            prev = old_docs.get(path.name)
            if prev is not None and prev.sha256 == sha and prev.doc_id == doc_id:
                rows = old.doc_rows.get(doc_id, np.zeros(0, dtype=np.int64))
                docs.append(prev)
                parts.append(_reuse(old, rows))
                unchanged.append(path.name)
            else:
                to_parse.append((path, doc_id, sha))
                docs.append(None)
                parts.append(None)
        embedded = 0
        if to_parse:
            emb = get_embedder()
            slots = [i for i, d in enumerate(docs) if d is None]
            for slot, (path, doc_id, sha) in zip(slots, to_parse):
                try:
                    text = ingest.decode(_read(path, settings.max_file_bytes), path.name)
                    doc, passages = ingest.parse(path.name, text, emb.count_tokens, emb.max_tokens, doc_id, sha)
                except ingest.UnsupportedDocument as exc:
                    skipped.append((path.name, str(exc)))
                    continue
                if not passages:
                    skipped.append((path.name, f"{path.name}: no text to index (empty file)"))
                    continue
                docs[slot], parts[slot] = doc, _embed(emb, passages, settings.context, doc, tick)
                new.append(path.name)
                embedded += len(passages)
        keep = [i for i, d in enumerate(docs) if d is not None and parts[i] is not None]
        docs = [docs[i] for i in keep]
        parts = [parts[i] for i in keep]
        if not docs:
            raise BadInput(f"no documents to index in {settings.docs_dir}/ (add .txt or .md files)"
                           + "".join(f"\n  skipped {f}: {r}" for f, r in skipped))
        removed = sorted(set(old_docs) - {d.file for d in docs}) if old else []
        same_files = old and [d.file for d in docs] == [d.file for d in old.documents]
        if same_files and not new and old.manifest.get("bm25") == _bm25_params(settings):
            return BuildReport(len(docs), len(old.passages), (), tuple(unchanged), (), tuple(skipped),
                               time.perf_counter() - t0, old.generation, rebuilt=False)
        dim = old.manifest["dim"] if old and not new else get_embedder().dim
        generation = _write(writer, settings, docs, parts, dim, tick)
    n = sum(len(p[0]) for p in parts)
    return BuildReport(len(docs), n, tuple(new), tuple(unchanged), tuple(removed), tuple(skipped),
                       time.perf_counter() - t0, generation, rebuilt=True, embedded=embedded)


def _read(path: Path, limit: int) -> bytes:
    size = path.stat().st_size
    if size > limit:
        raise ingest.UnsupportedDocument(f"{path.name}: {size:,} bytes is over the {limit:,}-byte limit "
                                         "(RAG_MAX_FILE_BYTES); split the file or raise the limit")
    return path.read_bytes()


def _unique(doc_id: str, seen: set, name: str) -> str:
    if doc_id in seen:
        doc_id = ingest.doc_id_for(name.replace(".", "_"))
    seen.add(doc_id)
    return doc_id


def _reuse(old: Snapshot, rows: np.ndarray):
    passages = [old.passages[r] for r in rows.tolist()]
    vecs = vindex.take(old.vectors, rows)
    sents = np.vstack([old.sentences_of(r) for r in rows.tolist()] or [np.zeros((0, vecs.shape[1]), np.float32)])
    return passages, vecs, sents


def embed_text(p: Passage, context: str, doc: Document) -> str:
    """What the dense model sees for a passage: its text, after its section heading (and title)."""
    head = [doc.title] if context == "title" and doc.title else []
    head += [p.section] if context in ("section", "title") and p.section else []
    return ": ".join(head + [p.text])


def _embed(emb, passages: list[Passage], context: str, doc: Document, tick: Progress):
    total = len(passages)
    done = [0]

    def step(n):
        done[0] += n
        tick("embed", done[0], total)
    vecs = emb.encode_passages([embed_text(p, context, doc) for p in passages], step)
    sents = emb.encode_passages([s for p in passages for s in p.sentence_texts()])
    return passages, vecs, sents


def _write(writer: store.Writer, settings: Settings, docs: list[Document], parts, dim: int, tick) -> str:
    passages = [p for ps, _, _ in parts for p in ps]
    vecs = np.vstack([v for _, v, _ in parts]).astype(np.float32)
    sents = np.vstack([s for _, _, s in parts]).astype(np.float32)
    tick("write", 0, 1)
    writer.write("documents.json", json.dumps([d.to_json() for d in docs], ensure_ascii=False).encode("utf-8"))
    writer.write("passages.jsonl", "".join(json.dumps(p.to_json(), ensure_ascii=False) + "\n"
                                           for p in passages).encode("utf-8"))
    writer.write("vectors.faiss", vindex.to_bytes(vindex.build(vecs)))
    buf = _npy(sents)
    writer.write("sentences.npy", buf)
    Lexical.build([p.text for p in passages], settings.bm25_k1, settings.bm25_b,
                  settings.stopwords).save(writer.tmp / "bm25")
    writer.add_folder("bm25")
    manifest = {"model": settings.model, "dim": int(dim), "normalized": True, "metric": "inner_product",
                "context": settings.context, "bm25": _bm25_params(settings),
                "faiss_version": vindex.FAISS_VERSION, "ingest_version": INGEST_VERSION,
                "passages": len(passages), "sentences": int(len(sents)),
                "documents": {d.doc_id: {"file": d.file, "sha256": d.sha256,
                                         "passages": sum(p.doc_id == d.doc_id for p in passages)} for d in docs},
                "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    name = writer.publish(manifest)
    tick("write", 1, 1)
    return name


def _bm25_params(settings: Settings) -> dict:
    return {"k1": settings.bm25_k1, "b": settings.bm25_b, "stopwords": settings.stopwords}


def _npy(array: np.ndarray) -> bytes:
    import io
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()
