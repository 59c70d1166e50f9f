"""The torch-free query path: rag.embed.export and rag.embed.onnx against sentence-transformers, on the
real model and the real seeds. The export is made once per session."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from rag.config import DEFAULT_MODEL
from rag.embed import onnx as onnx_embed
from rag.embed.export import export
from rag.embed.sbert import TorchEmbedder

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ["Who fled Japan?", "What did the Russian Space Agency discuss in Japan?",
             "When was the treaty signed?", "space station", "Why did the minister resign?"]
MIN_COSINE = 0.9999


def seed_paragraphs() -> list[str]:
    paras = [p.strip() for f in sorted((ROOT / "seeds").glob("*.txt"))
             for p in f.read_text(encoding="utf-8").split("\n\n")]
    return [p for p in paras if p]


@pytest.fixture(scope="session")
def paragraphs() -> list[str]:
    paras = seed_paragraphs()
    assert len(paras) > 20, "the five seed files should give dozens of paragraphs"
    return paras


@pytest.fixture(scope="session")
def torch_emb() -> TorchEmbedder:
    return TorchEmbedder()


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory, paragraphs) -> Path:
    out = tmp_path_factory.mktemp("onnx")
    export(DEFAULT_MODEL, out, paragraphs + QUESTIONS)
    return out


@pytest.fixture(scope="session")
def onnx_emb(export_dir) -> onnx_embed.OnnxEmbedder:
    emb = onnx_embed.try_load(export_dir, DEFAULT_MODEL)
    assert emb is not None, "a fresh export must load"
    return emb


def _min_cos(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float((a * b).sum(1).min())


def test_export_folder_describes_itself(export_dir, paragraphs, onnx_emb, torch_emb):
    assert sorted(p.name for p in export_dir.iterdir()) == ["export.json", "model.onnx", "tokenizer.json"]
    meta = json.loads((export_dir / "export.json").read_text())
    assert meta["model"] == DEFAULT_MODEL and meta["dim"] == torch_emb.dim == onnx_emb.dim
    assert meta["max_tokens"] == torch_emb.max_tokens == onnx_emb.max_tokens
    assert meta["inputs"] == ["input_ids", "token_type_ids", "attention_mask"]
    assert meta["min_cosine"] >= MIN_COSINE and meta["checked"] == len(paragraphs) + len(QUESTIONS)
    assert meta["torch"] and meta["onnxruntime"] == onnx_embed.runtime_version()
    assert onnx_embed.verify_files(export_dir)
    assert (onnx_emb.name, onnx_emb.backend) == (DEFAULT_MODEL, "onnx")


@pytest.mark.parametrize("kind", ["passages", "questions"])
def test_same_vectors_as_sentence_transformers(kind, paragraphs, torch_emb, onnx_emb):
    texts = paragraphs if kind == "passages" else QUESTIONS
    want = torch_emb.encode_passages(texts)
    batched = onnx_emb.encode_passages(texts)
    assert batched.dtype == np.float32 and batched.shape == (len(texts), torch_emb.dim)
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert _min_cos(want, batched) >= MIN_COSINE
    assert _min_cos(want, onnx_emb.encode_queries(texts)) >= MIN_COSINE
    single = np.vstack([onnx_emb.encode_queries([t]) for t in texts])
    assert _min_cos(want, single) >= MIN_COSINE


def test_progress_counts_every_text_once(paragraphs, onnx_emb):
    calls: list[int] = []
    onnx_emb.encode_passages(paragraphs, progress=calls.append)
    assert sum(calls) == len(paragraphs) and max(calls) <= onnx_emb.batch_size


def test_count_tokens_matches_torch(paragraphs, torch_emb, onnx_emb):
    long_text = " ".join(paragraphs)
    for text in paragraphs + QUESTIONS + [long_text, ""]:
        assert onnx_emb.count_tokens(text) == torch_emb.count_tokens(text)
    assert onnx_emb.count_tokens(long_text) > onnx_emb.max_tokens   # counting does not truncate
    texts = paragraphs + QUESTIONS + [long_text, ""]
    torch_emb.encode_passages(paragraphs[:3])        # leaves sentence-transformers' tokenizer padding batches
    want = [onnx_emb.count_tokens(t) for t in texts]
    assert onnx_emb.count_tokens_batch(texts) == torch_emb.count_tokens_batch(texts) == want


def test_empty_input_gives_empty_matrix(onnx_emb):
    for fn in (onnx_emb.encode_passages, onnx_emb.encode_queries):
        out = fn([])
        assert out.shape == (0, onnx_emb.dim) and out.dtype == np.float32


def test_long_text_is_truncated(onnx_emb, torch_emb):
    text = " ".join(f"word{i % 97}" for i in range(10_000))
    out = onnx_emb.encode_passages([text, "short"])
    assert out.shape == (2, onnx_emb.dim) and np.isfinite(out).all()
    assert _min_cos(out[:1], torch_emb.encode_passages([text])) >= MIN_COSINE


def test_try_load_refuses_another_model(export_dir, tmp_path):
    assert onnx_embed.try_load(export_dir, "sentence-transformers/all-mpnet-base-v2") is None
    assert onnx_embed.try_load(tmp_path / "missing", DEFAULT_MODEL) is None
    assert not onnx_embed.verify_files(tmp_path / "missing")


def test_try_load_refuses_a_tampered_model(export_dir, tmp_path):
    copy = tmp_path / "onnx"
    shutil.copytree(export_dir, copy)
    model = copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    assert not onnx_embed.verify_files(copy)
    assert onnx_embed.try_load(copy, DEFAULT_MODEL) is None


def test_concurrent_queries_equal_serial(onnx_emb):
    serial = {q: onnx_emb.encode_queries([q]) for q in QUESTIONS}
    results: list[tuple[str, np.ndarray]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(offset: int) -> None:
        start.wait()
        for i in range(20):
            q = QUESTIONS[(offset + i) % len(QUESTIONS)]
            try:
                results.append((q, onnx_emb.encode_queries([q])))
            except BaseException as exc:   # surfaced below: a thread's exception is otherwise lost
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 160
    assert all(np.allclose(vec, serial[q], atol=1e-6) for q, vec in results)


def test_query_path_does_not_import_torch(export_dir):
    script = ("import sys; from pathlib import Path; from rag.embed.onnx import try_load\n"
              f"emb = try_load(Path(sys.argv[1]), {DEFAULT_MODEL!r})\n"
              "vec = emb.encode_queries(['Who fled Japan?'])\n"
              "print(vec.shape, sorted(m for m in ('torch', 'sentence_transformers', 'transformers')"
              " if m in sys.modules))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script, str(export_dir)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 384) []"
