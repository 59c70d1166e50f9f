"""BEIR evaluation: loading, hand-computed metrics, and the product path on a tiny fixture."""
import random
from pathlib import Path

import pytest

from rag import beir
from rag.config import Settings

TINY = Path(__file__).resolve().parent / "data" / "beir_tiny"


def test_load_with_and_without_qrels_header():
    corpus, queries, qrels = beir.load(TINY, "test")
    assert len(corpus) == 4 and corpus["d1"][0] == "Vitamin D and bones" and len(queries) == 4
    assert qrels == {"q1": {"d1": 1}, "q2": {"d3": 2, "d2": 1}, "q3": {"d4": 1, "d9": 0}}
    assert beir.load(TINY, "train")[2] == {"q1": {"d1": 1}}


def test_metrics_match_hand_computation():
    _, _, qrels = beir.load(TINY, "test")
    run = {"q1": ["d1", "d2"], "q2": ["d2", "d4", "d3"], "q3": ["d1"], "q4": ["d1"]}
    m = beir.metrics(run, qrels)
    # q1 perfect; q2 DCG = 1/log2(2) + 2/log2(4) = 2, IDCG = 2 + 1/log2(3); q3 misses
    assert m["ndcg@10"] == pytest.approx((1 + 2 / (2 + 1 / 1.5849625007)) / 3, abs=1e-4)
    assert m["recall@10"] == m["recall@100"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["mrr@10"] == pytest.approx(2 / 3, abs=1e-4)


def test_not_a_beir_folder(tmp_path):
    with pytest.raises(Exception, match="not a BEIR folder"):
        beir.load(tmp_path)


def test_evaluate_runs_the_product_path_and_caches(tmp_path, fake):
    s = Settings(model=fake.name)
    r = beir.evaluate(s, TINY, "test", "keyword", tmp_path / "cache", embedder=fake)
    assert r["queries"] == 3 and r["documents"] == 4 and r["embedded"] == 4
    assert r["ndcg@10"] > 0.9 and r["recall@10"] == pytest.approx(5 / 6, abs=1e-3)   # q2: d2 shares no term with its query
    again = beir.evaluate(s, TINY, "test", "keyword", tmp_path / "cache", embedder=fake)
    assert again["embedded"] == 0 and again["ndcg@10"] == r["ndcg@10"]


def test_metrics_agree_with_ranx_on_random_runs():
    """Our nDCG@10 / Recall@10 / Recall@100 / MRR@10 against ranx (the trec_eval definitions),
    on graded qrels with zero grades, short and empty runs, and the tiny fixture."""
    ranx = pytest.importorskip("ranx")
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(150)]
    cases = [beir.load(TINY, "test")[2]]
    runs = [{"q1": ["d1", "d2"], "q2": ["d2", "d4", "d3"], "q3": ["d1"]}]
    qrels: dict = {}
    run: dict = {}
    for q in range(40):
        judged = rng.sample(docs, rng.randint(1, 12))
        qrels[f"q{q}"] = {d: rng.choice([1, 1, 2, 0]) for d in judged}
        qrels[f"q{q}"][judged[0]] = rng.randint(1, 2)        # every query has a relevant document
        if q % 10:                                           # one query in ten has no results
            run[f"q{q}"] = rng.sample(docs, rng.choice([3, 10, 50, 120]))
    cases.append(qrels)
    runs.append(run)
    names = ["ndcg@10", "recall@10", "recall@100", "mrr@10"]
    for qr, rn in zip(cases, runs):
        theirs = ranx.evaluate(ranx.Qrels(qr), ranx.Run({q: {d: 1000.0 - i for i, d in enumerate(ds)}
                                                         for q, ds in rn.items() if ds}),
                               names, make_comparable=True)
        ours = beir.metrics(rn, qr)
        for name in names:
            assert ours[name] == pytest.approx(float(theirs[name]), abs=1e-4), name
