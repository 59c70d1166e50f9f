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
    out = R.bounded(dense, lex, 0.5, ceiling=8.0)
    assert np.allclose(out, [0.5 * 0.2 + 0.25, 0.25, 0.4 + 0.125])
    assert np.allclose(R.bounded(dense[1:], lex[1:], 0.5, ceiling=8.0), out[1:])    # unlike min-max
    assert np.allclose(R.bounded(dense, lex, 0.5, ceiling=0.0), 0.5 * dense)


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
    # each term's idf, as the short answer weighs the question's terms: the rarer the heavier, 0 when unknown
    terms = small.tokenize("vitamin bone sleep") + ["unknown", ""]
    for lex in (small, large):
        idf = lex.idfs(terms)
        assert idf[2] > idf[0] > 0 and idf[0] == pytest.approx(idf[1]) and idf[3] == idf[4] == 0
        assert idf.sum() == pytest.approx(lex.ceiling(terms))
    assert np.allclose(small.idfs(terms), large.idfs(terms), rtol=1e-5)


def test_with_sentences_blends_only_when_asked():
    dense, best = np.array([0.5, 0.2], np.float32), np.array([0.9, 0.2], np.float32)
    assert np.allclose(R.with_sentences(dense, best, 0.25), [0.75 * 0.5 + 0.25 * 0.9, 0.2])
    assert R.with_sentences(dense, best, 0.0) is dense and R.with_sentences(dense, None, 0.5) is dense


def test_best_sentence_is_each_rows_highest_sentence_cosine(fake_engine):
    snap = fake_engine._snapshot()
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


def test_adaptive_is_bounded_when_the_question_says_enough():
    dense = np.array([0.2, 0.5, 0.8], dtype=np.float32)
    lex = np.array([4.0, 0.0, 2.0], dtype=np.float32)
    # ceiling 9 = 3 rare-term units of 3.0: at the floor, so nothing changes
    assert np.array_equal(R.adaptive(dense, lex, 0.6, ceiling=9.0, rare_idf=3.0, floor=3.0),
                          R.bounded(dense, lex, 0.6, ceiling=9.0))
    assert R.keyword_share(9.0, 3.0, 3.0) == 1.0 and R.keyword_share(20.0, 3.0, 3.0) == 1.0


def test_adaptive_cuts_the_keyword_weight_in_proportion_below_the_floor():
    # one rare-term unit (ceiling == rare idf) against a floor of 3: a third of the keyword weight
    assert R.keyword_share(4.0, 4.0, 3.0) == pytest.approx(1 / 3)
    dense = np.array([0.75, 0.60], dtype=np.float32)       # dense prefers row 0 ...
    lex = np.array([0.0, 2.0], dtype=np.float32)           # ... BM25 matches only row 1 (half its ceiling)
    bounded = R.bounded(dense, lex, 0.6, ceiling=4.0)
    adaptive = R.adaptive(dense, lex, 0.6, ceiling=4.0, rare_idf=4.0, floor=3.0)
    assert np.allclose(adaptive, 0.6 * dense + 0.4 * lex / 12.0)
    assert bounded.argmax() == 1 and adaptive.argmax() == 0   # the name match no longer outvotes the cosine


def test_adaptive_tends_to_dense_as_the_question_says_nothing():
    rng = np.random.default_rng(0)
    ceiling = 1e-4                                         # BM25 never exceeds the ceiling
    dense, lex = rng.random(50).astype(np.float32), (rng.random(50) * ceiling).astype(np.float32)
    assert np.argsort(-R.bounded(dense, lex, 0.6, ceiling=ceiling))[0] != np.argsort(-dense)[0]
    almost = R.adaptive(dense, lex, 0.6, ceiling=ceiling, rare_idf=5.0, floor=3.0)
    assert np.array_equal(np.argsort(-almost), np.argsort(-dense))
    assert R.keyword_share(0.0, 5.0, 3.0) == 0.0
    assert R.keyword_share(0.0, 0.0, 3.0) == 1.0 and R.keyword_share(2.0, 5.0, 0.0) == 1.0   # no corpus; no floor


def test_rare_idf_is_the_idf_of_a_term_only_one_row_has():
    from rag.lexical import Lexical
    texts = ["vitamin d deficiency and bone loss", "bone density", "sleep and memory", "vitamin c"]
    for engine in ("bm25s", "tantivy"):
        lex = Lexical.build(texts, 0.9, 0.4, engine=engine)
        assert lex.ceiling(lex.tokenize("deficiency")) == pytest.approx(lex.rare_idf(), rel=1e-6)
        assert lex.ceiling(lex.tokenize("vitamin")) < lex.rare_idf()            # in two rows
        assert lex.ceiling(lex.tokenize("sleep memory")) == pytest.approx(2 * lex.rare_idf(), rel=1e-6)


def test_rank_fuses_adaptively_when_asked(fake_engine):
    snap = fake_engine._snapshot()
    q = fake_engine.embedder().encode_queries(["island talks"])[0]
    tokens = snap.lexical.tokenize("island talks")
    low = R.rank(snap, q, tokens, mode="hybrid", k=5, candidates=100, fusion="adaptive", weight=0.6, share=0.0, floor=1e9)
    dense = R.rank(snap, q, tokens, mode="dense", k=5, candidates=100, share=0.0)
    assert low.rows.tolist() == dense.rows.tolist()           # an unreachable floor: dense order
    at_zero = R.rank(snap, q, tokens, mode="hybrid", k=5, candidates=100, fusion="adaptive", weight=0.6, share=0.0, floor=0.0)
    bounded = R.rank(snap, q, tokens, mode="hybrid", k=5, candidates=100, fusion="bounded", weight=0.6, share=0.0)
    assert at_zero.rows.tolist() == bounded.rows.tolist() and np.allclose(at_zero.scores, bounded.scores)


def test_the_keyword_floor_is_a_setting(fake_engine):
    from rag.config import Settings
    from rag.engine import Engine
    assert Settings.from_env({"RAG_KEYWORD_FLOOR": "1e9"}).keyword_floor == 1e9
    s, emb = fake_engine.settings.with_(sentence_share=0.0), fake_engine.embedder()
    dense = [h.passage.id for h in Engine(s, emb).search("island talks", k=5, mode="dense")]
    ids = lambda floor: [h.passage.id for h in Engine(s.with_(fusion="adaptive", keyword_floor=floor),  # noqa: E731
                                                      emb).search("island talks", k=5)]
    assert ids(1e9) == dense and ids(3.0) != dense      # an unreachable floor ranks as dense mode does
