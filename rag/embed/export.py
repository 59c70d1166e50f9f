"""Export a sentence-transformers model to ONNX for the torch-free query path. The only module that
imports torch.

The graph holds the whole encoder: transformer, mean pooling over the attention mask and L2
normalisation, so `rag.embed.onnx` only tokenizes, pads and runs it. Every export is checked
against sentence-transformers before export.json (written last) vouches for the files.
"""
from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from ..files import file_sha256, write_atomic
from ..schema import RagError
from . import onnx
from .protocol import CHECK_TEXTS  # noqa: F401  (re-exported: rag.embed.choose imports it from here)
from .sbert import TorchEmbedder

OPSET = 17
MIN_COSINE = 0.9999   # below this it is not the same model; all-MiniLM-L6-v2 measures 0.9999996


class _SentenceEncoder(torch.nn.Module):
    """transformer -> masked mean pooling -> L2 normalisation, as sentence-transformers computes it."""

    def __init__(self, transformer: torch.nn.Module, input_names: list[str]):
        super().__init__()
        self.transformer, self.input_names = transformer, input_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        feed = dict(zip(self.input_names, inputs))
        tokens = self.transformer(**feed, return_dict=True).last_hidden_state
        mask = feed["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(mean, p=2.0, dim=1)


def _check_architecture(model) -> None:
    """Only the Transformer -> mean Pooling [-> Normalize] stack is exported; say so otherwise."""
    names = [type(m).__name__ for m in model]
    pooling = model[1] if len(model) > 1 else None
    # sentence-transformers >= 6 says pooling_mode="mean"; older releases pooling_mode_mean_tokens=True
    mean = getattr(pooling, "pooling_mode", None) == "mean" or getattr(pooling, "pooling_mode_mean_tokens", False)
    if names[:2] != ["Transformer", "Pooling"] or not mean or any(n != "Normalize" for n in names[2:]):
        raise RagError(f"cannot export {names}: only Transformer + mean Pooling [+ Normalize] models are "
                       "supported; use --backend torch for this model")


def _export_graph(encoder: _SentenceEncoder, example: dict[str, torch.Tensor], path: Path) -> None:
    # Plain matmul-softmax attention: onnxruntime runs it ~20% faster than the traced SDPA kernel
    # (seed passages, 2 threads: 72 vs 59 per second); the vectors are the same.
    transformer = encoder.transformer
    previous = getattr(transformer.config, "_attn_implementation", None) or "eager"
    switch = previous != "eager" and hasattr(transformer, "set_attn_implementation")
    if switch:
        transformer.set_attn_implementation("eager")
    try:
        _trace(encoder, example, path)
    finally:
        if switch:
            transformer.set_attn_implementation(previous)


def _trace(encoder: _SentenceEncoder, example: dict[str, torch.Tensor], path: Path) -> None:
    names = encoder.input_names
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"sentence_embedding": {0: "batch"}}
    # The tracer warns about Python branches in transformers' mask code; the example has padding so
    # the traced branch is the general one, and export() checks the graph against torch regardless.
    # The TorchScript exporter is deprecated since torch 2.9 but gives a one-file opset-17 graph; the
    # dynamo exporter needs dynamic_shapes and external_data=False and cannot down-convert to 17.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*aten::index.*")
        torch.onnx.export(encoder, tuple(example[n] for n in names), str(path), input_names=names,
                          output_names=["sentence_embedding"], dynamic_axes=axes, opset_version=OPSET,
                          do_constant_folding=True, dynamo=False)


def _min_cosine(reference: TorchEmbedder, candidate, texts: list[str]) -> float:
    """Lowest cosine between the two backends, batched (with padding) and one text at a time."""
    want = reference.encode_passages(texts)
    batched = candidate.encode_passages(texts)
    single = np.vstack([candidate.encode_queries([t]) for t in texts])
    return float(min((want * batched).sum(1).min(), (want * single).sum(1).min()))


def export(model_name: str | TorchEmbedder, out_dir: Path, check_texts: list[str]) -> dict:
    """Export a model into `out_dir` (model.onnx, tokenizer.json, export.json) and verify it.

    Args:
        model_name: a sentence-transformers name or folder, as rag.embed.sbert.TorchEmbedder takes it,
            or an already loaded TorchEmbedder.
        out_dir: created if missing; files in it are replaced atomically, export.json last.
        check_texts: texts whose ONNX and torch embeddings must agree (cosine >= 0.9999).
    Returns:
        The export.json record. Raises RuntimeError when the check fails.
    """
    if not check_texts:
        raise ValueError("export needs at least one check text, e.g. the passages being indexed")
    reference = model_name if isinstance(model_name, TorchEmbedder) else TorchEmbedder(model_name)
    model_name = reference.name
    model = reference.model
    _check_architecture(model)
    transformer = model[0].auto_model.eval()
    tokenizer = model.tokenizer
    accepted = inspect.signature(transformer.forward).parameters
    input_names = [n for n in tokenizer.model_input_names if n in accepted]
    # The example must contain padding: a traced graph keeps only the branches the example takes.
    example = tokenizer(["a short one", "a longer example sentence that forces padding in the batch"],
                        padding=True, return_tensors="pt")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "model.onnx",
                  lambda p: _export_graph(_SentenceEncoder(transformer, input_names), example, p))
    write_atomic(out_dir / "tokenizer.json", lambda p: tokenizer.backend_tokenizer.save(str(p)))
    meta = {"model": model_name, "dim": reference.dim, "max_tokens": reference.max_tokens,
            "inputs": input_names,
            "sha256": {f: file_sha256(out_dir / f) for f in onnx.FILES}}
    candidate = onnx.OnnxEmbedder(out_dir, meta)
    low = _min_cosine(reference, candidate, check_texts)
    if low < MIN_COSINE:
        raise RuntimeError(f"ONNX export of {model_name!r} disagrees with sentence-transformers "
                           f"(min cosine {low:.6f} < {MIN_COSINE}); use --backend torch")
    meta |= {"min_cosine": low, "checked": len(check_texts), "torch": torch.__version__,
             "onnxruntime": onnx.runtime_version()}
    text = json.dumps(meta, indent=2) + "\n"
    write_atomic(out_dir / "export.json", text.encode("utf-8"))
    return meta
