"""The index folder on disk: its layout, and checksum-verified reads of the live generation
(rag.store.publish writes them: one writer at a time, published atomically). Knows nothing of faiss or
models; it moves bytes.

    index/CURRENT          -> "gen-000007"   (replaced atomically; readers follow it)
    index/gen-000007/      manifest.json (sha256 of every other file, and of itself) + the data files
    index/.tmp-gen-000008-<pid>/   a build in progress; removed by the next build if abandoned
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Collection
from pathlib import Path

from ..files import file_digest
from ..schema import IndexMismatch, IndexNotBuilt

FORMAT, VERSION = "rag-index", 2   # v2: the manifest carries its own checksum (v1 indexes still load)
GENERATION = re.compile(r"^gen-(\d{6})$")
SELF = "manifest_sha256"   # a manifest's checksum of its own content (every key but this one)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_digest(manifest: dict) -> str:
    """The checksum of a manifest's content: without it a damaged manifest that is still valid JSON
    (a changed dimension, stopword list or model name) would describe the verified files wrongly."""
    body = {k: v for k, v in manifest.items() if k != SELF}
    return sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8"))


def read_current(index_dir: Path) -> str:
    """The generation name in index_dir/CURRENT, unchecked. Raises OSError or UnicodeDecodeError."""
    return (index_dir / "CURRENT").read_text(encoding="ascii").strip()


class Pointer:
    """CURRENT of one index folder, read again only when it changed. Publishing replaces CURRENT by
    rename, so while its inode, size and mtime are unchanged the name read last time still holds
    (one stat per query, no read)."""

    def __init__(self, index_dir: Path):
        self.index_dir = index_dir
        self._last: tuple = (None, "")   # (stat stamp of CURRENT, the name it held): swapped whole

    def name(self) -> str:
        """The generation CURRENT names, unchecked ("" when there is none or it is unreadable)."""
        try:
            st = os.stat(self.index_dir / "CURRENT")
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            if stamp != self._last[0]:
                self._last = (stamp, read_current(self.index_dir))
            return self._last[1]
        except (OSError, UnicodeDecodeError):
            return ""


def current(index_dir: Path) -> Path:
    """The live generation folder, or IndexNotBuilt."""
    try:
        name = read_current(index_dir)
    except (FileNotFoundError, NotADirectoryError):
        raise IndexNotBuilt(f"no index in {index_dir}/ — run: python -m rag index") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexMismatch(f"{index_dir}/CURRENT is unreadable ({exc}); run: python -m rag index --rebuild") from None
    if not GENERATION.match(name) or not (index_dir / name / "manifest.json").is_file():
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
            got = _checked(gen, name, meta, whole=read is None or name in read, keep=name in keep_open)
            if got is not None:
                out[name] = got
    except BaseException:
        for value in out.values():
            if not isinstance(value, bytes):
                value.close()
        raise
    return manifest, out


def _checked(gen: Path, name: str, meta, *, whole: bool, keep: bool):
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
        if ((sha256(blob), len(blob)) if whole else file_digest(f)) != (meta.get("sha256"), meta["bytes"]):
            raise bad
    except BaseException:
        f.close()
        raise
    if keep and not whole:
        f.seek(0)
        return f
    f.close()
    return blob

