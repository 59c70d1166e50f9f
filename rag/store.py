"""The index folder on disk: immutable generations published atomically, one writer at a time,
and checksum-verified reads. Knows nothing of faiss or models; it moves bytes.

    index/CURRENT          -> "gen-000007"   (replaced atomically; readers follow it)
    index/gen-000007/      manifest.json (sha256 of every other file) + the data files
    index/.tmp-gen-000008-<pid>/   a build in progress; removed by the next build if abandoned
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

from .schema import IndexMismatch, IndexNotBuilt, RagError

FORMAT, VERSION = "rag-index", 1
_GEN = re.compile(r"^gen-(\d{6})$")
KEEP = 2   # generations kept on disk: the live one and the one before it


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def current(index_dir: Path) -> Path:
    """The live generation folder, or IndexNotBuilt."""
    try:
        name = (index_dir / "CURRENT").read_text(encoding="ascii").strip()
    except (FileNotFoundError, NotADirectoryError):
        raise IndexNotBuilt(f"no index in {index_dir}/ — run: python -m rag index") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexMismatch(f"{index_dir}/CURRENT is unreadable ({exc}); run: python -m rag index --rebuild") from None
    if not _GEN.match(name) or not (index_dir / name / "manifest.json").is_file():
        raise IndexMismatch(f"{index_dir}/CURRENT names {name[:40]!r}, which is not a complete index; "
                            "run: python -m rag index --rebuild")
    return index_dir / name


def read_verified(gen: Path) -> tuple[dict, dict[str, bytes]]:
    """The manifest and every file it lists, each checked against its size and sha256 before use."""
    try:
        manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
        files = manifest["files"]
        assert isinstance(files, dict)
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        raise IndexMismatch(f"{gen}/manifest.json is missing or corrupt; run: python -m rag index --rebuild") from None
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("version"), int):
        raise IndexMismatch(f"{gen} is not a rag index; run: python -m rag index --rebuild")
    if manifest["version"] > VERSION:
        raise IndexMismatch(f"index format v{manifest['version']} is newer than this program's v{VERSION}; "
                            "upgrade the program or run: python -m rag index --rebuild")
    data: dict[str, bytes] = {}
    for name, meta in files.items():
        path = (gen / name).resolve()
        if not path.is_relative_to(gen.resolve()):
            raise IndexMismatch(f"manifest lists a file outside {gen}; run: python -m rag index --rebuild")
        try:
            blob = path.read_bytes()
        except OSError:
            raise IndexMismatch(f"{gen.name}/{name} is missing; run: python -m rag index --rebuild") from None
        if len(blob) != meta.get("bytes") or sha256(blob) != meta.get("sha256"):
            raise IndexMismatch(f"{gen.name}/{name} failed its checksum (corrupt or from another build); "
                                "run: python -m rag index --rebuild")
        data[name] = blob
    return manifest, data


class Writer:
    """One build: an exclusive lock, a temporary folder, and an atomic publish."""

    def __init__(self, index_dir: Path):
        self.root = index_dir
        try:
            index_dir.mkdir(parents=True, exist_ok=True)
            self._lock = open(index_dir / ".lock", "a+")
        except OSError as exc:
            raise RagError(f"cannot write to {index_dir}/ ({exc.strerror}); make it writable or "
                           "choose another place with --index") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.seek(0)
            pid = self._lock.read().strip() or "?"
            self._lock.close()
            raise RagError(f"index is being built by pid {pid}; wait for it to finish, then retry") from None
        self._lock.seek(0), self._lock.truncate(), self._lock.write(str(os.getpid())), self._lock.flush()
        self._clean_abandoned()
        number = 1 + max([int(m.group(1)) for p in index_dir.iterdir() if (m := _GEN.match(p.name))], default=0)
        self.name = f"gen-{number:06d}"
        self.tmp = index_dir / f".tmp-{self.name}-{os.getpid()}"
        self.tmp.mkdir()
        self.files: dict[str, dict] = {}

    def write(self, name: str, data: bytes) -> None:
        """Write one data file into the new generation, durably."""
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        self.files[name] = {"bytes": len(data), "sha256": sha256(data)}

    def add_folder(self, sub: str) -> None:
        """Record checksums of files a library wrote itself into tmp/sub (fsyncing them)."""
        for path in sorted((self.tmp / sub).rglob("*")):
            if path.is_file():
                blob = path.read_bytes()
                with open(path, "rb+") as f:
                    os.fsync(f.fileno())
                self.files[str(path.relative_to(self.tmp))] = {"bytes": len(blob), "sha256": sha256(blob)}

    def publish(self, manifest: dict) -> str:
        """Write the manifest last, then rename the folder and flip CURRENT; returns the generation name."""
        manifest = {"format": FORMAT, "version": VERSION, **manifest, "generation": self.name, "files": self.files}
        self.write("manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8"))
        _fsync_dir(self.tmp)
        os.rename(self.tmp, self.root / self.name)
        pointer = self.root / "CURRENT.tmp"
        with open(pointer, "w", encoding="ascii") as f:
            f.write(self.name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(pointer, self.root / "CURRENT")
        _fsync_dir(self.root)
        self._drop_old()
        return self.name

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)   # a no-op after publish
        self._lock.close()

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _clean_abandoned(self) -> None:
        for p in self.root.glob(".tmp-*"):   # we hold the lock, so no other build owns these
            shutil.rmtree(p, ignore_errors=True)
        (self.root / "CURRENT.tmp").unlink(missing_ok=True)

    def _drop_old(self) -> None:
        gens = sorted(p for p in self.root.iterdir() if _GEN.match(p.name))
        for old in gens[:-KEEP]:
            shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:   # some filesystems cannot fsync a directory
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)
