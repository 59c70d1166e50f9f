"""Where a claim may find its support in a passage: the units it is compared with (each sentence and
its clause-sized pieces, as vectors) and the text near a supporting sentence in which its facts must
be. Pure: vectors come from the encode function passed in, or from the index."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..schema import Passage

# Clause boundaries: a short answer ("The cruiser weighs 6,700 tons") matches a clause of a long
# sentence far better than the sentence ("…, a Russian missile cruiser, the 6,700-ton Admiral …, entered …").
_CLAUSE = re.compile(r"\s*[,;:()\[\]–—“”\"]\s*|\s+(?:and|but|while|which|who|whose|although|because|as)\s+")
# A sentence that says "he", "they", or opens on "This": the sentences before it say whom or what.
_PRONOUN = re.compile(r"\b(?:he|she|they|his|her|him|them|their|we|our)\b|^\W*(?:this|that|these|those|it|such)\b",
                      re.I)
# A dated source note, "(Itar-Tass, May 29)", "(Vremya MN, November 29)": who reported, not what happened.
_SOURCE_NOTE = re.compile(r"\((?:see )?(?:[A-Z][\w.-]*(?: [A-Z][\w.-]*)*,+ )+[A-Z][a-z]+\.? \d[^()]*\)")


@dataclass(frozen=True)
class Units:
    """What a claim is compared with in one passage: its sentences, then their pieces."""
    sentence: np.ndarray       # (n,) the sentence each row is or belongs to
    vectors: np.ndarray        # (n, dim), normalised


def units(passages: Sequence[Passage], encode: Callable[[list[str]], np.ndarray],
          sentence_vectors: Sequence[np.ndarray] | None = None) -> list[Units]:
    """Each passage's units, encoded in one call: the pieces, and the sentences unless their vectors
    are given (rows aligned with Passage.sentences, as the index holds them)."""
    pieces = [_pieces(p) for p in passages]
    texts = [t for ps in pieces for _, t in ps]
    piece_at, sent_at = 0, len(texts)
    if sentence_vectors is None:
        texts += [t for p in passages for t in p.sentence_texts()]
    flat = np.asarray(encode(texts), dtype=np.float32) if texts else np.zeros((0, 1), np.float32)
    out = []
    for k, (p, ps) in enumerate(zip(passages, pieces)):
        n = len(p.sentences)
        if sentence_vectors is None:
            sv, sent_at = flat[sent_at:sent_at + n], sent_at + n
        else:
            sv = np.asarray(sentence_vectors[k], dtype=np.float32).reshape(n, -1)
        pv, piece_at = flat[piece_at:piece_at + len(ps)], piece_at + len(ps)
        rows = np.concatenate([sv, pv]) if len(pv) else sv
        out.append(Units(np.array([*range(n), *(i for i, _ in ps)], dtype=np.int64), rows))
    return out


def near(p: Passage, i: int) -> str:
    """The text near sentence i in which a claim's facts must be: the sentence, the one or two before
    it while they lean on a pronoun, without dated source notes."""
    start = i
    while start > 0 and i - start < 2 and _PRONOUN.search(p.text[slice(*p.sentences[start])]):
        start -= 1
    return _SOURCE_NOTE.sub(" ", p.text[p.sentences[start][0]:p.sentences[i][1]])


def _pieces(p: Passage) -> list[tuple[int, str]]:
    """(sentence index, piece): the clauses of each sentence that has several, and each two in a row."""
    out = []
    for i, text in enumerate(p.sentence_texts()):
        parts = [x for x in _CLAUSE.split(text) if x and len(x.split()) >= 2]
        if len(parts) > 1:
            out += [(i, x) for x in parts] + [(i, f"{x} {y}") for x, y in zip(parts, parts[1:])]
    return out
