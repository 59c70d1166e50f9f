"""ONNX Runtime embedder: the torch-free query path. The only module that imports onnxruntime and
tokenizers.

It serves an export made by rag.embed.export (model.onnx, tokenizer.json, export.json) through the
Embedder protocol of rag.embed.protocol. The graph already mean-pools and L2-normalises, so a row is a unit
float32 vector and an inner product is a cosine, as everywhere else.
"""
from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from ..files import file_sha256
from .protocol import adds_up

FILES = ("model.onnx", "tokenizer.json")   # hashed into export.json by rag.embed.export
# The encoders (Settings.encoder, RAG_ENCODER) and the graph each runs. fp32 is the export itself and
# the default. int8 is made from it by make_encoder: dynamic quantisation, int8 weights per output
# channel for every MatMul, the embeddings' Gather left fp32. On 2 cores it encodes passages 1.6-1.8x
# faster at cosine 0.994 to fp32, but SciFact test nDCG@10 drops 0.0053 and the seed dev figures move,
# so it is opt-in, not the default (docs/BENCHMARKS.md, "A faster encoder"). An index records which
# encoder built it, and rag.embed.choose refuses the other.
ENCODER_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
MIN_INT8_COSINE = 0.98   # below this on the check texts the quantised graph is refused (it measures 0.99)
# Measured on the 2-core machine (58 seed passages; median of 200 single questions):
#   batch 16 / 32 / 64 at 2 threads: 72 / 50 / 26 passages/s. Smaller is faster on CPU (less padding,
#   activations stay in cache; 600 random-length passages agree), and 8 is faster still (44 vs 37/s
#   at 1 thread), so lower this rather than raise it.
#   intra_op threads 1 vs 2: question 2.6 vs 1.9 ms, passages 37 vs 71/s. With ORT's worker spinning
#   off, 2 threads give 2.5 ms and 69/s idle, and 3.0 ms (vs 6.1 spinning) while both cores are
#   busy with other work; spinning also burns a core after every run. Hence 2 threads, no spinning.
BATCH_SIZE = 16
INTRA_OP_THREADS = 2
CHUNK = 1024           # texts tokenized at once: bounds memory on large corpora, still sorts well
_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}


def runtime_version() -> str:
    return ort.__version__


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def encoder_files(encoder: str = "fp32") -> tuple[str, ...]:
    """The files an encoder runs from: FILES for fp32; the tokenizer and its own graph otherwise."""
    if encoder not in ENCODER_FILES:
        raise ValueError(f"encoder must be one of {', '.join(ENCODER_FILES)}; got {encoder!r}")
    return FILES if encoder == "fp32" else ("tokenizer.json", ENCODER_FILES[encoder])


def _read_verified(onnx_dir: Path, encoder: str = "fp32") -> tuple[dict, dict[str, tuple]] | None:
    """export.json and a (inode, size, mtime) stamp of each of the encoder's files, or None when anything is
    missing or a hash differs. Files are hashed in chunks, never held whole in memory (the model is
    90 MB, and onnxruntime loads it from its path); rag.embed.export replaces files by rename, so a file
    that still has its stamp after loading is the file that was hashed."""
    try:
        meta = json.loads((onnx_dir / "export.json").read_text(encoding="utf-8"))
        sums = meta.get("sha256") if isinstance(meta, dict) else None
        if not isinstance(sums, dict):
            return None
        stamps = {}
        for f in encoder_files(encoder):
            stamps[f] = _stamp(onnx_dir / f)
            if file_sha256(onnx_dir / f) != sums.get(f) or _stamp(onnx_dir / f) != stamps[f]:
                return None
    except (OSError, ValueError):
        return None
    return meta, stamps


def verify_files(onnx_dir: Path, encoder: str = "fp32") -> bool:
    """Whether `onnx_dir` holds a complete export (with the encoder's graph) whose files match the
    hashes in export.json."""
    return _read_verified(Path(onnx_dir), encoder) is not None


def try_load(onnx_dir: Path, name: str, encoder: str = "fp32", threads: int = INTRA_OP_THREADS) -> OnnxEmbedder | None:
    """The verified export of model `name` in `onnx_dir`, run by `encoder` (see ENCODER_FILES) on
    `threads` threads, or None (the caller falls back to torch, or refuses). Never raises and prints nothing."""
    found = _read_verified(Path(onnx_dir), encoder)
    if found is None or found[0].get("model") != name:
        return None
    try:
        return OnnxEmbedder(Path(onnx_dir), *found, encoder=encoder, threads=threads)
    except Exception:   # onnxruntime's errors derive from Exception only; any failure means: use torch
        return None


class OnnxEmbedder:
    """onnxruntime on the CPU. Tokenizer calls are serialised (a tokenizers.Tokenizer used by two
    threads at once fails with "Already borrowed"); InferenceSession.run is thread-safe and is not."""

    backend = "onnx"

    def __init__(self, onnx_dir: Path, meta: dict, stamps: dict[str, tuple] | None = None,
                 batch_size: int = BATCH_SIZE, threads: int = INTRA_OP_THREADS, encoder: str = "fp32",
                 model_file: str = ""):
        """`model_file` (benchmarks only) runs another graph under the encoder's name and fingerprint."""
        onnx_dir = Path(onnx_dir)
        self.name, self.dim, self.max_tokens = str(meta["model"]), int(meta["dim"]), int(meta["max_tokens"])
        self.batch_size = batch_size
        self.encoder = encoder
        graph = ENCODER_FILES[encoder]
        self.fingerprint = str(meta.get("sha256", {}).get(graph, ""))   # recorded in the manifest
        spec = (onnx_dir / "tokenizer.json").read_text(encoding="utf-8")
        self.counts_add_up = adds_up(json.loads(spec))
        self._counter = Tokenizer.from_str(spec)    # whole text: count_tokens must see past the window
        self._counter.no_truncation()
        self._counter.no_padding()
        self._tok = Tokenizer.from_str(spec)        # the model's window, as sentence-transformers cuts it
        self._tok.enable_truncation(self.max_tokens)
        self._tok.no_padding()                      # padding is per batch, in _run
        self._lock = threading.Lock()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(onnx_dir / (model_file or graph)), opts, providers=["CPUExecutionProvider"])
        if stamps and any(_stamp(onnx_dir / f) != st for f, st in stamps.items()):
            raise ValueError("the export changed while it was being loaded")
        self._inputs = [i.name for i in self._session.get_inputs()]
        unknown = [n for n in self._inputs if n not in _FIELDS]
        if unknown:
            raise ValueError(f"model.onnx wants inputs {unknown} that a tokenizer does not produce; "
                             "re-export with rag.embed.export or use --backend torch")

    def count_tokens(self, text: str) -> int:
        """Tokens in `text`, special tokens included, without truncation."""
        return self.count_tokens_batch([text])[0]

    def count_tokens_batch(self, texts: list[str]) -> list[int]:
        """count_tokens of each text: one tokenizer call per CHUNK texts, without offsets (only lengths)."""
        out: list[int] = []
        with self._lock:
            for start in range(0, len(texts), CHUNK):
                out += [len(e) for e in self._counter.encode_batch_fast(texts[start:start + CHUNK])]
        return out

    def encode_passages(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """(len(texts), dim) unit float32 rows; `progress(n)` after each batch of n texts."""
        return self._encode(texts, progress)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, None)

    def _encode(self, texts: list[str], progress: Callable[[int], None] | None) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for rows, encs in self.batches(texts):
            out[rows] = self._run(encs)
            if progress:
                progress(len(rows))
        return out

    def batches(self, texts: list[str]) -> Iterator[tuple[list[int], list[Encoding]]]:
        """The forward passes encode_passages makes, in order: (positions in `texts`, their encodings).
        A row's vector can depend on the rows it is padded with, so rag.embed.ray_encode sends workers
        exactly these batches (run by encode_batch) to get the same bytes as a local build."""
        # Similar lengths share a batch, so little of each batch is padding: texts are sorted by characters
        # (so each chunk holds similar lengths), then each chunk by tokens. Sorting only within chunks in
        # input order padded the 3,313 sentences of 400 SciFact abstracts with 3.5% more tokens.
        by_chars = range(len(texts))
        if len(texts) > CHUNK:
            by_chars = sorted(by_chars, key=lambda i: len(texts[i]))
        for start in range(0, len(texts), CHUNK):
            chunk = by_chars[start:start + CHUNK]
            with self._lock:
                encs = ([self._tok.encode(texts[chunk[0]])] if len(chunk) == 1
                        else self._tok.encode_batch([texts[i] for i in chunk]))
            order = sorted(range(len(encs)), key=lambda i: len(encs[i]))
            for b in range(0, len(order), self.batch_size):
                rows = order[b:b + self.batch_size]
                yield [chunk[i] for i in rows], [encs[i] for i in rows]

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """One forward pass over exactly `texts`, in their order (one batch of `batches`)."""
        with self._lock:
            encs = [self._tok.encode(texts[0])] if len(texts) == 1 else self._tok.encode_batch(texts)
        return self._run(encs)

    def _run(self, encs: list[Encoding]) -> np.ndarray:
        """One forward pass; rows are padded with zeros (masked out) to the longest in the batch."""
        if len(encs) == 1:   # a query: no padding to do
            feed = {n: np.array([getattr(encs[0], _FIELDS[n])], dtype=np.int64) for n in self._inputs}
        else:
            width = max(len(e) for e in encs)
            feed = {n: np.zeros((len(encs), width), dtype=np.int64) for n in self._inputs}
            for row, enc in enumerate(encs):
                for n in self._inputs:
                    feed[n][row, :len(enc)] = getattr(enc, _FIELDS[n])
        return self._session.run(["sentence_embedding"], feed)[0]


def make_encoder(onnx_dir: Path, encoder: str, check_texts: list[str]) -> dict:
    """Derive `encoder`'s graph (see ENCODER_FILES) from the verified fp32 export in `onnx_dir`, check
    it against fp32 on `check_texts` (cosine >= MIN_INT8_COSINE), and add its sha256 to export.json
    (rewritten atomically, last). Returns the new export.json record. Raises RuntimeError when there
    is no verified fp32 export or the check fails."""
    from onnxruntime.quantization import QuantType, quantize_dynamic   # and the onnx package: only here

    from ..files import write_atomic
    onnx_dir = Path(onnx_dir)
    found = _read_verified(onnx_dir)
    if found is None:
        raise RuntimeError(f"no verified ONNX export in {onnx_dir} to make the {encoder} encoder from")
    meta = found[0]
    graph = ENCODER_FILES[encoder]
    if encoder == "fp32":
        return meta
    with _quiet_root_logger():
        write_atomic(onnx_dir / graph, lambda p: quantize_dynamic(
            str(onnx_dir / "model.onnx"), str(p), weight_type=QuantType.QInt8, per_channel=True,
            op_types_to_quantize=["MatMul"]))
    record = meta | {"sha256": {**meta["sha256"], graph: file_sha256(onnx_dir / graph)}}
    fp32 = OnnxEmbedder(onnx_dir, meta)
    low = float((fp32.encode_passages(check_texts)
                 * OnnxEmbedder(onnx_dir, record, encoder=encoder).encode_passages(check_texts)).sum(1).min())
    if low < MIN_INT8_COSINE:
        raise RuntimeError(f"the {encoder} encoder drifts from fp32 (min cosine {low:.4f} < {MIN_INT8_COSINE})")
    record["encoders"] = {**meta.get("encoders", {}), encoder: {"min_cosine": round(low, 6), "checked": len(check_texts)}}
    write_atomic(onnx_dir / "export.json", (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    return record


@contextlib.contextmanager
def _quiet_root_logger():
    """onnxruntime.quantization advises "pre-processing" through logging.warning, which would also
    configure the root logger of the whole process (basicConfig); neither happens while this is open."""
    root = logging.getLogger()
    null, mute = logging.NullHandler(), (lambda record: record.levelno > logging.WARNING)
    root.addHandler(null)
    root.addFilter(mute)
    try:
        yield
    finally:
        root.removeFilter(mute)
        root.removeHandler(null)
