"""File helpers shared by the stages that write or check files: atomic replacement and content hashes.
Standard library only, so any module may import it."""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import BinaryIO, Callable

CHUNK = 8 << 20     # bytes hashed at a time when a file is checked but not kept in memory


def write_atomic(path: Path, data: bytes | Callable[[Path], None], *, tmp: Path | None = None) -> None:
    """Replace `path` whole or not at all: write a temporary file beside it, fsync it, then rename it
    over `path` (os.replace is atomic). The temporary file is removed if anything fails, and the
    error propagates; a caller that needs the rename itself to survive a crash fsyncs the folder.

    Args:
        data: the bytes, or a function that writes the file at the path it is given (an exporter).
        tmp: the temporary name (default: `.tmp-<pid>-<thread>-<name>` beside `path`).
    """
    path = Path(path)
    tmp = tmp or path.with_name(f".tmp-{os.getpid()}-{threading.get_native_id()}-{path.name}")
    try:
        if callable(data):
            data(tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        else:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def file_digest(f: BinaryIO) -> tuple[str, int]:
    """(sha256, size) of an open binary file from where it stands, read in chunks into one buffer (no
    larger than the file), so memory stays constant whatever its size."""
    h, size, buf = hashlib.sha256(), 0, bytearray(max(1, min(CHUNK, os.fstat(f.fileno()).st_size)))
    view = memoryview(buf)
    while n := f.readinto(buf):
        h.update(view[:n])
        size += n
    return h.hexdigest(), size


def file_sha256(path: Path) -> str:
    """The sha256 of a file's content (read in chunks)."""
    with open(path, "rb") as f:
        return file_digest(f)[0]
