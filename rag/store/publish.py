"""Publishing a generation into the index folder: one writer at a time (a lock), a temporary
folder, durable checksummed writes, then an atomic rename and flip of CURRENT (see rag.store.layout for the
layout and the verified reads)."""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from ..files import CHUNK, write_atomic
from ..schema import RagError
from . import blocks
from .layout import FORMAT, GENERATION, SELF, VERSION, manifest_digest, read_current


class Writer:
    """One build: an exclusive lock, a temporary folder, and an atomic publish. Used as a context
    manager: on any exit the temporary folder is removed and the lock released, and a failed write
    (disk full, read-only, permission denied) becomes a RagError naming the index folder."""

    def __init__(self, index_dir: Path):
        self.root = index_dir
        try:
            index_dir.mkdir(parents=True, exist_ok=True)
            self._lock = open(index_dir / ".lock", "a+")
        except OSError as exc:
            raise cannot_write(index_dir, exc) from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder(self._lock)
            self._lock.close()
            raise RagError(f"index is being built by pid {pid}; wait for it to finish, then retry") from None
        self.tmp = None
        try:
            self._lock.seek(0), self._lock.truncate(), self._lock.write(str(os.getpid())), self._lock.flush()
            self._clean_abandoned()
            taken = [int(m.group(1)) for p in index_dir.iterdir() if (m := GENERATION.match(p.name))]
            number = 1 + max(taken, default=0)
            self.name = f"gen-{number:06d}"
            self.tmp = index_dir / f".tmp-{self.name}-{os.getpid()}"
            self.work = index_dir / f".tmp-work-{self.name}-{os.getpid()}"   # made by work_file if needed
            self.tmp.mkdir()
        except OSError as exc:
            self.close()
            raise cannot_write(index_dir, exc) from None
        self.files: dict[str, dict] = {}
        self._dirs: set[Path] = set()     # folders that link() added entries to (fsynced at publish)

    def write(self, name: str, data: bytes) -> None:
        """Write one data file into the new generation, durably."""
        self.write_chunks(name, [data])

    def write_chunks(self, name: str, chunks: Iterable) -> None:
        """Write one data file from byte chunks as they come (constant memory), hashing them on the
        way, durably. An exception from `chunks` leaves the file unrecorded."""
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = _Digest(name)
        with open(path, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                digest.update(chunk)
            f.flush()
            os.fsync(f.fileno())
        self._record(name, digest)

    def add_folder(self, sub: str) -> None:
        """Record checksums of files a library wrote itself into tmp/sub (fsyncing them and the folders)."""
        for path in sorted((self.tmp / sub).rglob("*")):
            if path.is_file():
                self.add_file(str(path.relative_to(self.tmp)))
            elif path.is_dir():
                _fsync_dir(path)
        _fsync_dir(self.tmp / sub)

    def add_file(self, name: str) -> None:
        """Record the checksum of a file written straight into tmp/name (fsyncing it), read in chunks."""
        digest = _Digest(name)
        with open(self.tmp / name, "rb+") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
            os.fsync(f.fileno())
        self._record(name, digest)

    def link(self, name: str, source: Path, record: dict) -> None:
        """List a file of an earlier generation in this one unchanged, with its recorded checksums: a
        hard link (generations never modify their files, so each stays whole whatever happens to the
        other, and a bit flip in the shared file still fails its checksum in both), or a copy where the
        filesystem has no hard links."""
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, path)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK, errno.EACCES):
                raise
            shutil.copyfile(source, path)
            with open(path, "rb+") as f:
                os.fsync(f.fileno())
        self._dirs.update(self.tmp / d for d in Path(name).parents if str(d) != ".")
        self.files[name] = dict(record)

    def _record(self, name: str, digest: "_Digest") -> None:
        """List a written file in the manifest; a large one also gets its block sums (rag.store.blocks)."""
        self.files[name] = {"bytes": digest.size, "sha256": digest.sha.hexdigest()}
        if digest.sums is not None:
            self.write(name + blocks.SUFFIX, digest.sums.digests())
            self.files[name]["sums"] = name + blocks.SUFFIX

    def publish(self, manifest: dict) -> str:
        """Write the manifest last, then rename the folder and flip CURRENT; returns the generation name."""
        manifest = {"format": FORMAT, "version": VERSION, **manifest, "generation": self.name, "files": self.files}
        manifest[SELF] = manifest_digest(manifest)
        self.write("manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8"))
        for folder in sorted(self._dirs, key=lambda p: -len(p.parts)):
            _fsync_dir(folder)
        _fsync_dir(self.tmp)
        previous = _live_name(self.root)
        os.rename(self.tmp, self.root / self.name)
        _fsync_dir(self.root)   # the new folder is durable before CURRENT may name it
        write_atomic(self.root / "CURRENT", (self.name + "\n").encode("ascii"), tmp=self.root / "CURRENT.tmp")
        _fsync_dir(self.root)
        self._drop_old(keep={self.name, previous})
        return self.name

    def work_file(self, name: str) -> Path:
        """A path for a working file of this build that is not part of the generation (removed on close)."""
        self.work.mkdir(exist_ok=True)
        return self.work / name

    def close(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)   # a no-op after publish
            shutil.rmtree(self.work, ignore_errors=True)
        self._lock.close()

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        self.close()
        if isinstance(exc, OSError) and _is_write_failure(exc, self.root):
            raise cannot_write(self.root, exc) from None

    def _clean_abandoned(self) -> None:
        for p in self.root.glob(".tmp-*"):   # we hold the lock, so no other build owns these
            shutil.rmtree(p, ignore_errors=True)
        (self.root / "CURRENT.tmp").unlink(missing_ok=True)

    def _drop_old(self, keep: set) -> None:
        """Remove every generation but the new one and the one it replaced (which readers may still be
        loading); that also removes complete generations whose build died before flipping CURRENT."""
        for old in self.root.iterdir():
            if GENERATION.match(old.name) and old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)


class _Digest:
    """What the manifest records of a file, from its chunks: size, sha256, and for a file in
    blocks.LAZY its block sums."""

    def __init__(self, name: str):
        self.sha, self.size = hashlib.sha256(), 0
        self.sums = blocks.Hasher() if name in blocks.LAZY else None

    def update(self, chunk) -> None:
        self.sha.update(chunk)
        self.size += len(chunk)
        if self.sums is not None:
            self.sums.update(chunk)


def cannot_write(index_dir: Path, exc: OSError) -> RagError:
    return RagError(f"cannot write the index in {index_dir}/ ({exc.strerror or exc}); free some space or "
                    "make it writable, or choose another place with --index")


def _is_write_failure(exc: OSError, root: Path) -> bool:
    """Errors that mean the index folder cannot take the build: always for a full or read-only disk,
    and for permission errors on a path inside the index folder (not, say, an unreadable document)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG):
        return True
    inside = exc.filename is not None and Path(os.path.abspath(exc.filename)).is_relative_to(os.path.abspath(root))
    return exc.errno in (errno.EACCES, errno.EPERM) and inside


def _holder(lock) -> str:
    """The pid of the build holding the lock. It writes its pid just after locking, so a build that
    starts at the same moment may briefly read an empty file or a dead builder's pid: re-read."""
    pid = ""
    for _ in range(50):
        lock.seek(0)
        pid = lock.read().strip()
        if pid.isdigit() and _alive(int(pid)):
            return pid
        time.sleep(0.01)
    return pid or "?"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _live_name(index_dir: Path) -> str | None:
    try:
        return read_current(index_dir)
    except (OSError, UnicodeDecodeError):
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:   # some filesystems cannot fsync a directory
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)
