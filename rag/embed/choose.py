"""Which embedder serves: the one place the backend is chosen (ONNX export or sentence-transformers),
and the build's step that makes the ONNX export when there is none. Counts and logs every load."""
from __future__ import annotations

import logging
import threading

from ..config import Settings
from ..schema import RagError
from .protocol import Embedder, onnx_dir_for

log = logging.getLogger("rag")
LOADS = 0     # embedders loaded by this process: one per shared engine (the load test counts them)
_LOADS = threading.Lock()


def choose(settings: Settings, *, expected: str = "", fallback: Embedder | None = None,
           quiet: bool = False) -> Embedder:
    """The embedder for `settings`: the verified ONNX export when the backend allows it, else
    sentence-transformers (`fallback` when given, so a loaded model is not loaded twice).

    Args:
        expected: the sha256 of model.onnx the loaded index was built with ("" for any); an export
            that differs is not used (a warning says so).
        quiet: no notice when the backend is auto and there is no export yet.
    Raises RagError when the backend is "onnx" and there is no usable export.
    """
    s = settings
    if s.backend in ("auto", "onnx"):
        from . import onnx  # onnxruntime: only when an export may be used
        where = onnx_dir_for(s.index_dir, s.model)
        fast = onnx.try_load(where, s.model)
        if fast is not None and expected and fast.fingerprint != expected:
            _loaded(fast)
            log.warning("the ONNX export does not match the index manifest; using sentence-transformers")
        elif fast is not None:
            return _loaded(fast)
        elif s.backend == "onnx":
            raise RagError(f"no usable ONNX export of {s.model!r} in {where}; run: python -m rag index "
                           "(it exports the model), or use --backend torch")
        elif not quiet:
            log.warning("no verified ONNX export of %s; using sentence-transformers (slower start). "
                        "`rag index` creates the export", s.model)
    if fallback is not None:
        return fallback
    from .sbert import (
        TorchEmbedder,  # sentence-transformers: imported only when a model is needed
    )
    return _loaded(TorchEmbedder(s.model, s.batch_size))


def for_build(settings: Settings, emb: Embedder) -> Embedder:
    """The encoder for a build. With backend auto and sentence-transformers loaded, the model is
    exported to ONNX first (checked against sentence-transformers), so this build and every later
    query run without torch; `emb` stays when the export fails or is not wanted."""
    if emb.backend != "torch" or settings.backend != "auto":
        return emb
    from .export import CHECK_TEXTS, export  # torch: only for an export
    try:
        export(emb, onnx_dir_for(settings.index_dir, settings.model), CHECK_TEXTS)
    except (RuntimeError, ValueError, RagError) as exc:
        log.warning("ONNX export failed (%s); using sentence-transformers", exc)
        return emb
    return choose(settings, fallback=emb, quiet=True)


def _loaded(emb: Embedder) -> Embedder:
    """Count and log (at INFO) one embedder load."""
    global LOADS
    with _LOADS:
        LOADS += 1
        n = LOADS
    log.info("loaded the %s embedder for %s (load %d in this process)", emb.backend, emb.name, n)
    return emb
