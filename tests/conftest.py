"""Shared fixtures: a deterministic fake embedder for fast tests, and the real model on the real
seeds, built once per session."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings as hypothesis_settings

# Hypothesis: CI (CI=true) runs the same examples every time (derandomised), so a red run can be
# re-run and a green one means the same thing twice; a local run draws new examples each time.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("dev", print_blob=True)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


class FakeEmbedder:
    """Hashed bag of words -> normalized vector. Deterministic, instant, no model. Counts calls.
    Meets rag.embed.protocol.Embedder (the engine and the build use nothing else)."""

    name, dim, max_tokens, backend = "fake-hash-embedder", 64, 256, "fake"
    counts_add_up = False   # never claimed: ingest takes the general counting path with the fake
    fingerprint = ""        # no ONNX graph

    def __init__(self):
        self.encoded: list[str] = []

    def count_tokens(self, text: str) -> int:
        return self.count_tokens_batch([text])[0]

    def count_tokens_batch(self, texts: list[str]) -> list[int]:
        return [len(t.split()) + 2 for t in texts]

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for w in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def encode_passages(self, texts, progress=None):
        self.encoded += list(texts)
        if progress:
            progress(len(texts))
        return np.array([self._vec(t) for t in texts], dtype=np.float32).reshape(len(texts), self.dim)

    def encode_queries(self, texts):
        return np.array([self._vec(t) for t in texts], dtype=np.float32).reshape(len(texts), self.dim)


@pytest.fixture
def fake():
    return FakeEmbedder()


@pytest.fixture
def docs(tmp_path) -> Path:
    """A private copy of the seed documents."""
    d = tmp_path / "docs"
    shutil.copytree(SEEDS, d)
    return d


@pytest.fixture
def fake_engine(docs, tmp_path, fake):
    from rag.config import Settings
    from rag.engine import Engine
    settings = Settings(docs_dir=docs, index_dir=tmp_path / "index", model=fake.name)
    return Engine.open(settings, embedder=fake)


@pytest.fixture(scope="session")
def real_engine(tmp_path_factory):
    """The real model on the real seeds, indexed once per session."""
    from rag.config import Settings
    from rag.engine import Engine
    where = tmp_path_factory.mktemp("real")
    return Engine.open(Settings(docs_dir=SEEDS, index_dir=where / "index"))


@pytest.fixture(scope="session")
def real_index(real_engine) -> Path:
    return real_engine.settings.index_dir
