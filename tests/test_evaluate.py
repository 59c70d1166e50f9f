import math

from rag import evaluate
from rag.schema import Passage


def test_rank_metrics():
    assert evaluate.recall_at(3, 3) == 1.0 and evaluate.recall_at(4, 3) == 0.0 and evaluate.recall_at(None, 5) == 0.0
    assert evaluate.reciprocal_rank(4) == 0.25 and evaluate.reciprocal_rank(11, 10) == 0.0


def test_ndcg_binary_and_graded():
    assert evaluate.ndcg(["a", "b"], {"a": 1.0}) == 1.0
    assert math.isclose(evaluate.ndcg(["x", "a"], {"a": 1.0}), 1 / math.log2(3))
    assert evaluate.ndcg(["x"], {}) == 0.0
    assert math.isclose(evaluate.ndcg(["b", "a"], {"a": 2.0, "b": 1.0}),
                        (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))


def test_gold_ids_match_quotes_within_the_named_document():
    ps = [Passage("d:1", "d", 1, 0, "Alpha beta “gamma”.", 0, 1, "D ¶1"),
          Passage("e:1", "e", 1, 0, "Alpha beta “gamma”.", 0, 1, "E ¶1")]
    item = {"gold": [{"doc": "d", "quote": "beta  “gamma”"}]}
    assert evaluate.gold_ids(item, ps) == {"d:1"}


def test_every_dev_and_holdout_quote_resolves_against_the_real_seeds():
    from pathlib import Path

    from rag import ingest
    seeds = Path(__file__).resolve().parent.parent / "seeds"
    passages = [p for f in sorted(seeds.glob("*.txt")) for p in ingest.parse(f.name, f.read_text("utf-8"))[1]]
    for name in ("dev_qa.jsonl", "dev_why_qa.jsonl", "dev2_qa.jsonl", "dev3_qa.jsonl", "dev4_qa.jsonl",
                 "holdout_qa.jsonl"):
        qa = evaluate.load_qa(Path(__file__).parent / "data" / name)
        for item in qa:
            if item["answerable"]:
                ids = evaluate.gold_ids(item, passages)
                assert ids, item["id"]
                text = " ".join(p.text for p in passages if p.id in ids)
                assert evaluate.clean(item["fact"]) in text, item["id"]


def test_the_report_of_a_set_with_no_unanswerable_question():
    """`rag eval --dev` on a user's set of answerable questions only: a dash, not a crash."""
    r = {"questions": 2, "answerable": 2, "unanswerable": 0, "mode": "hybrid", "recall@1": 1.0, "recall@3": 1.0,
         "recall@5": 1.0, "mrr@10": 1.0, "ndcg@10": 1.0, "answered": 1.0, "fact_in_answer": 0.5, "abstained": None,
         "citation_integrity": 1.0, "misses": [], "wrong_abstain": [], "wrong_answer": [], "fact_missing": ["x"],
         "by_type": {"why": {"answerable": 2, "answered": 1.0, "fact_in_answer": 0.5, "unanswerable": 0,
                             "declined": None}}}
    text = evaluate.report_text(r)
    assert "abstention    —   of unanswerable" in text and "fact in answer 0.500" in text
