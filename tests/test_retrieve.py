import numpy as np
import pytest

from rag import retrieve as R


def test_top_n_orders_and_breaks_ties_by_row():
    s = np.array([0.1, 0.9, 0.5, 0.9, 0.0])
    assert R.top_n(s, 3).tolist() == [1, 3, 2]
    assert R.top_n(s, 10).tolist() == [1, 3, 2, 0, 4]
    assert R.top_n(s, 2, allowed=np.array([0, 2, 4])).tolist() == [2, 0]
    assert R.top_n(s, 0).tolist() == []


def test_rrf_rewards_agreement():
    fused = R.rrf([np.array([3, 1, 2]), np.array([1, 3, 7])], k=60)
    assert fused[1] == fused[3] > fused[2] > 0 and fused[7] == 1 / 63


def test_convex_normalises_each_side():
    dense = np.array([0.2, 0.5, 0.8], dtype=np.float32)
    lex = np.array([4.0, 0.0, 2.0], dtype=np.float32)
    out = R.convex(dense, lex, 0.5)
    assert np.allclose(out, [0.5 * 0 + 0.5 * 1.0, 0.5 * 0.5 + 0, 0.5 * 1 + 0.5 * 0.5])
    assert np.allclose(R.convex(dense, np.zeros(3, np.float32), 1.0), [0, 0.5, 1])


def test_bounded_uses_fixed_scales_so_other_candidates_do_not_matter():
    dense = np.array([0.2, 0.5, 0.8], dtype=np.float32)
    lex = np.array([4.0, 0.0, 2.0], dtype=np.float32)
    out = R.bounded(dense, lex, 0.5, 8.0)
    assert np.allclose(out, [0.5 * 0.2 + 0.25, 0.25, 0.4 + 0.125])
    assert np.allclose(R.bounded(dense[1:], lex[1:], 0.5, 8.0), out[1:])    # unlike min-max
    assert np.allclose(R.bounded(dense, lex, 0.5, 0.0), 0.5 * dense)


def test_bm25_ceiling_bounds_every_score_and_agrees_across_engines():
    from rag.lexical import Lexical
    texts = ["vitamin d deficiency and bone loss", "bone bone bone density", "sleep and memory", "vitamin c"]
    q = ["vitamin", "bone", "bone", "unknown"]
    small, large = Lexical.build(texts, 0.9, 0.4, engine="bm25s"), Lexical.build(texts, 0.9, 0.4, engine="tantivy")
    for lex in (small, large):
        tokens = [t for w in q for t in lex.tokenize(w)]
        assert 0 < lex.scores(tokens).max() < lex.ceiling(tokens)
        assert lex.ceiling([]) == 0.0
    tokens = small.tokenize("vitamin bone bone")
    assert small.ceiling(tokens) == pytest.approx(large.ceiling(tokens), rel=1e-5)


def test_with_sentences_blends_only_when_asked():
    dense, best = np.array([0.5, 0.2], np.float32), np.array([0.9, 0.2], np.float32)
    assert np.allclose(R.with_sentences(dense, best, 0.25), [0.75 * 0.5 + 0.25 * 0.9, 0.2])
    assert R.with_sentences(dense, best, 0.0) is dense and R.with_sentences(dense, None, 0.5) is dense


def test_best_sentence_is_each_rows_highest_sentence_cosine(fake_engine):
    snap = fake_engine.snapshot()
    q = snap.sentence_vectors[7]
    rows = np.array([0, 3, 1])
    want = [float((snap.sentences_of(r) @ q).max()) for r in rows.tolist()]
    assert np.allclose(snap.best_sentence(rows, q), want)
    assert snap.best_sentence(rows[:0], q) is None
    hits = fake_engine.search("island talks", k=3)
    blended = type(fake_engine)(fake_engine.settings.with_(sentence_share=1.0, mode="dense"),
                                fake_engine.embedder())
    top = blended.search("island talks", k=3)
    q = fake_engine.embedder().encode_queries(["island talks"])[0]
    best = [float((snap.sentences_of(snap.by_id[h.passage.id]) @ q).max()) for h in top]
    assert [h.score for h in top] == sorted(best, reverse=True) and np.allclose([h.score for h in top], best)
    assert hits and all(h.dense is not None for h in top)
