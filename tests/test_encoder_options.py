"""The encoder setting (Settings.encoder, RAG_ENCODER): fp32, the default, or the opt-in int8 graph
derived from the ONNX export. An index records which encoder built it, and a query encoder that
differs is refused with the fix named, never silently used (see docs/BENCHMARKS.md, "A faster encoder")."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.config import DEFAULT_MODEL, Settings
from rag.embed import choose as E
from rag.embed.protocol import index_encoder, manifest_record, onnx_dir_for
from rag.schema import RagError

SUMS = {"model.onnx": "a" * 64, "tokenizer.json": "b" * 64}


# -- the setting and the manifest record (no model) -----------------------------------------------
def test_encoder_setting_defaults_to_fp32_and_reads_rag_encoder():
    assert Settings().encoder == "fp32"
    assert Settings.from_env({"RAG_ENCODER": "int8"}).encoder == "int8"
    with pytest.raises(ValueError, match="encoder must be one of fp32, int8"):
        Settings.from_env({"RAG_ENCODER": "fp16"})


def test_manifest_records_a_non_default_encoder_only():
    assert manifest_record(SUMS, "fp32") == SUMS                       # a default index's manifest is as before
    assert manifest_record(SUMS, "int8") == SUMS | {"encoder": "int8"}
    assert manifest_record({}, "int8") == {}                           # no export: sentence-transformers built it
    assert index_encoder(SUMS) == "fp32" and index_encoder({}) == "fp32" and index_encoder(None) == "fp32"
    assert index_encoder(manifest_record(SUMS, "int8")) == "int8"


@pytest.mark.parametrize("built, wanted", [("int8", "fp32"), ("fp32", "int8")])
def test_mixing_encoders_is_refused_with_the_fix_named(tmp_path, built, wanted):
    settings = Settings(index_dir=tmp_path / "index", encoder=wanted)
    with pytest.raises(RagError) as err:
        E.choose(settings, expected=manifest_record(SUMS, built))
    text = str(err.value)
    assert f"built with the {built} encoder" in text
    assert "rag index --rebuild" in text and f"RAG_ENCODER={built}" in text


def test_int8_needs_onnx_runtime(tmp_path):
    with pytest.raises(RagError, match="runs on ONNX Runtime"):
        E.choose(Settings(index_dir=tmp_path / "index", encoder="int8", backend="torch"))


def test_a_stale_encoder_re_embeds_every_document():
    from rag.store.snapshot import Snapshot
    snap = Snapshot.__new__(Snapshot)
    from rag.store.snapshot import INGEST_VERSION
    base = {"ingest_version": INGEST_VERSION, "model": DEFAULT_MODEL, "context": Settings().context,
            "answer_vectors": True}
    object.__setattr__(snap, "manifest", base | {"onnx": SUMS})
    assert snap.stale(Settings()) == ""
    assert "encoder 'fp32', now 'int8'" in snap.stale(Settings(encoder="int8"))
    object.__setattr__(snap, "manifest", base | {"onnx": manifest_record(SUMS, "int8")})
    assert snap.stale(Settings(encoder="int8")) == ""


# -- the real model (the session's export): build with int8, record it, refuse fp32 ----------------
@pytest.fixture(scope="module")
def int8_engine(real_index, tmp_path_factory):
    """Two seed documents indexed with the int8 encoder, beside a copy of the session's export."""
    from rag.engine import Engine
    root = tmp_path_factory.mktemp("int8")
    docs = root / "docs"
    docs.mkdir()
    for f in sorted((Path(__file__).resolve().parents[1] / "seeds").glob("*.txt"))[:2]:
        shutil.copy(f, docs / f.name)
    where = onnx_dir_for(root / "index", DEFAULT_MODEL)
    shutil.copytree(onnx_dir_for(real_index, DEFAULT_MODEL), where)
    (where / "model.int8.onnx").unlink(missing_ok=True)
    settings = Settings(docs_dir=docs, index_dir=root / "index", encoder="int8")
    engine = Engine(settings)
    engine.build()
    return engine


def test_int8_build_records_its_encoder_and_serves(int8_engine):
    from rag.embed import onnx
    where = onnx_dir_for(int8_engine.settings.index_dir, DEFAULT_MODEL)
    export = json.loads((where / "export.json").read_text())
    record = int8_engine._snapshot().manifest["onnx"]
    assert record["encoder"] == "int8"
    assert record["model.int8.onnx"] == export["sha256"]["model.int8.onnx"] == onnx.file_sha256(where / "model.int8.onnx")
    assert export["encoders"]["int8"]["min_cosine"] >= onnx.MIN_INT8_COSINE
    emb = int8_engine.embedder()
    assert emb.backend == "onnx" and emb.encoder == "int8" and emb.fingerprint == record["model.int8.onnx"]
    fp32 = onnx.try_load(where, DEFAULT_MODEL)
    q = ["Who fled Japan?", "space station"]
    cos = (fp32.encode_queries(q) * emb.encode_queries(q)).sum(1)
    assert cos.min() > 0.98 and not np.allclose(cos, 1.0, atol=1e-6)   # close to fp32, and not fp32
    assert int8_engine.search("Who fled Japan?")


def test_querying_an_int8_index_with_fp32_is_refused(int8_engine):
    from rag.engine import Engine
    fp32 = Engine(int8_engine.settings.with_(encoder="fp32"))
    with pytest.raises(RagError, match=r"rag index --rebuild.*RAG_ENCODER=int8"):
        fp32.search("Who fled Japan?")
    with pytest.raises(RagError, match="RAG_ENCODER=int8"):        # torch is no way round it either
        Engine(int8_engine.settings.with_(encoder="fp32", backend="torch")).search("Who fled Japan?")


def test_a_changed_int8_graph_is_refused(int8_engine, tmp_path):
    from rag.engine import Engine
    index = tmp_path / "index"
    shutil.copytree(int8_engine.settings.index_dir, index)
    graph = onnx_dir_for(index, DEFAULT_MODEL) / "model.int8.onnx"
    graph.write_bytes(graph.read_bytes() + b"\0")
    engine = Engine(int8_engine.settings.with_(index_dir=index))
    with pytest.raises(RagError, match="missing or changed; run: python -m rag index --rebuild"):
        engine.search("Who fled Japan?")
