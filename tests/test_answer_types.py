"""What a question asks for and where a sentence holds it, without a model: answer types (rag.asks), typed
spans (rag.answer_types, rag.figures), and sentences that lean on the one before (rag.quotes)."""
from __future__ import annotations

import pytest

from rag import answer_types as AT
from rag import asks, quotes


@pytest.mark.parametrize("question, kind", [
    ("Who fled Japan?", "person"),
    ("Which Japanese foreign minister arrived in Moscow?", "person"),
    ("What was the name of the attache who fled?", "person"),
    ("When did Rodionov arrive?", "date"),
    ("By what year were they to sign the treaty?", "date"),
    ("How many troops are on the islands?", "amount"),
    ("What was the overall amount of the loan?", "amount"),
    ("Which island did the first group visit?", "place"),
    ("With which Japanese Defense Agency head did Sergeev hold talks?", "person"),   # the phrase's last noun
    ("Which agency does Koptev head?", "org"),                                      # "head" is the verb
    ("Which organization did Russia aspire to join?", "org"),
    ("Why did the talks fail?", "reason"),
    ("What was the purpose of Komura's trip?", "reason"),
    ("How did Tokyo retaliate?", None),
    ("How did Komura rate the chances of a breakthrough?", None),                   # "rate" is the verb
    ("What interest rate did the bank charge?", "percent"),
    ("Which Japanese cities did Yeltsin visit?", "place"),
    ("What did Sergeev say about missile defense?", None),
])
def test_expected_type(question, kind):
    assert asks.expected_type(question) == kind


def test_a_name_is_found_without_its_titles_and_never_one_the_question_gives():
    s = "On May 16 Russian defense minister Igor Rodionov met Japanese Foreign Minister Yohei Kono in Tokyo."
    names = [s[a:b] for a, b in AT.spans("person", s, "Whom did Rodionov meet in Tokyo?")]
    assert names == ["Yohei Kono"]


def test_dates_and_amounts():
    s = "In late 1997 they pledged to sign the treaty by the year 2000, this year at the latest."
    assert [s[a:b] for a, b in AT.spans("date", s, "By what year was the treaty due?")] == ["1997", "the year 2000"]
    assert "this year" in [s[a:b] for a, b in AT.spans("date", s, "When was the treaty due?")]
    loan = "The sides agreed on a $1.5 billion loan and 6,700-ton ships in 1999."
    assert [loan[a:b] for a, b in AT.spans("amount", loan, "How big was the loan?")] == ["$1.5 billion", "6,700-ton"]


def test_a_name_is_compared_with_the_question_by_whole_words():
    # the old check stripped "Ross" with rstrip("’'s") to "Ro" and found it inside "wrote": the name went unseen
    s = "The report by Mikhail Ross was cited."
    assert [s[a:b] for a, b in AT.spans("person", s, "Who wrote the report?")] == ["Mikhail Ross"]
    assert AT.spans("person", "The report by Mikhail Ross’s team was cited.", "Did Ross’s team write it?") == []


def test_strict_and_soft_types():
    assert asks.strict("Who fled Japan?") and asks.strict("How many troops?") and asks.strict("What was the name of it?")
    assert not asks.strict("Which Russian diplomat left Japan?") and not asks.strict("Why did it fail?")


def test_leaning_sentences_and_open_quotes():
    assert quotes.leans_back("But the talks went on.") and quotes.leans_back("That, at least, was the plan.")
    assert not quotes.leans_back("Butler arrived.") and not quotes.leans_back("The talks went on.")
    assert quotes.open_quote('Numata remarked, "It\'s still there.') and not quotes.open_quote('He said "no."')


def test_names_around_a_possessive_and_numbers_that_are_not_names():
    s = "The Defense Agency’s National Institute hosted Yoshiro Mori’s aides and the Group of Seven."
    # the question's own noun ("institute") may be part of the name
    assert [s[a:b] for a, b in AT.spans("org", s, "Which institute hosted them?")] == ["National Institute"]
    assert "Yoshiro Mori" in [s[a:b] for a, b in AT.spans("person", s, "Whose aides came?")]
    assert "Seven" not in [s[a:b] for a, b in AT.spans("place", s, "Where did they meet?")]


def test_a_count_is_not_a_rate_a_time_or_a_sum():
    """"How many boats" is not answered by "20 percent", "five years", "$1.5 billion" or "two ships";
    "how many years" is by "five years"."""
    s = "Russia seized 20 percent more boats, five years after the $1.5 billion loan; 17 boats in all, two ships."
    found = lambda q: [s[a:b] for a, b in AT.spans("amount", s, q)]  # noqa: E731
    assert asks.counted("How many Japanese fishing boats did Russia seize?") == "Japanese fishing boats"
    assert found("How many Japanese fishing boats did Russia seize?") == ["17"]      # not "two ships" either
    assert found("How many years passed?") == ["five years"]
    s2 = "The two sides agreed to train soldiers, two Japanese officials said."
    assert [s2[a:b] for a, b in AT.spans("amount", s2, "How many reserve soldiers were trained?")] == []
    assert [s2[a:b] for a, b in AT.spans("amount", s2, "How many officials spoke?")] == ["two"]
    assert found("How large was the loan?") == ["20 percent", "five years", "$1.5 billion", "17", "two ships"]


def test_the_role_a_person_question_names():
    assert asks.role("What was the name of the Russian military attache who fled?").search("the military attaché fled")
    assert asks.role("Who is the head of the department?").search("its head, Ivan Petrov")
    assert not asks.role("What was the name of the attache who fled?").search("an attack on the embassy")
    assert asks.role("Which deputy foreign minister said it?").search("Foreign Minister Keizo Obuchi")   # the head
    assert not asks.role("Which deputy foreign minister said it?").search("first deputy premier Boris Nemtsov")
    assert asks.role("Which official met the president?").search("a senior official")
    assert asks.role("Who fled Japan?") is None and asks.role("Why did the talks fail?") is None
