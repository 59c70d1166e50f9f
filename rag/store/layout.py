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
from . import blocks

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
                  keep_open: Collection[str] = (), *, lazy: bool = True,
                  ahead: Collection[str] = ()) -> tuple[dict, dict]:
    """The manifest, after every file it lists has been checked against its size and sha256.

    Returns the manifest and a dict holding the bytes of each listed file named in `read` (every
    file when `read` is None) and, for each named in `keep_open`, a `blocks.Checked` file open at the
    inode that was checked (the caller closes it; it stays readable if the folder is removed). Other
    files are hashed in chunks, so memory stays constant whatever their size; generations are
    immutable, so they may be opened or mapped by path afterwards. A `keep_open` file with block sums
    (rag.store.blocks) is checked for its size now and block by block as it is read, unless `lazy`
    is False (`rag verify`), which hashes every byte of every file now; of those, the ones named in
    `ahead` (to be read whole next) are verified by a background thread from now on."""
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
    deferred = [n for n, m in files.items() if lazy and n in keep_open and isinstance(m, dict) and m.get("sums")]
    sums_of = {files[n]["sums"]: n for n in deferred}
    try:
        for name in deferred:   # first, so that verify_ahead hashes them while the other files are hashed
            if sums_of.get(files[name]["sums"]) != name or files[name]["sums"] not in files:
                raise IndexMismatch(f"{gen.name}/manifest.json lists no block sums for {name}; "
                                    "run: python -m rag index --rebuild")
            sums = _checked(gen, files[name]["sums"], files[files[name]["sums"]], whole=True, keep=False)
            f = _checked(gen, name, files[name], whole=False, keep=True, hashed=False)
            try:
                out[name] = blocks.Checked(f, sums, name=f"{gen.name}/{name}")
            except IndexMismatch:
                f.close()
                raise
            if name in ahead:
                out[name].verify_ahead()
        for name, meta in files.items():
            if name not in deferred and name not in sums_of:
                got = _checked(gen, name, meta, whole=read is None or name in read, keep=name in keep_open)
                if got is not None:
                    out[name] = got if isinstance(got, bytes) else blocks.Checked(got, None, name=f"{gen.name}/{name}")
    except BaseException:
        for value in out.values():
            if not isinstance(value, bytes):
                value.close()
        raise
    return manifest, out


def read_checked(gen: Path, manifest: dict, names: Collection[str]) -> dict[str, bytes]:
    """The bytes of the listed files `names` of a loaded generation, each checked whole against the
    manifest's size and sha256 again (an update reads files the queries never touched)."""
    files = manifest["files"]
    missing = [n for n in names if n not in files]
    if missing:
        raise IndexMismatch(f"{gen.name}/manifest.json lists no {missing[0]}; run: python -m rag index --rebuild")
    return {n: _checked(gen, n, files[n], whole=True, keep=False) for n in names}


def verify(index_dir: Path) -> tuple[str, int, int]:
    """Hash every byte of every file of the live generation against its manifest, as a load did before
    block sums (`rag verify`): (generation, files, bytes). Raises IndexMismatch naming the first bad file."""
    gen = current(index_dir)
    manifest, _ = read_verified(gen, read=(), lazy=False)
    return gen.name, len(manifest["files"]) + 1, sum(int(m["bytes"]) for m in manifest["files"].values())


def _checked(gen: Path, name: str, meta, *, whole: bool, keep: bool, hashed: bool = True):
    """One listed file, checked: its bytes (whole), an open file (keep), else None. With `hashed`
    False only its size is checked (its blocks are, as they are read)."""
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
        if hashed and ((sha256(blob), len(blob)) if whole else file_digest(f)) != (meta.get("sha256"), meta["bytes"]):
            raise bad
    except BaseException:
        f.close()
        raise
    if keep and not whole:
        f.seek(0)
        return f
    f.close()
    return blob

