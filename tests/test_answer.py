"""The answer step without a model: the sentences chosen, the quotes around them, the short answer and
the abstentions (rag.answer, rag.quotes, rag.short_answer)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from rag import answer as A
from rag import answer_types as AT
from rag import asks, short_answer
from rag.schema import Hit, Passage
from rag.segment import split_sentences


def _hit(text: str) -> Hit:
    spans = tuple(split_sentences(text))
    p = Passage(id="d:1", doc_id="d", para=1, part=0, text=text, start=0, end=len(text), citation="D, ¶1",
                sentences=spans)
    return Hit(p, 1.0, 1, dense=0.5)


def _compose(question: str, hit: Hit, best: int):
    """compose with sentence vectors that make sentence `best` the one nearest the question."""
    n = len(hit.passage.sentences)
    vecs = np.eye(n + 1, dtype=np.float32)[:n]
    qvec = np.eye(n + 1, dtype=np.float32)[best]
    stems = lambda t: [w[:5] for w in re.findall(r"\w+", t.lower())]  # noqa: E731
    return A.compose(question, [hit], qvec=qvec, qtokens=[], sentence_vectors=lambda h: vecs, tokenize=stems,
                     params=A.AnswerParams(threshold=0.5, strict_types=False, type_bonus=0.0, margin=0.0))


def test_a_sentence_that_begins_mid_thought_is_quoted_with_the_one_before():
    hit = _hit("Sergeev visited Tokyo in November. But the arms talks stalled. Exports fell.")
    ans = _compose("What happened to the arms talks?", hit, best=1)
    assert [s.text for s in ans.sentences] == ["Sergeev visited Tokyo in November. But the arms talks stalled."]
    s = ans.sentences[0]
    assert hit.passage.text[s.start:s.end] == s.text          # still a verbatim span of the passage


def test_a_quote_goes_on_with_a_sentence_that_points_back_at_it():
    hit = _hit("Tokyo hosted the talks. Sergeev said the shield could provoke Russia. This will lead to an arms race. "
               "Exports fell. He blamed the war. This week it rained.")
    said = "Sergeev said the shield could provoke Russia. This will lead to an arms race."
    assert _compose("What did Sergeev say Russia might do?", hit, best=1).sentences[0].text == said
    assert _compose("What happened to exports?", hit, best=3).sentences[0].text == "Exports fell."  # "He…" leans only
    assert _compose("Why did exports fall?", hit, best=3).sentences[0].text == "Exports fell. He blamed the war."
    assert _compose("Why did it rain?", hit, best=5).sentences[0].text == "This week it rained."     # a time


def test_a_quotation_is_quoted_from_where_it_opens():
    hit = _hit('The issue remains. Numata remarked, "It\'s still there. We keep trying, but it will take Yeltsin."')
    ans = _compose("What will it take?", hit, best=2)
    assert ans.sentences[0].text.startswith("Numata remarked,") and ans.sentences[0].text.endswith('Yeltsin."')


def test_the_short_answer_is_a_span_of_its_sentence():
    hit = _hit("On May 16 defense minister Igor Rodionov (dismissed on May 22) arrived in Japan.")
    ans = _compose("When did Rodionov arrive in Japan?", hit, best=0)
    s = ans.sentences[0]
    assert ans.short == "May 16" and s.text[s.short[0]:s.short[1]] == "May 16"
    assert ans.to_json()["short_answer"] == "May 16" and ans.to_json()["sentences"][0]["short"] == list(s.short)


def test_the_short_answer_is_not_a_date_the_sentence_denies():
    s = "Mori’s visit to Moscow will not take place this year, but sometime in the first quarter of 2001."
    question = "When will Mori's visit to Moscow take place?"
    assert [s[a:b] for a, b in AT.spans("date", s, question)] == ["this year", "the first quarter of 2001"]
    found = short_answer.choose(question, "date", [s], tokenize=_words)
    assert found is not None and s[slice(*found[1])] == "the first quarter of 2001"


def test_a_sentence_without_the_detail_asked_for_does_not_answer_however_close():
    """"How many troops…?": a sentence that says everything but the number is not an answer."""
    hit = _hit("Rodionov pledged to cut the number of Russian troops stationed on the disputed islands.")
    stems = lambda t: [w[:5] for w in re.findall(r"\w+", t.lower())]  # noqa: E731
    ans = A.compose("How many Russian troops were stationed on the disputed islands?", [hit],
                    qvec=np.array([1.0], dtype=np.float32), qtokens=[],
                    sentence_vectors=lambda h: np.array([[1.0]], dtype=np.float32), tokenize=stems,
                    params=A.AnswerParams())
    assert not ans.supported and ans.answer == "The documents discuss this, but they don't give the figure asked for."


def test_a_why_question_prefers_the_sentence_that_gives_a_cause():
    """Two sentences as near the question: the one with a causal connective is quoted, and no span of it
    is offered as a short answer."""
    hit = _hit("The cruiser called at Yokosuka in September. The visit was aimed at joint rescue exercises.")
    vecs = np.array([[0.8, 0.6], [0.8, 0.6]], dtype=np.float32)
    stems = lambda t: [w[:5] for w in re.findall(r"\w+", t.lower())]  # noqa: E731
    ans = A.compose("Why did the cruiser call at Yokosuka?", [hit], qvec=np.array([1.0, 0.0], dtype=np.float32),
                    qtokens=[], sentence_vectors=lambda h: vecs, tokenize=stems,
                    params=A.AnswerParams(threshold=0.5, margin=0.1))
    assert [s.text for s in ans.sentences] == ["The visit was aimed at joint rescue exercises."] and not ans.short
    assert AT.spans("reason", "We act so that the visit succeeds.", "Why act?") == [(7, 14)]


def _words(text: str) -> list[str]:
    return [w[:5] for w in re.findall(r"\w+", text.lower()) if w not in asks.STOP]


def test_the_short_answer_is_the_span_with_the_question_s_rare_words_near_it():
    """Both quotes hold a figure and share "loan" with the question; "tranche", rare, is next to $800 million."""
    texts = ["The two sides agreed on a $1.5 billion loan to Russia.",
             "The first tranche of that loan is $800 million."]
    idf = {"tranc": 3.0, "first": 1.0}
    found = short_answer.choose("How large was the first tranche of the loan?", "amount", texts, tokenize=_words,
                                idfs=lambda ts: [idf.get(t, 0.5) for t in ts])
    assert found is not None and texts[found[0]][slice(*found[1])] == "$800 million"


def test_no_short_answer_from_a_quote_about_something_else():
    texts = ["Sergeev visited Tokyo on November 28 to talk about arms sales."]
    question = "When did the first group of former residents visit the islands?"
    assert short_answer.choose(question, "date", texts, tokenize=_words) is None
    found = short_answer.choose("When did Sergeev visit Tokyo?", "date", texts, tokenize=_words)
    assert found is not None and texts[0][slice(*found[1])] == "November 28"


@pytest.mark.parametrize("second, said", [
    ("The military attache at the Russian embassy fled the country.",
     "The documents discuss this, but they don't give the name asked for."),
    ("The military attache, Viktor Loginov, fled the country.", None),
])
def test_a_name_answers_the_name_of_a_role_only_where_the_role_is_named(second, said):
    """After "the name of the attache…" a name in another sentence (the minister's) is not the attache's."""
    hit = _hit(f"Defense Minister Igor Sergeev visited Tokyo to put the spy scandal behind them. {second}")
    n = len(hit.passage.sentences)
    vecs, qvec = np.eye(n + 1, dtype=np.float32)[:n], np.eye(n + 1, dtype=np.float32)[0]   # the first is nearest
    qvec[1] = 0.9
    stems = lambda t: [w[:5] for w in re.findall(r"\w+", t.lower())]  # noqa: E731
    ans = A.compose("What was the name of the Russian military attache who fled Japan?", [hit], qvec=qvec, qtokens=[],
                    sentence_vectors=lambda h: vecs, tokenize=stems, params=A.AnswerParams(threshold=0.9))
    if said:
        assert not ans.supported and ans.answer == said
    else:
        assert ans.supported and "Viktor Loginov" in ans.answer and "Sergeev" not in ans.answer


def test_which_role_counts_a_name_only_where_the_role_is_named():
    """"Which general…?" (a description may answer, so not strict): a name in a sentence that names no
    general gains nothing; the general's name gains the type bonus."""
    hit = _hit("Sergeev brought up arms sales to North Korea. General Leonid Ivashov went to Tokyo with Sergeev.")
    vecs = np.array([[0.7, 0.71], [0.6, 0.8]], dtype=np.float32)       # the first is nearer the question
    stems = lambda t: [w[:5] for w in re.findall(r"\w+", t.lower())]  # noqa: E731
    ans = A.compose("Which general accompanied Sergeev to Tokyo?", [hit], qvec=np.array([1.0, 0.0], dtype=np.float32),
                    qtokens=[], sentence_vectors=lambda h: vecs, tokenize=stems,
                    params=A.AnswerParams(threshold=0.5, margin=0.05))
    assert [s.text for s in ans.sentences] == ["General Leonid Ivashov went to Tokyo with Sergeev."]
    assert ans.short == "Leonid Ivashov"


def test_a_hyphenated_name_the_documents_write_solid_is_not_unknown():
    vocabulary = frozenset({"exim", "bank", "loan"})
    stems = lambda t: [w for w in re.findall(r"\w+", t.lower()) if len(w) > 1]  # noqa: E731
    assert A.salient_unknown("How large was the Ex-Im Bank loan?", vocabulary, stems) == []
    # a year the documents never write is not unknown: they may say "yesterday" or "this July"
    assert A.salient_unknown("How large was the Ex-Im Bank loan in July 1998?", vocabulary, stems) == ["July"]


def test_a_name_the_documents_give_another_way_is_not_unknown():
    stems = lambda t: [w for w in re.findall(r"\w+", t.lower()) if len(w) > 1]  # noqa: E731
    says_united_states = frozenset({"unit", "states", "united", "japan"})
    question = "What warning does the analysis give American policymakers about Japan?"
    assert A.salient_unknown(question, says_united_states, stems) == []
    assert A.salient_unknown(question, frozenset({"japan"}), stems) == ["American"]
    assert A.salient_unknown("What did the Irkutsk summit decide?", says_united_states, stems) == ["Irkutsk"]


def test_a_person_named_by_surname_is_quoted_from_where_the_full_name_is_given():
    hit = _hit("Foreign Minister Keizo Obuchi and his deputy, Shunji Yanai, repeated it. "
               "Yanai told reporters the premier would visit Moscow in the fall. Trade was discussed.")
    ans = _compose("Which deputy foreign minister said the premier would visit Moscow?", hit, best=1)
    assert ans.sentences[0].text.startswith("Foreign Minister Keizo Obuchi") and "Shunji Yanai" in ans.answer
    s = ans.sentences[0]
    assert hit.passage.text[s.start:s.end] == s.text and s.text.endswith("in the fall.")
    plain = _compose("What did Yanai tell reporters?", hit, best=1)     # not a person question: the sentence alone
    assert plain.sentences[0].text.startswith("Yanai told reporters")
