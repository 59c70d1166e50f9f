"""The real model on the real seeds: semantic assertions and the dev-set quality targets."""
import pytest

from rag import evaluate


def test_model_reproduces_reference_similarities(real_engine):
    v = real_engine.embedder().encode_queries(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    sims = v @ v.T
    assert sims[0, 1] == pytest.approx(0.6660, abs=2e-4)
    assert sims[0, 2] == pytest.approx(0.1046, abs=2e-4)
    assert sims[1, 2] == pytest.approx(0.1411, abs=2e-4)


def test_who_fled_japan_cites_the_attache_paragraph(real_engine):
    ans = real_engine.ask("Who fled Japan?")
    assert ans.supported
    assert ans.hits[0].passage.id == "003_8f2f016433a13dad:1"
    first = ans.sentences[0]
    assert "fled the country" in first.text and first.citations[0] == "003_8f2f016433a13dad:1"
    assert f"[{first.marker}]" in ans.answer


@pytest.mark.parametrize("question, doc", [
    ("What loan did Japan's Export-Import Bank agree to give Russia?", "002_cf8ccbf01953a6cc"),
    ("Which Russian warship visited Yokosuka?", "004_d94f3f66138700a1"),
    ("What did Sergeev say about the missile defense system?", "003_8f2f016433a13dad"),
])
def test_answers_come_from_the_right_document(real_engine, question, doc):
    ans = real_engine.ask(question)
    assert ans.supported and ans.sentences[0].citations[0].startswith(doc)


def test_json_contract(real_engine):
    out = real_engine.ask("When is the peace treaty supposed to be signed?").to_json()
    assert set(out) >= {"question", "answer", "supported", "sentences", "passages"}
    ids = {p["id"] for p in out["passages"]}
    text = {p["id"]: p["text"] for p in out["passages"]}
    assert out["supported"] and 1 <= len(out["sentences"]) <= 3
    for s in out["sentences"]:
        assert s["citations"] and set(s["citations"]) <= ids
        assert all(s["text"] in text[c] for c in s["citations"])
    for p in out["passages"]:
        assert set(p) >= {"id", "citation", "doc", "score", "text"} and isinstance(p["score"], float)


@pytest.mark.parametrize("question", ["What is photosynthesis?", "Who won the 1998 football World Cup?",
                                      "What did the 2001 Irkutsk summit decide?"])
def test_unanswerable_questions_abstain_but_list_passages(real_engine, question):
    ans = real_engine.ask(question)
    assert not ans.supported and ans.answer == "The documents don't answer this."
    assert ans.hits and not ans.sentences


def test_dev_set_targets(real_engine):
    r = evaluate.dev_report(real_engine, evaluate.load_qa())
    assert r["gold_missing"] == []
    assert r["answerable"] >= 40 and r["unanswerable"] >= 8
    assert r["recall@3"] >= 0.95, r["misses"]
    assert r["mrr@10"] >= 0.9
    assert r["answered"] >= 0.9, r["wrong_abstain"]
    assert r["abstained"] >= 0.9, r["wrong_answer"]
    assert r["citation_integrity"] == 1.0
