"""The answer-sentence vectors of a generation (sentences.npy): every sentence of every passage, in
passage order. Held in memory when the file is small; above IN_MEMORY_BYTES each query reads just the
rows it needs from the open file. (A memory map is no cheaper to read, but the kernel maps whole
page-cache folios around each row touched: 40k random rows of a 6 GB map added 5.7 GB to RSS here.)
"""
from __future__ import annotations

import weakref

import numpy as np

IN_MEMORY_BYTES = 256 << 20    # ~40k passages of MiniLM sentence vectors; a 1M index has ~6 GB


class SentenceVectors:
    """Rows of a 2-d float .npy file: `spans(lo, hi)` reads rows lo[i]:hi[i] for every i."""

    def __init__(self, file, in_memory_bytes: int | None = None):
        fmt = np.lib.format
        read_header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}[fmt.read_magic(file)]
        shape, fortran, dtype = read_header(file)
        if dtype.kind != "f" or fortran or len(shape) != 2:
            raise ValueError(f"sentences.npy holds {dtype} {shape}")
        self.shape, self.dtype, self._offset = tuple(shape), dtype, file.tell()
        self._row_bytes = shape[1] * dtype.itemsize
        limit = IN_MEMORY_BYTES if in_memory_bytes is None else in_memory_bytes
        if shape[0] * self._row_bytes <= limit:
            data = file.read(shape[0] * self._row_bytes)
            self.array, self._file = np.frombuffer(data, dtype).reshape(shape), None
            file.close()
        else:
            self.array, self._file = None, file
            weakref.finalize(self, file.close)

    def __len__(self) -> int:
        return self.shape[0]

    def span(self, lo: int, hi: int) -> np.ndarray:
        """Rows lo:hi."""
        if self.array is not None:
            return self.array[lo:hi]
        return self.spans(np.array([lo]), np.array([hi]))

    def spans(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Rows lo[i]:hi[i] of every i, concatenated in that order."""
        sizes = np.asarray(hi, dtype=np.int64) - lo
        if self.array is not None:
            offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            return self.array[np.repeat(lo - offsets, sizes) + np.arange(int(sizes.sum()))]
        out = np.empty((int(sizes.sum()), self.shape[1]), self.dtype)
        buf, pos = memoryview(out).cast("B"), 0
        for a, k in zip(np.asarray(lo).tolist(), sizes.tolist()):
            n = k * self._row_bytes
            self._file.readinto(buf[pos:pos + n], self._offset + a * self._row_bytes)
            pos += n
        return out

    def all(self) -> np.ndarray:
        """Every row (read whole from the file when it is not in memory: for tools and tests)."""
        return self.span(0, len(self))
