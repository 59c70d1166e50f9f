"""The verifier: each check on tiny passages with a deterministic encoder (each must be able to fail),
the facts it compares, and the real model on tests/data/verifier_set.jsonl against the targets."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from rag.llm import facts as F
from rag.llm import support as S
from rag.llm import verify as V
from rag.llm.prompt import Claim
from rag.schema import Passage
from rag.text import split_sentences

ROOT = Path(__file__).resolve().parent.parent


def passage(pid: str, text: str) -> Passage:
    return Passage(pid, pid.split(":")[0], 1, 0, text, 0, len(text), f"Doc, ¶{pid[-1]}",
                   sentences=tuple(split_sentences(text)))


P1 = passage("doc:1", "Koptev arrived in Japan on May 22 for talks on the space station Alpha. "
                      "The Foreign Ministry’s Takekazu Kawamura co-chairs the commission with Koptev. "
                      "Russia is in no way opposed to the alliance, and it called for a security system in the region. "
                      "The loan of $1.5 billion was agreed. "
                      "Sergeev warned about the missile system. He said it “will lead to a new round of the arms race”.")
P2 = passage("doc:2", "Ikeda arrived in Moscow less than a week later. Sergeev said that 500 units would be reformed.")
GIVEN = [P1, P2]


def run(fake, text: str, markers=(1,), threshold: float = 0.5) -> V.Verdict:
    return V.verify([Claim(text, tuple(markers))], GIVEN, fake.encode_queries, threshold=threshold)[0]


def test_a_restatement_is_verified_with_its_supporting_sentence(fake):
    v = run(fake, "Koptev arrived in Japan on 22 May for talks on the space station Alpha.")
    assert v.verified and v.reason == "" and v.passage_id == "doc:1"
    assert P1.text[slice(*v.span)].startswith("Koptev arrived in Japan on May 22")
    assert v.to_json() == {"verified": True, "passage": "doc:1", "span": list(v.span),
                           "score": round(v.score, 4), "reason": ""}


def test_citations_must_name_passages_that_were_given(fake):
    assert run(fake, "Koptev arrived in Japan.", ()).reason == "cites no passage"
    bad = run(fake, "Koptev arrived in Japan.", (1, 3))
    assert not bad.verified and bad.reason == "cites [3], which was not given"
    assert run(fake, "Koptev arrived in Japan on May 22 for talks on the space station Alpha.", (2,)).reason \
        == "has the date 'May 22', not in [2]"      # the right sentence cited to the wrong passage


@pytest.mark.parametrize("text, verified, reason", [
    ("The loan of $1,500 million was agreed.", True, ""),
    ("The loan of $2.5 billion was agreed.", False, "has the number '2.5 billion', not in [1]"),
    ("Koptev arrived in Japan on May 23 for talks on the space station Alpha.", False,
     "has the date 'May 23', not in [1]"),
    ("He said it “will lead to a new round of the arms race”.", True, ""),
    ("He said it “will lead to war”.", False, "quotes “will lead to war”, not in [1]"),
    ("The Foreign Ministry's Takekazu Ikeda co-chairs the commission with Koptev.", False,
     "names 'Takekazu Ikeda', not in [1]"),
    ("Koptev's talks in Japan on May 22 were about the space station Alpha.", True, ""),
])
def test_numbers_dates_quotes_and_names_must_be_in_the_cited_passage(fake, text, verified, reason):
    v = run(fake, text, threshold=0.3)
    assert (v.verified, v.reason) == (verified, reason)


def test_a_name_is_named_in_the_reason_and_a_first_word_is_not_a_name(fake):
    assert run(fake, "Kawamura co-chairs the commission.", (2,)).reason == "names 'Kawamura', not in [2]"
    v = run(fake, "During the talks Kawamura co-chairs the commission with Koptev.", threshold=0.3)
    assert v.verified, v.reason


def test_the_meaning_must_match_a_sentence_of_the_cited_passage(fake):
    v = run(fake, "Koptev sang songs about cheese and sailing boats in Japan.")
    assert not v.verified and v.reason.startswith("no sentence of [1] says this (closest: cosine")
    assert v.score < 0.5


@pytest.mark.parametrize("text, verified, reason", [
    ("Russia is opposed to the alliance.", False, "negation: [1] says 'no"),
    ("Russia is not opposed to the alliance.", True, ""),
    ("Koptev did not arrive in Japan on May 22 for talks on the space station Alpha.", False,
     "negation: says 'not' where [1] does not"),
    ("Russia called for a security system in the region.", True, ""),     # the "no" governs another clause
])
def test_negation_must_agree_with_the_supporting_sentence(fake, text, verified, reason):
    v = run(fake, text, threshold=0.3)
    assert v.verified == verified and v.reason.startswith(reason), v.reason


def test_facts_must_be_near_the_supporting_sentence(fake):
    v = run(fake, "The loan of $1.5 billion was agreed on May 22.")     # both in [1], not together
    assert not v.verified and v.reason == "has the date 'May 22', not in the sentence of [1] that says this"
    he = run(fake, "Sergeev said it will lead to a new round of the arms race.", threshold=0.3)
    assert he.verified, he.reason        # "He said …": the sentence before names him


def test_verify_encodes_in_one_or_two_batches(fake):
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return fake.encode_queries(texts)
    claims = [Claim("Ikeda arrived in Moscow less than a week later.", (2,)), Claim("No marker.", ())]
    V.verify(claims, GIVEN, encode, threshold=0.5)
    assert len(calls) == 2 and calls[1] == P2.sentence_texts()     # only the cited passage's sentences
    calls.clear()
    vectors = [fake.encode_passages(p.sentence_texts()) for p in GIVEN]
    out = V.verify(claims, GIVEN, encode, threshold=0.5, sentence_vectors=vectors)
    assert len(calls) == 1 and [v.verified for v in out] == [True, False]
    assert V.verify([], GIVEN, encode) == []


def test_facts_in_normal_form():
    same = [("1,000", "1000"), ("$1.5 billion", "$1,500 million"), ("five years", "5 years"),
            ("20 percent", "20%"), ("the second visit", "the 2nd visit"), ("1904-05", "1904 and 1905")]
    for a, b in same:
        assert set(F.numbers(a)) <= set(F.numbers(b)), (a, b)
    assert set(F.numbers("$1.5 billion")) != set(F.numbers("$1.5 million"))
    assert F.facts("on May 22").dates == F.facts("on 22 May").dates == {(5, 22)}
    assert F.facts("June 9-10 and September 11 and 12").dates == {(6, 9), (6, 10), (9, 11), (9, 12)}
    assert [n for _, n in F.names("Koptev’s talks with the World Bank and Japanese-U.S. ties")] == \
        ["Koptev", "World Bank", "Japanese US"]
    assert F.negations("there was no question that it will not pass")[0][0] == "not"
    assert F.negations("Russia is in no way opposed to the Japanese-U.S. alliance, and called")[0][1] == \
        {"opposed", "japanese", "us", "alliance"}
    assert "(Itar-Tass, May 29)" not in S._SOURCE_NOTE.sub("", "Koptev left. (Itar-Tass, May 29)")


def test_the_real_model_meets_the_targets_on_the_verifier_set(real_engine):
    spec = importlib.util.spec_from_file_location("bench_verifier", ROOT / "benchmarks" / "verifier.py")
    bench = sys.modules[spec.name] = importlib.util.module_from_spec(spec)    # its dataclass needs the entry
    spec.loader.exec_module(bench)
    cases = bench.cases(real_engine)
    table = bench.tally(bench.run(cases, V.THRESHOLD))
    accepted, rejected = bench.rates(table)
    assert len(cases) >= 300 and len({c.item["source"] for c in cases}) >= 60
    assert {"name", "number", "date", "negation", "wrong_passage", "quote"} <= set(table)
    assert rejected >= 0.98, table
    assert accepted >= 0.85, table
