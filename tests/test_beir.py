"""BEIR evaluation: loading, hand-computed metrics, and the product path on a tiny fixture."""
import json
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
    r = beir.evaluate(s, TINY, split="test", mode="keyword", cache=tmp_path / "cache", embedder=fake)
    assert r["queries"] == 3 and r["documents"] == 4 and r["embedded"] == 4
    assert r["ndcg@10"] > 0.9 and r["recall@10"] == pytest.approx(5 / 6, abs=1e-3)   # q2: d2 shares no term with its query
    again = beir.evaluate(s, TINY, split="test", mode="keyword", cache=tmp_path / "cache", embedder=fake)
    assert again["embedded"] == 0 and again["ndcg@10"] == r["ndcg@10"]


def test_metrics_agree_with_trec_eval_on_random_runs():
    """Our nDCG@10 / Recall@10 / Recall@100 / MRR@10 against pytrec_eval (trec_eval itself, which
    BEIR's own evaluation uses), on graded qrels with zero grades, short and empty runs, and the tiny
    fixture. MRR@10 is trec_eval's recip_rank on runs cut at 10; a query missing from a run scores 0."""
    pytrec_eval = pytest.importorskip("pytrec_eval")
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
    names = {"ndcg@10": "ndcg_cut_10", "recall@10": "recall_10", "recall@100": "recall_100", "mrr@10": "recip_rank"}
    for qr, rn in zip(cases, runs):
        scored = {q: {d: 1000.0 - i for i, d in enumerate(ds)} for q, ds in rn.items() if ds}
        full = pytrec_eval.RelevanceEvaluator(qr, {"ndcg_cut.10", "recall.10,100"}).evaluate(scored)
        cut = pytrec_eval.RelevanceEvaluator(qr, {"recip_rank"}).evaluate(
            {q: {d: s for d, s in ds.items() if s > 990.0} for q, ds in scored.items()})
        per_query = {q: {**full.get(q, {}), **cut.get(q, {})} for q in qr}
        theirs = {ours: sum(m.get(t, 0.0) for m in per_query.values()) / len(qr) for ours, t in names.items()}
        ours = beir.metrics(rn, qr)
        for name in names:
            assert ours[name] == pytest.approx(float(theirs[name]), abs=1e-4), name


def test_any_corpus_id_works_and_is_scored_by_its_own_id(tmp_path, fake):
    """Entity-style ids with '/', '<>', ':', '.', '..', very long or non-ASCII ones: each is a safe file
    inside the cache folder, and the run is scored with the corpus's own ids."""
    ids = ["<kb:F/A-18_Hornet>", "_kb:Some_Page_", "..", "../escape", "a" * 300, "Kurilen/Inseln ü", "x-1", "42"]
    words = ["hornet jet fighter", "some page words", "dots only here", "escape attempt path", "long identifier text",
             "islands north hokkaido", "prefix collision check", "plain numeric id"]
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": "", "text": w}) + "\n"
                                                 for i, w in zip(ids, words)), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{n}", "text": w}) + "\n"
                                                  for n, w in enumerate(words)), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("".join(f"q{n}\t{i}\t1\n" for n, i in enumerate(ids)), encoding="utf-8")
    r = beir.evaluate(Settings(model=fake.name), folder, split="test", mode="keyword", cache=tmp_path / "cache",
                      embedder=fake)
    assert r["documents"] == len(ids) and r["ndcg@10"] == 1.0
    files = list((tmp_path / "cache" / "docs").iterdir())
    assert len(files) == len(ids) and all(f.parent == tmp_path / "cache" / "docs" for f in files)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "cache" / "escape.txt").exists()
