"""Block checksums: the large files of a generation are verified a block at a time, the first time
their bytes are read, instead of all at once before the first query (8 s of sha256 at a million
passages). See docs/RELIABILITY.md, "Verified on first read".

A file in LAZY gets a sidecar `<name>.sums` when it is written: the first 16 bytes of the sha256 of
each BLOCK-sized piece. The sidecar is listed in the manifest with its own size and sha256 and read
whole (checked) when the generation loads, so each block's checksum is trusted before the block is
read; a block that does not match raises IndexMismatch before any of its bytes are returned.
"""
from __future__ import annotations

import hashlib
import mmap
import os
import threading

import numpy as np

from ..schema import IndexMismatch

LAZY = ("passages.jsonl", "sentences.npy", "vectors.faiss",
        "bm25/terms.npy", "bm25/tfs.npy")   # the large keyword index's forward arrays (rag.lexical_tantivy)
SUFFIX = ".sums"
BLOCK = 16 << 10    # 16 KiB: 6 MB of sums for a 6 GB file; a query's first read of ~200 blocks hashes 3 MB
DIGEST = 16         # bytes of sha256 kept per block
AHEAD = 64          # blocks (1 MiB) verified at a time by verify_ahead


class Hasher:
    """The block sums of a stream of chunks (a file as it is written)."""

    def __init__(self) -> None:
        self._tail, self._sums = bytearray(), bytearray()

    def update(self, chunk) -> None:
        view = memoryview(chunk).cast("B")
        if self._tail:
            take = min(len(view), BLOCK - len(self._tail))
            self._tail += view[:take]
            view = view[take:]
            if len(self._tail) == BLOCK:
                self._sums += _sum(self._tail)
                self._tail.clear()
        full = len(view) - len(view) % BLOCK
        for a in range(0, full, BLOCK):
            self._sums += _sum(view[a:a + BLOCK])
        self._tail += view[full:]

    def digests(self) -> bytes:
        return bytes(self._sums + (_sum(self._tail) if self._tail else b""))


def _sum(block) -> bytes:
    return hashlib.sha256(block).digest()[:DIGEST]


class Checked:
    """An open file of a generation, read by offset (`pread`, `readinto`) or in order (`read`, for
    parsers), whose blocks are checked against `sums` the first time they are read. With `sums`
    None the file was verified whole when it was opened, and reads go straight to the file."""

    def __init__(self, file, sums: bytes | None, *, name: str):
        self._file, self._fd, self.name = file, file.fileno(), name
        self.size = os.fstat(self._fd).st_size
        self._pos, self._moved, self._ahead = 0, threading.Condition(), None
        blocks = -(-self.size // BLOCK)
        if sums is not None and len(sums) != blocks * DIGEST:
            raise self._bad(f"has {len(sums) // DIGEST} block sums for {blocks} blocks")
        self._sums = sums
        self._ok = bytearray(b"\x01" * blocks if sums is None else blocks)   # 1: block verified

    def fileno(self) -> int:
        return self._fd

    def pread(self, n: int, offset: int) -> bytes:
        """n bytes from offset (fewer at the end of the file), verified."""
        n = max(0, min(n, self.size - offset))
        self._check(offset, offset + n)
        return os.pread(self._fd, n, offset)

    def readinto(self, buf: memoryview, offset: int) -> None:
        """Fill `buf` from offset, verified; OSError if the file ends first."""
        self._check(offset, offset + len(buf))
        if len(buf) and os.preadv(self._fd, [buf], offset) != len(buf):
            raise OSError(f"{self.name} ended before byte {offset + len(buf)}")

    def verify_spans(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """Verify the blocks under byte ranges lo[i]:hi[i] (empty ranges skipped), for a reader that then
        takes those bytes from a memory map of this file (`mapped`)."""
        lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
        keep = hi > lo
        first = lo[keep] // BLOCK
        counts = (hi[keep] - 1) // BLOCK - first + 1         # blocks under each range
        needed = np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        for b in np.unique(needed[np.frombuffer(self._ok, dtype=np.uint8)[needed] == 0]).tolist():
            self._check(b * BLOCK, min(self.size, (b + 1) * BLOCK))

    def mapped(self) -> memoryview:
        """The file mapped read-only (at the inode that was opened). Its bytes are not checked: call
        verify_spans for the ranges read."""
        if self.size == 0:
            return memoryview(b"")
        return memoryview(mmap.mmap(self._fd, 0, access=mmap.ACCESS_READ))

    def read(self, n: int = -1) -> bytes:
        n = self.size - self._pos if n is None or n < 0 else n
        data = self.pread(n, self._pos)
        self._pos += len(data)
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = max(0, pos + (0, self._pos, self.size)[whence])
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "Checked":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def verify_ahead(self) -> None:
        """Verify every block in a background thread, from the start, while the caller reads the file in
        order (the faiss parse): a read waits for the thread to reach its blocks rather than hash them
        too, so hashing and parsing run on two cores. A bad block is reported by the read that needs it."""
        self._ahead = threading.Thread(target=self._verify_all, daemon=True, name=f"verify {self.name}")
        self._ahead.start()

    def _verify_all(self) -> None:
        try:
            for a in range(0, len(self._ok), AHEAD):
                self._verify(range(a, min(len(self._ok), a + AHEAD)))
                with self._moved:
                    self._moved.notify_all()
        except (IndexMismatch, OSError):
            pass   # the read of that block verifies it again and raises
        finally:
            with self._moved:
                self._ahead = None
                self._moved.notify_all()

    def _check(self, lo: int, hi: int) -> None:
        """Verify the blocks under bytes lo:hi that have not been verified yet."""
        first, last = lo // BLOCK, (max(hi, lo + 1) - 1) // BLOCK
        if hi <= lo or all(self._ok[first:last + 1]):
            return
        with self._moved:
            while self._ahead is not None and not all(self._ok[first:last + 1]):
                self._moved.wait()
        self._verify(range(first, last + 1))

    def _verify(self, blocks: range) -> None:
        """Hash the blocks not yet verified among `blocks`; a block is marked only once its sum matched
        (two threads may verify the same block; both mark it only if it matches)."""
        todo = [b for b in blocks if not self._ok[b]]
        if not todo:
            return
        a, z = todo[0], todo[-1]
        data = memoryview(os.pread(self._fd, (z + 1 - a) * BLOCK, a * BLOCK))
        for b in todo:
            block = data[(b - a) * BLOCK:(b - a + 1) * BLOCK]
            if _sum(block) != self._sums[b * DIGEST:(b + 1) * DIGEST]:
                raise self._bad(f"failed its checksum in bytes {b * BLOCK}-{b * BLOCK + len(block)} "
                                "(corrupt, or changed since it was built)")
            self._ok[b] = 1

    def _bad(self, what: str) -> IndexMismatch:
        return IndexMismatch(f"{self.name} {what}; run: python -m rag index --rebuild")
