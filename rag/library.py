"""The documents folder as the source of truth: add files (copied in under safe names), remove them,
and remember each file's original name. Indexing is the build's job; this module only changes files.

`.sources.json` in the folder maps a stored file name to {original, source, added}. Every change is
a write to a temporary file and an atomic rename, under a lock on the folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

from . import folder as F
from . import readers
from .ingest import doc_id_for
from .config import DEFAULT_DOCS, Settings
from .schema import Added, BadInput

SIDECAR, sources = F.SIDECAR, F.sources   # re-exported: the app and CLI read the sidecar
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def safe_name(original: str) -> str:
    """A file name that is safe in any folder: no path, no hidden or reserved name, ASCII letters,
    digits, '_', '-' and '.' only, at most 80 characters, the extension lowercased."""
    base = unicodedata.normalize("NFKD", original.replace("\\", "/").split("/")[-1])
    base = "".join(c for c in base if not unicodedata.combining(c))        # é -> e
    stem, dot, ext = base.rpartition(".")
    stem, ext = (stem, ext) if dot else (base, "")
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("._-")[:80] or "document"
    if stem.lower() in _RESERVED:
        stem = "doc_" + stem
    ext = re.sub(r"[^a-z0-9]", "", ext.lower())
    return f"{stem}.{ext}" if ext else stem


def ensure(settings: Settings) -> None:
    """On first use, create the default documents folder as a copy of the seed corpus (atomically:
    a copy under a temporary name, then one rename), so added documents never touch seeds/."""
    docs, seeds = settings.docs_dir, settings.seed_dir
    if docs.exists() or docs != DEFAULT_DOCS or not seeds.is_dir():
        return
    tmp = docs.parent / f".tmp-{docs.name}-{os.getpid()}"
    try:
        shutil.copytree(seeds, tmp, ignore=shutil.ignore_patterns(".*"))
        os.rename(tmp, docs)
    except OSError:                          # another process made it first, or no room: say so later
        shutil.rmtree(tmp, ignore_errors=True)


def collect(paths: list[Path]) -> list[Path]:
    """Files named, and the supported files inside named folders (recursively, hidden ones skipped)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in readers.SUFFIXES
                          and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file():
            out.append(path)
        else:
            raise BadInput(f"{path} does not exist; give files or folders to add")
    return out


def add_files(settings: Settings, paths: list[Path]) -> list[Added]:
    """Copy files into the documents folder. A file re-added from the same place replaces its
    earlier copy; another file with a taken name gets a new safe name; same content is skipped.
    The folder is listed, and its sidecar read and written, once for the whole batch."""
    out = []
    ensure(settings)
    with F.session(settings.docs_dir) as folder:
        for path in collect(paths):
            try:
                data = readers.load_file(path, settings.max_file_bytes)
            except readers.UnsupportedDocument as exc:
                out.append(Added(path.name, status="refused", detail=str(exc)))
                continue
            out.append(_store(settings, folder, path.name, data=data, source=str(path.resolve())))
    return out


def store_bytes(settings: Settings, original: str, data: bytes, *, source: str = "", server_name: bool = False,
                replace_same_name: bool = False) -> Added:
    """Validate one file (it must parse) and store it. `server_name` names it `upload-<sha>.<ext>`,
    never from the client's name; `replace_same_name` replaces a document of the same original name."""
    ensure(settings)
    with F.session(settings.docs_dir) as folder:
        return _store(settings, folder, original, data=data, source=source, server_name=server_name,
                      replace_same_name=replace_same_name)


def _store(settings: Settings, folder: F.Folder, original: str, *, data: bytes, source: str = "",
           server_name: bool = False, replace_same_name: bool = False) -> Added:
    if len(data) > settings.max_file_bytes:
        return Added(original, status="refused", detail=str(readers.too_big(original, len(data), settings.max_file_bytes)))
    name = safe_name(original)
    ext = "." + name.rpartition(".")[2] if "." in name else ""
    try:
        if ext not in readers.SUFFIXES:
            raise readers.UnsupportedDocument(f"{original}: unsupported file type; use {', '.join(readers.SUFFIXES)}")
        if not readers.read(name, data, max_pages=settings.max_pages, seconds=settings.parse_seconds).text.strip():
            raise readers.UnsupportedDocument(f"{original}: no text to index")
    except readers.UnsupportedDocument as exc:
        return Added(original, status="refused", detail=str(exc))
    sha = hashlib.sha256(data).hexdigest()
    known = folder.known
    same = folder.same_content(len(data), sha)
    if same:
        shown = known.get(same, {}).get("original") or same
        return Added(original, same, "duplicate", f"{original}: same content as {shown}; not added twice")
    old = [f for f, m in known.items() if f in folder.sizes and ((source and m.get("source") == source)
           or (replace_same_name and m.get("original") == original))]
    name = f"upload-{sha[:16]}{ext}" if server_name else (old[0] if old else folder.free(name))
    folder.put(name, data, sha)
    for f in old:
        if f != name:
            folder.drop(f)
    known[name] = {"original": original, "source": source,
                   "added": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    folder.save()
    return Added(original, name, "updated" if old else "added")


def remove(settings: Settings, names: list[str]) -> list[str]:
    """Delete documents named by file name, document id or original name; returns the stored names."""
    docs_dir = settings.docs_dir
    ensure(settings)
    with F.locked(docs_dir):
        known, files = F.sources(docs_dir), F.documents(docs_dir)
        chosen = []
        for name in names:
            hits = [p.name for p in files if name in _keys(p.name, known)]
            if not hits:
                raise BadInput(f"no document named {name!r} in {docs_dir}/; `rag list` shows the names")
            if len(hits) > 1:
                raise BadInput(f"{name!r} names {len(hits)} documents ({', '.join(hits)}); use one of those file names")
            chosen.append(hits[0])
        for name in chosen:
            (docs_dir / name).unlink(missing_ok=True)
            known.pop(name, None)
        F.write_atomic(docs_dir / F.SIDECAR, json.dumps(known, indent=1, ensure_ascii=False).encode("utf-8"))
    return chosen


def _keys(file: str, known: dict) -> set[str]:
    original = known.get(file, {}).get("original", "")
    return {file, Path(file).stem, doc_id_for(file)} | ({original, Path(original).stem} if original else set())


