"""sentence-transformers on the CPU: the only module that imports sentence_transformers (lazily)."""
from __future__ import annotations

import json
import os
import threading

import numpy as np

from ..config import DEFAULT_MODEL
from ..schema import RagError
from .protocol import adds_up, resolve_model


class TorchEmbedder:
    """sentence-transformers on the CPU. Encoding is serialised: HF tokenizers are not thread-safe."""

    backend = "torch"
    fingerprint = ""     # no ONNX graph

    def __init__(self, name: str = DEFAULT_MODEL, batch_size: int = 64):
        target, local = resolve_model(name)
        if local:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")   # a local copy must never reach for the hub
        from sentence_transformers import (
            SentenceTransformer,  # 5-13 s: imported only when a model is needed
        )
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
