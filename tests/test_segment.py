"""Sentence segmentation (rag.segment), case by case in the categories of pySBD's English golden rules,
with sentences written for this project; the rules themselves are scored by benchmarks/sentences.py."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag.segment import split_sentences

CASES = [
    # plain ends
    ("The envoy arrived. Talks began at noon.", ["The envoy arrived.", "Talks began at noon."]),
    ("Who signed it? Nobody knows.", ["Who signed it?", "Nobody knows."]),
    ("It is over! The talks collapsed.", ["It is over!", "The talks collapsed."]),
    ("Really?! Nobody came.", ["Really?!", "Nobody came."]),
    ("Yeltsin arrived in 1997. 1998 brought a crisis.", ["Yeltsin arrived in 1997.", "1998 brought a crisis."]),
    # initials and abbreviations inside a sentence
    ("Talks with Yuri M. Koptev went on.", ["Talks with Yuri M. Koptev went on."]),
    ("See Vol. 5 of the Monitor.", ["See Vol. 5 of the Monitor."]),
    ("Dr. Sato met Gen. Ivashov and Mr. Obuchi.", ["Dr. Sato met Gen. Ivashov and Mr. Obuchi."]),
    ("She climbed Mt. Fuji twice.", ["She climbed Mt. Fuji twice."]),
    ("He met Mitsui & Co. officials in Tokyo.", ["He met Mitsui & Co. officials in Tokyo."]),
    ("The U.S. Navy sailed with the U.S. Japan alliance in mind.",
     ["The U.S. Navy sailed with the U.S. Japan alliance in mind."]),
    ("The U.S.A. ratified it first.", ["The U.S.A. ratified it first."]),
    ("Flights left at 6 a.m. from Narita.", ["Flights left at 6 a.m. from Narita."]),
    ("Stocks, bonds, etc. were sold.", ["Stocks, bonds, etc. were sold."]),
    ("Exports, e.g. Fish, rose.", ["Exports, e.g. Fish, rose."]),
    ("It cost $1.5 billion in all.", ["It cost $1.5 billion in all."]),
    ("Write to press@example.org. We answer daily.", ["Write to press@example.org.", "We answer daily."]),
    # abbreviations that end a sentence: a starter word follows
    ("He joined Mitsui & Co. They paid well.", ["He joined Mitsui & Co.", "They paid well."]),
    ("Troops stay in the U.S. How long is unclear.", ["Troops stay in the U.S.", "How long is unclear."]),
    ("It was signed by you and I. Did Nikolai I. Petrov see it?",
     ["It was signed by you and I.", "Did Nikolai I. Petrov see it?"]),
    ("Fish, timber, etc. The list was long.", ["Fish, timber, etc.", "The list was long."]),
    ("It cost $100.00. The rest was a gift.", ["It cost $100.00.", "The rest was a gift."]),
    ("Clinics saw more ED. Two hundred men took part.", ["Clinics saw more ED.", "Two hundred men took part."]),
    # quotes and brackets
    ('He said, "It is over." then left.', ['He said, "It is over." then left.']),
    ('He said, “It is over.” Then he left.', ['He said, “It is over.”', "Then he left."]),
    ("She resigned (She had served two years.) in May.", ["She resigned (She had served two years.) in May."]),
    ("The base (near Hakodate, Hokkaido Is.) Was closed.", ["The base (near Hakodate, Hokkaido Is.)", "Was closed."]),
    ("They met in Tokyo. (Itar-Tass, May 29)", ["They met in Tokyo. (Itar-Tass, May 29)"]),
    # inline lists
    ("1) Sign the treaty 2) Return the islands", ["1) Sign the treaty", "2) Return the islands"]),
    ("1.) Sign it. 2.) Ratify it.", ["1.) Sign it.", "2.) Ratify it."]),
    ("1. Sign the treaty 2. Return the islands 3. Trade", ["1. Sign the treaty", "2. Return the islands", "3. Trade"]),
    ("Two demands: a. The islands b. The fishing rights",
     ["Two demands:", "a. The islands", "b. The fishing rights"]),
    ("• 4. Fishing • 5. Trade", ["• 4. Fishing", "• 5. Trade"]),
    ("The talks covered: 1) fishing rights, 2) trade.", ["The talks covered: 1) fishing rights, 2) trade."]),
    ("See Table 1. What the figures show is in Table 2. Numbers follow.",
     ["See Table 1.", "What the figures show is in Table 2.", "Numbers follow."]),
    ("The grid is at N°. 44.55. That is the site.", ["The grid is at N°. 44.55.", "That is the site."]),
    # ellipses
    ("I thought . . . well, never mind.", ["I thought . . . well, never mind."]),
    ("The answer was . . . I forget.", ["The answer was . . . I forget."]),
    ("He never came.... She waited.", ["He never came....", "She waited."]),
    ("Nothing changed. . . . The talks went on.", ["Nothing changed.", ". . . The talks went on."]),
    ("It was the end . . . . Then silence.", ["It was the end . . . .", "Then silence."]),
    ("Patients were followed for 10 years. …", ["Patients were followed for 10 years. …"]),
    # other scripts and spacing
    ("東京で会談した。合意はなかった。", ["東京で会談した。", "合意はなかった。"]),
    ("The channel was blocked . Thus no current flowed.", ["The channel was blocked .", "Thus no current flowed."]),
]


@pytest.mark.parametrize("text,expected", CASES)
def test_cases(text, expected):
    assert [text[a:b] for a, b in split_sentences(text)] == expected


@given(st.text(alphabet=st.sampled_from(list("ab AZ.?!)(\"”1•…:;ε。\n")), max_size=80))
def test_spans_are_ordered_trimmed_and_cover_every_character(text):
    spans = split_sentences(text)
    covered = set()
    for (a, b), nxt in zip(spans, spans[1:] + [(len(text), len(text))]):
        assert 0 <= a < b <= nxt[0] and text[a:b] == text[a:b].strip()
        covered.update(range(a, b))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
