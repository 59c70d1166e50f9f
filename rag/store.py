"""The index folder on disk: immutable generations published atomically, one writer at a time,
and checksum-verified reads. Knows nothing of faiss or models; it moves bytes.

    index/CURRENT          -> "gen-000007"   (replaced atomically; readers follow it)
    index/gen-000007/      manifest.json (sha256 of every other file, and of itself) + the data files
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
import time
from collections.abc import Collection, Iterable
from pathlib import Path

from .schema import IndexMismatch, IndexNotBuilt, RagError

FORMAT, VERSION = "rag-index", 2   # v2: the manifest carries its own checksum (v1 indexes still load)
_GEN = re.compile(r"^gen-(\d{6})$")
SELF = "manifest_sha256"   # a manifest's checksum of its own content (every key but this one)
CHUNK = 8 << 20            # bytes hashed at a time when a file is checked but not kept in memory


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_digest(manifest: dict) -> str:
    """The checksum of a manifest's content: without it a damaged manifest that is still valid JSON
    (a changed dimension, stopword list or model name) would describe the verified files wrongly."""
    body = {k: v for k, v in manifest.items() if k != SELF}
    return sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8"))


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


def read_verified(gen: Path, read: Collection[str] | None = None,
                  keep_open: Collection[str] = ()) -> tuple[dict, dict]:
    """The manifest, after every file it lists has been checked against its size and sha256.

    Returns the manifest and a dict holding the bytes of each listed file named in `read` (every
    file when `read` is None) and, for each named in `keep_open`, an open binary file at the inode
    that was checked (the caller closes it; it stays readable if the folder is removed). Other files
    are hashed in chunks, so memory stays constant whatever their size; generations are immutable,
    so they may be opened or mapped by path afterwards."""
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
    if manifest["version"] >= 2 and manifest.get(SELF) != manifest_digest(manifest):
        raise IndexMismatch(f"{gen.name}/manifest.json failed its checksum (corrupt or edited); "
                            "run: python -m rag index --rebuild")
    out: dict = {}
    try:
        for name, meta in files.items():
            if (got := _checked(gen, name, meta, read is None or name in read, name in keep_open)) is not None:
                out[name] = got
    except BaseException:
        for value in out.values():
            if not isinstance(value, bytes):
                value.close()
        raise
    return manifest, out


def _checked(gen: Path, name: str, meta, whole: bool, keep: bool):
    """One listed file, checked: its bytes (whole), an open file (keep), else None."""
    path = (gen / name).resolve()
    if not path.is_relative_to(gen.resolve()):
        raise IndexMismatch(f"manifest lists a file outside {gen}; run: python -m rag index --rebuild")
    try:
        f = open(path, "rb")
    except OSError:
        raise IndexMismatch(f"{gen.name}/{name} is missing; run: python -m rag index --rebuild") from None
    bad = IndexMismatch(f"{gen.name}/{name} failed its checksum (corrupt or from another build); "
                        "run: python -m rag index --rebuild")
    try:
        if not isinstance(meta, dict) or os.fstat(f.fileno()).st_size != meta.get("bytes"):
            raise bad                     # the size first: a wrong-sized file is never read
        blob = f.read() if whole else None
        if ((sha256(blob), len(blob)) if whole else _digest(f)) != (meta.get("sha256"), meta["bytes"]):
            raise bad
    except BaseException:
        f.close()
        raise
    if keep and not whole:
        f.seek(0)
        return f
    f.close()
    return blob


def _digest(f) -> tuple[str, int]:
    """(sha256, size) of an open file, read in chunks into one buffer (no larger than the file)."""
    h, size, buf = hashlib.sha256(), 0, bytearray(max(1, min(CHUNK, os.fstat(f.fileno()).st_size)))
    view = memoryview(buf)
    while n := f.readinto(buf):
        h.update(view[:n])
        size += n
    return h.hexdigest(), size


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
            number = 1 + max([int(m.group(1)) for p in index_dir.iterdir() if (m := _GEN.match(p.name))], default=0)
            self.name = f"gen-{number:06d}"
            self.tmp = index_dir / f".tmp-{self.name}-{os.getpid()}"
            self.work = index_dir / f".tmp-work-{self.name}-{os.getpid()}"   # made by work_file if needed
            self.tmp.mkdir()
        except OSError as exc:
            self.close()
            raise cannot_write(index_dir, exc) from None
        self.files: dict[str, dict] = {}

    def write(self, name: str, data: bytes) -> None:
        """Write one data file into the new generation, durably."""
        self.write_chunks(name, [data])

    def write_chunks(self, name: str, chunks: Iterable) -> None:
        """Write one data file from byte chunks as they come (constant memory), hashing them on the
        way, durably. An exception from `chunks` leaves the file unrecorded."""
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        h, size = hashlib.sha256(), 0
        with open(path, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                h.update(chunk)
                size += len(chunk)
            f.flush()
            os.fsync(f.fileno())
        self.files[name] = {"bytes": size, "sha256": h.hexdigest()}

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
        with open(self.tmp / name, "rb+") as f:
            digest, size = _digest(f)
            os.fsync(f.fileno())
        self.files[name] = {"bytes": size, "sha256": digest}

    def publish(self, manifest: dict) -> str:
        """Write the manifest last, then rename the folder and flip CURRENT; returns the generation name."""
        manifest = {"format": FORMAT, "version": VERSION, **manifest, "generation": self.name, "files": self.files}
        manifest[SELF] = manifest_digest(manifest)
        self.write("manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8"))
        _fsync_dir(self.tmp)
        previous = _live_name(self.root)
        os.rename(self.tmp, self.root / self.name)
        _fsync_dir(self.root)   # the new folder is durable before CURRENT may name it
        pointer = self.root / "CURRENT.tmp"
        with open(pointer, "w", encoding="ascii") as f:
            f.write(self.name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(pointer, self.root / "CURRENT")
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
            if _GEN.match(old.name) and old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)


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
        return (index_dir / "CURRENT").read_text(encoding="ascii").strip()
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
