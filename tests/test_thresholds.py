"""RAG_HNSW_MIN_ROWS and RAG_TANTIVY_MIN_ROWS: the sizes from which the large-index engines (an HNSW
graph, tantivy) take over are settings, so a small corpus can run them; the answers stay the same."""
from __future__ import annotations

import pytest

from rag import index as vindex
from rag.config import Settings
from rag.engine import Engine


def test_the_large_index_engines_run_on_the_seeds_when_the_thresholds_are_lowered(fake_engine, fake, tmp_path):
    small = fake_engine._snapshot()
    assert not vindex.approximate(small.vectors) and type(small.lexical.engine).__name__ == "_Bm25s"
    settings = Settings.from_env({"RAG_HNSW_MIN_ROWS": "1", "RAG_TANTIVY_MIN_ROWS": "1"},
                                 docs_dir=fake_engine.settings.docs_dir, index_dir=tmp_path / "large",
                                 model=fake.name)
    large = Engine.open(settings, embedder=fake)
    snap = large._snapshot()
    assert vindex.approximate(snap.vectors) and type(snap.lexical.engine).__name__ == "TantivyEngine"
    for q in ("Kuril Islands peace treaty", "Who fled Japan?", "Japanese loan to Russia"):
        exact = [h.passage.id for h in fake_engine.search(q, k=5, mode="dense")]
        graph = [h.passage.id for h in large.search(q, k=5, mode="dense")]
        assert len(set(exact) & set(graph)) >= 4, (q, exact, graph)      # HNSW: near-exact at 46 rows
        bm25s = [(h.passage.id, round(h.lexical, 4)) for h in fake_engine.search(q, k=5, mode="keyword")]
        tantivy = [(h.passage.id, round(h.lexical, 4)) for h in large.search(q, k=5, mode="keyword")]
        assert [p for p, _ in bm25s] == [p for p, _ in tantivy], q
    assert large.ask("Who fled Japan?").supported == fake_engine.ask("Who fled Japan?").supported


def test_thresholds_must_be_positive():
    with pytest.raises(ValueError, match="RAG_HNSW_MIN_ROWS"):
        Settings.from_env({"RAG_HNSW_MIN_ROWS": "0"})
