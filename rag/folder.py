"""The documents folder while its lock is held: listing, sizes, content hashes and the sidecar
(`.sources.json`: stored file name -> {original, source, added}), read once per session and kept in
step with every change. Every write is a temporary file and an atomic rename."""
from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

from . import files, readers
from .schema import RagError

SIDECAR = ".sources.json"


def sources(docs_dir: Path) -> dict[str, dict]:
    """The stored file -> {original, source, added} map ({} when there is none or it is unreadable)."""
    try:
        data = json.loads((docs_dir / SIDECAR).read_text(encoding="utf-8"))
        return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def documents(docs_dir: Path) -> list[Path]:
    return sorted(p for p in docs_dir.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in readers.SUFFIXES)


def write_atomic(path: Path, data: bytes) -> None:
    """rag.files.write_atomic, with a failure named as the documents folder's."""
    try:
        files.write_atomic(path, data)
    except OSError as exc:
        raise RagError(f"cannot write to the documents folder {path.parent}/ ({exc.strerror}); "
                       "free some space or choose a writable folder with --docs DIR") from None


@contextmanager
def locked(docs_dir: Path):
    try:
        docs_dir.mkdir(parents=True, exist_ok=True)
        lock = open(docs_dir / ".rag-lock", "a+")
    except OSError as exc:
        raise RagError(f"cannot write to the documents folder {docs_dir}/ ({exc.strerror}); "
                       "choose a writable folder with --docs DIR") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class Folder:
    """The documents folder while its lock is held: the listing, file sizes, content hashes (computed
    only for files whose size matches a new one) and the sidecar, kept in step with every change.
    The sidecar is written at most every SAVE_EVERY changes and when the session ends."""
    SAVE_EVERY = 200

    def __init__(self, docs_dir: Path):
        self.dir, self.known, self._pending = docs_dir, sources(docs_dir), 0
        self.sizes = {p.name: p.stat().st_size for p in documents(docs_dir)}
        self.by_size: dict[int, set[str]] = {}
        for name, size in self.sizes.items():
            self.by_size.setdefault(size, set()).add(name)
        self.taken = {n.lower() for n in os.listdir(docs_dir)}
        self._sha: dict[str, str] = {}

    def same_content(self, size: int, sha: str) -> str | None:
        """A stored file with these bytes (hashing only the files of the same size, once each)."""
        for name in sorted(self.by_size.get(size, ())):
            if name not in self._sha:
                self._sha[name] = files.file_sha256(self.dir / name)
            if self._sha[name] == sha:
                return name
        return None

    def free(self, name: str) -> str:
        stem, dot, ext = name.rpartition(".")
        stem, ext = (stem, "." + ext) if dot else (name, "")
        n, out = 1, name
        while out.lower() in self.taken:
            n += 1
            out = f"{stem}-{n}{ext}"
        return out

    def put(self, name: str, data: bytes, sha: str) -> None:
        write_atomic(self.dir / name, data)
        self.drop_size(name)
        self.sizes[name], self._sha[name] = len(data), sha
        self.by_size.setdefault(len(data), set()).add(name)
        self.taken.add(name.lower())

    def drop(self, name: str) -> None:
        (self.dir / name).unlink(missing_ok=True)
        self.drop_size(name)
        self.known.pop(name, None), self._sha.pop(name, None)
        self.taken.discard(name.lower())

    def drop_size(self, name: str) -> None:
        if name in self.sizes:
            self.by_size[self.sizes.pop(name)].discard(name)

    def save(self, force: bool = False) -> None:
        self._pending += 1
        if force or self._pending >= self.SAVE_EVERY:
            write_atomic(self.dir / SIDECAR, json.dumps(self.known, indent=1, ensure_ascii=False).encode("utf-8"))
            self._pending = 0


@contextmanager
def session(docs_dir: Path):
    """The folder, locked against other writers for the duration."""
    with locked(docs_dir):
        folder = Folder(docs_dir)
        try:
            yield folder
        finally:
            if folder._pending:
                folder.save(force=True)
