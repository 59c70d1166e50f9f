"""The large-corpus paths, forced at small sizes: the HNSW vector index and the tantivy keyword
engine must give what the exact ones give (the scale benchmark measures speed; nothing is timed here)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from rag import index as vindex
from rag import retrieve as R
from rag.lexical import Lexical
from tests.conftest import SEEDS


def clustered(n: int, dim: int = 32, clusters: int = 20, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few centres: the structure of real embeddings, in miniature."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    x = centres[rng.integers(0, clusters, n)] + 0.4 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def vectors():
    return clustered(3000)


@pytest.fixture(scope="module")
def pair(vectors):
    return vindex.build(vectors), vindex.build(vectors, ann_min_rows=1)


def test_small_corpora_stay_exact_and_large_ones_switch(vectors):
    assert not vindex.approximate(vindex.build(vectors))
    assert vindex.approximate(vindex.build(vectors, ann_min_rows=len(vectors)))
    assert vindex.ANN_MIN_ROWS > len(vectors)


def test_ann_finds_the_exact_top_hits_on_clustered_data(pair):
    exact, ann = pair
    queries = clustered(50, seed=1)
    recall = []
    for q in queries:
        e_scores, e_rows = vindex.search(exact, q, 10)
        a_scores, a_rows = vindex.search(ann, q, 10)
        assert a_rows[0] == e_rows[0]
        recall.append(len(set(a_rows.tolist()) & set(e_rows.tolist())) / 10)
        assert np.all(np.diff(a_scores) <= 1e-6)
    assert np.mean(recall) >= 0.95


@pytest.mark.parametrize("ann_min_rows", [vindex.ANN_MIN_ROWS, 1])
def test_an_index_built_a_block_at_a_time_answers_as_one_built_at_once(vectors, ann_min_rows):
    """What a build does (rag.store.generation): vectors added in blocks, never all held at once."""
    whole = vindex.build(vectors, ann_min_rows=ann_min_rows)
    blocks = vindex.build_blocks((vectors[a:a + 700] for a in range(0, len(vectors), 700)), rows=len(vectors),
                                 dim=vectors.shape[1], ann_min_rows=ann_min_rows)
    assert vindex.approximate(blocks) == vindex.approximate(whole) and blocks.ntotal == len(vectors)
    exact = vindex.build(vectors)
    recall = []
    for q in clustered(50, seed=3):
        want = vindex.search(exact, q, 10)[1]
        got, same = vindex.search(blocks, q, 10)[1], vindex.search(whole, q, 10)[1]
        if not vindex.approximate(whole):
            assert got.tolist() == same.tolist()           # exact: the same rows, in the same order
        recall.append(len(set(got.tolist()) & set(want.tolist())) / 10)
    assert np.mean(recall) >= 0.95
    with pytest.raises(ValueError, match="announced"):
        vindex.build_blocks([vectors[:10]], rows=11, dim=vectors.shape[1])


def test_ann_save_load_round_trip_keeps_vectors_and_results(pair, vectors):
    _, ann = pair
    again = vindex.from_bytes(vindex.to_bytes(ann), ann.d, ann.ntotal)
    assert vindex.approximate(again)
    q = clustered(1, seed=2)[0]
    assert vindex.search(again, q, 10)[1].tolist() == vindex.search(ann, q, 10)[1].tolist()
    assert np.allclose(vindex.vectors(again), vectors, atol=1e-3)      # float16 storage
    rows = np.array([5, 0, 2999])
    assert np.allclose(vindex.take(again, rows), vectors[rows], atol=1e-3)


@pytest.mark.parametrize("subset", [40, 2000])   # small: searched exactly; large: bitmap-filtered walk
def test_allowed_rows_filter_works_with_the_approximate_index(pair, monkeypatch, subset):
    monkeypatch.setattr(vindex, "ANN_MIN_ROWS", 100)
    exact, ann = pair
    allowed = np.sort(np.random.default_rng(3).choice(ann.ntotal, subset, replace=False))
    for q in clustered(10, seed=4):
        a_scores, a_rows = vindex.search(ann, q, 5, allowed=allowed)
        e_scores, e_rows = vindex.search(exact, q, 5, allowed=allowed)
        assert set(a_rows.tolist()) <= set(allowed.tolist()) and len(a_rows) == 5
        assert a_rows[0] == e_rows[0]
        assert np.allclose(a_scores[0], e_scores[0], atol=1e-3)


def seed_paragraphs() -> list[str]:
    texts = [p.strip() for f in sorted(SEEDS.glob("*.txt"))
             for p in re.split(r"\n\s*\n", f.read_text(encoding="utf-8")) if p.strip()]
    return texts + ["", "the of and"]   # a row with no tokens and one with stopwords only


QUESTIONS = ["Who fled Japan?", "military attaché", "the war ended in", "Tokyo police arrested",
             "nothing matches zzqx", "japan japan government"]


@pytest.fixture(scope="module")
def engines():
    texts = seed_paragraphs()
    return (Lexical.build(texts, 0.9, 0.4, engine="bm25s"), Lexical.build(texts, 0.9, 0.4, engine="tantivy"),
            len(texts))


def test_tantivy_engine_ranks_and_scores_like_bm25s(engines):
    small, big, n = engines
    assert type(small.engine).__name__ == "_Bm25s" and type(big.engine).__name__ == "TantivyEngine"
    assert small.vocabulary() == big.vocabulary()
    for question in QUESTIONS:
        tokens = small.tokenize(question)
        s_rows, s_scores = small.top(tokens, 10)
        b_rows, b_scores = big.top(tokens, 10)
        assert b_rows.tolist() == s_rows.tolist(), question
        assert np.allclose(b_scores, s_scores, rtol=1e-5)
        assert np.allclose(big.scores(tokens), small.scores(tokens), rtol=1e-5, atol=1e-6)
        rows = np.array([n - 1, 0, 3])
        assert np.allclose(big.score_rows(tokens, rows), small.score_rows(tokens, rows), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("share", [0.1, 0.8])   # inside tantivy (few rows) and after it (most rows)
def test_tantivy_allowed_rows_match_bm25s(engines, share):
    small, big, n = engines
    allowed = np.sort(np.random.default_rng(5).choice(n, int(n * share), replace=False))
    for question in QUESTIONS:
        tokens = small.tokenize(question)
        s_rows, _ = small.top(tokens, 5, allowed)
        b_rows, _ = big.top(tokens, 5, allowed)
        assert b_rows.tolist() == s_rows.tolist(), question


def test_tantivy_save_load_round_trip(engines, tmp_path):
    _, big, n = engines
    big.save(tmp_path / "bm25")
    again = Lexical.load(tmp_path / "bm25", n)
    tokens = again.tokenize("Who fled Japan?")
    assert again.top(tokens, 10)[0].tolist() == big.top(tokens, 10)[0].tolist()
    assert np.allclose(again.top(tokens, 10)[1], big.top(tokens, 10)[1])


def test_hybrid_rank_is_the_same_with_the_scale_engines(engines):
    small, big, n = engines
    vecs = clustered(n, seed=6)
    exact = vindex.Ranking(vindex.build(vecs), small)
    scaled = vindex.Ranking(vindex.build(vecs, ann_min_rows=1), big)
    for i, question in enumerate(QUESTIONS):
        q, tokens = vecs[i * 7], small.tokenize(question)
        a = R.rank(exact, q, tokens, mode="hybrid", k=5, candidates=100, fusion="convex", weight=0.7)
        b = R.rank(scaled, q, tokens, mode="hybrid", k=5, candidates=100, fusion="convex", weight=0.7)
        assert b.rows.tolist() == a.rows.tolist(), question
        assert np.allclose(b.lexical, a.lexical, rtol=1e-5)
