"""Which embedder serves: the one place the backend is chosen (ONNX export or sentence-transformers),
and the build's step that makes the ONNX export when there is none. Counts and logs every load."""
from __future__ import annotations

import logging
import threading

from ..config import Settings
from ..schema import RagError
from .protocol import Embedder, index_encoder, onnx_dir_for

log = logging.getLogger("rag")
LOADS = 0     # embedders loaded by this process: one per shared engine (the load test counts them)
_LOADS = threading.Lock()


def _mixing(built: str, wanted: str) -> RagError:
    return RagError(f"the index was built with the {built} encoder and this process would encode questions "
                    f"with the {wanted} encoder (RAG_ENCODER): their vectors are not comparable. Either "
                    f"rebuild the index with it (python -m rag index --rebuild) or set RAG_ENCODER={built}")


def choose(settings: Settings, *, expected: str | dict = "", fallback: Embedder | None = None,
           quiet: bool = False) -> Embedder:
    """The embedder for `settings`: the verified ONNX export when the backend allows it, else
    sentence-transformers (`fallback` when given, so a loaded model is not loaded twice).

    Args:
        expected: the loaded index's manifest "onnx" record (or the sha256 of model.onnx it was
            built with; "" or {} for any). An fp32 export that differs from it is not used (a warning
            says so) and sentence-transformers serves; an index built by another encoder than
            settings.encoder is refused (RagError naming the fix), as is a changed non-fp32 graph.
        quiet: no notice when the backend is auto and there is no export yet.
    Raises RagError when the backend is "onnx" and there is no usable export.
    """
    s = settings
    encoder = s.encoder
    record = expected if isinstance(expected, dict) else ({"model.onnx": expected} if expected else {})
    if record and index_encoder(record) != encoder:
        raise _mixing(index_encoder(record), encoder)
    if encoder != "fp32":
        return _choose_quantised(s, encoder, record, fallback)
    expected = record.get("model.onnx", "")
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


def _choose_quantised(s: Settings, encoder: str, record: dict, fallback: Embedder | None) -> Embedder:
    """A non-fp32 encoder: only its own verified graph may serve, never sentence-transformers, except
    as the `fallback` (or a fresh model) that for_build turns into an export when there is no index yet."""
    from . import onnx  # onnxruntime
    if s.backend == "torch":
        raise RagError(f"the {encoder} encoder runs on ONNX Runtime: use --backend auto or onnx, or set RAG_ENCODER=fp32")
    where = onnx_dir_for(s.index_dir, s.model)
    graph = onnx.ENCODER_FILES[encoder]
    fast = onnx.try_load(where, s.model, encoder)
    if fast is not None and record and fast.fingerprint != record.get(graph):
        raise RagError(f"the {encoder} graph in {where} is not the one that built the index; "
                       "run: python -m rag index --rebuild")
    if fast is not None:
        return _loaded(fast)
    if record:
        raise RagError(f"the index was built with the {encoder} encoder and {where / graph} is missing or "
                       "changed; run: python -m rag index --rebuild")
    if onnx.verify_files(where):        # no index yet (a build): derive the graph from the fp32 export
        return _loaded(_make(where, s.model, encoder))
    if s.backend == "onnx":
        raise RagError(f"no usable ONNX export of {s.model!r} in {where}; run: python -m rag index")
    if fallback is not None:            # not exported yet: for_build exports with this model first
        return fallback
    from .sbert import TorchEmbedder
    return _loaded(TorchEmbedder(s.model, s.batch_size))


def _make(where, model: str, encoder: str) -> Embedder:
    from . import onnx
    from .protocol import CHECK_TEXTS
    try:
        onnx.make_encoder(where, encoder, CHECK_TEXTS)
    except RuntimeError as exc:
        raise RagError(f"cannot make the {encoder} encoder ({exc}); set RAG_ENCODER=fp32") from None
    fast = onnx.try_load(where, model, encoder)
    if fast is None:
        raise RagError(f"cannot load the {encoder} encoder from {where}; set RAG_ENCODER=fp32")
    return fast


def for_build(settings: Settings, emb: Embedder) -> Embedder:
    """The encoder for a build. With backend auto and sentence-transformers loaded, the model is
    exported to ONNX first (checked against sentence-transformers), so this build and every later
    query run without torch; `emb` stays when the export fails or is not wanted."""
    encoder = settings.encoder
    if encoder != "fp32":
        return _for_build_quantised(settings, emb, encoder)
    if emb.backend != "torch" or settings.backend != "auto":
        return emb
    from .export import CHECK_TEXTS, export  # torch: only for an export
    try:
        export(emb, onnx_dir_for(settings.index_dir, settings.model), CHECK_TEXTS)
    except (RuntimeError, ValueError, RagError) as exc:
        log.warning("ONNX export failed (%s); using sentence-transformers", exc)
        return emb
    return choose(settings, fallback=emb, quiet=True)


def _for_build_quantised(settings: Settings, emb: Embedder, encoder: str) -> Embedder:
    """A build by a non-fp32 encoder: export fp32 first when needed (sentence-transformers loaded),
    derive the encoder's graph from it when missing, and build with that graph only."""
    from . import onnx  # onnxruntime
    if isinstance(emb, onnx.OnnxEmbedder) and emb.encoder == encoder:
        return emb
    where = onnx_dir_for(settings.index_dir, settings.model)
    if emb.backend == "torch":
        from .export import CHECK_TEXTS, export  # torch: only for an export
        try:
            export(emb, where, CHECK_TEXTS)
        except (RuntimeError, ValueError) as exc:
            raise RagError(f"ONNX export failed ({exc}); the {encoder} encoder needs it: set RAG_ENCODER=fp32") from None
    return _loaded(_make(where, settings.model, encoder))


def _loaded(emb: Embedder) -> Embedder:
    """Count and log (at INFO) one embedder load."""
    global LOADS
    with _LOADS:
        LOADS += 1
        n = LOADS
    log.info("loaded the %s embedder for %s (load %d in this process)", emb.backend, emb.name, n)
    return emb
