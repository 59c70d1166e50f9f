"""Hits -> Answer: pick the passage sentences that answer the question, cite each, or abstain.

Pure: works on vectors and strings already in hand. A sentence's score is its cosine with the
question, plus a share of the question's terms it contains, plus a share of its passage's cosine;
then the answer type (rag.asks, rag.answer_types): after "who", "when" or "how many" only a sentence
with a name, date or figure the question does not already give can answer, after "which minister…" or
"why" one with a name or a cause gains; after "the name of the attache…" a name counts only in a
sentence that mentions the attache.
The weights and the abstention threshold were chosen on the dev set (docs/BENCHMARKS.md).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from collections.abc import Sequence
from typing import Callable

import numpy as np

from . import answer_types as AT
from . import asks
from . import quotes, short_answer
from .schema import Answer, Hit, Sentence

NO_ANSWER = "The documents don't answer this."
# Names a text may give another way: the question's "American" is the documents' "U.S." or "United
# States". Generic English, not this corpus's names.
_US, _UK, _USSR = ("United States", "USA", "U.S."), ("United Kingdom", "UK", "U.K."), ("Soviet Union", "USSR")
ALIASES = {"america": _US, "american": _US, "americans": _US, "britain": _UK, "british": _UK,
           "soviet": _USSR, "soviets": _USSR}
DETAIL = {"person": "name", "date": "date", "amount": "figure", "percent": "rate", "place": "place",
          "org": "organisation"}


@dataclass(frozen=True)
class AnswerParams:
    threshold: float = 0.65        # abstain when the best sentence scores below this
    overlap_weight: float = 0.1    # weight of the share of question terms found in the sentence
    margin: float = 0.2            # further sentences must score within this of the best
    max_sentences: int = 3
    from_hits: int = 2             # sentences are drawn from the top this-many passages
    unknown_name_penalty: float = 0.15   # per capitalised question word absent from the corpus
    strict_types: bool = True      # "who", "when", "how many": only a sentence with a name, date or figure answers
    type_bonus: float = 0.2        # "which minister", "which island": a sentence with one (a description may do)
    passage_weight: float = 0.2    # weight of the cited passage's own cosine with the question
    other_passage_margin: float = 0.1    # a sentence from another passage than the best one must be this close


def salient_unknown(question: str, vocabulary: frozenset[str], tokenize: Callable[[str], list[str]]) -> list[str]:
    """Names in the question that occur nowhere in the corpus ('Irkutsk'), nor in another form the
    documents may use ('American' for 'United States', ALIASES). A question about something the
    documents never mention cannot be answered from them. A number does not count: a text dated by its
    byline says "yesterday" where the question says "in July 1998"."""
    words = re.findall(r"\b[A-Z][\w'’-]+\b", question)
    first = re.match(r"\W*(\w+)", question)
    out = []
    for w in words:
        if first and w == first.group(1):
            continue                       # sentence-initial capital says nothing
        stems = tokenize(w) + (tokenize(w.replace("-", "")) if "-" in w else [])   # "Ex-Im" may be "ExIm"
        given = any((t := tokenize(alias)) and all(s in vocabulary for s in t) for alias in ALIASES.get(w.lower(), ()))
        if stems and not any(s in vocabulary for s in stems) and not given:
            out.append(w)
    return out


def score_sentences(qvec: np.ndarray, qtokens: list[str], *, sent_vecs: np.ndarray, sent_tokens: list[list[str]],
                    overlap_weight: float) -> np.ndarray:
    """Cosine to the question + overlap_weight * share of distinct question terms in the sentence."""
    n = len(sent_tokens)
    cos = sent_vecs @ qvec.reshape(-1) if len(sent_vecs) == n else np.zeros(n, dtype=np.float32)
    terms = set(qtokens)
    if not terms:
        return cos
    share = np.array([len(terms & set(toks)) / len(terms) for toks in sent_tokens], dtype=np.float32)
    return cos + overlap_weight * share


def compose(question: str, hits: list[Hit], *, qvec: np.ndarray, qtokens: list[str],
            sentence_vectors: Callable[[Hit], np.ndarray], tokenize: Callable[[str], list[str]],
            params: AnswerParams, unknown: list[str] = (), mode: str = "hybrid", notice: str = "",
            idfs: Callable[[list[str]], Sequence[float]] | None = None) -> Answer:
    """Choose up to `max_sentences` sentences from the top hits, each cited to its passage; a sentence
    that begins mid-thought is quoted with the one before it. The short answer (a name, a date, a figure
    the question asks for) is the typed span with the most question evidence near it
    (rag.short_answer; `idfs` weighs the question's terms, each 1 without it)."""
    cands: list[tuple[float, int, int, Hit]] = []    # (score, hit index, sentence index, hit)
    kind, strict = asks.expected_type(question), asks.strict(question)
    hard = strict and params.strict_types            # only a sentence with the type asked for can answer
    untyped = -1.0                                   # the best score a sentence would have without the type check
    # After "the name of the attache…" a name counts only in a sentence about an attache, when the passages
    # mention one at all: a name elsewhere in them is someone else's.
    role = asks.role(question) if kind == "person" else None
    if role and not any(role.search(t) for h in hits[:params.from_hits] for t in h.passage.sentence_texts()):
        role = None
    for hi, hit in enumerate(hits[:params.from_hits]):
        p = hit.passage
        if p.boilerplate or not p.sentences:
            continue
        texts = p.sentence_texts()
        scores = score_sentences(qvec, qtokens, sent_vecs=sentence_vectors(hit),
                                 sent_tokens=[tokenize(t) for t in texts],
                                 overlap_weight=params.overlap_weight)
        scores += params.passage_weight * (hit.dense if hit.dense is not None else 0.0)
        untyped = max(untyped, float(scores.max()))
        if kind is not None:     # typed only where the type can decide: below this no sentence is chosen
            near = scores >= params.threshold - (0.0 if hard else params.type_bonus)
            typed = np.array([bool(n and (role is None or role.search(t)) and AT.spans(kind, t, question))
                              for t, n in zip(texts, near)])
            if hard:
                scores[~typed] = -np.inf          # the detail asked for is not in it: it cannot answer
            else:
                scores += params.type_bonus * typed
        cands += [(float(s), hi, si, hit) for si, s in enumerate(scores)]
    penalty = params.unknown_name_penalty * len(unknown)
    best = max((c[0] for c in cands), default=-1.0) - penalty
    if not cands or best < params.threshold:
        said = NO_ANSWER if not strict or untyped - penalty < params.threshold else \
            f"The documents discuss this, but they don't give the {DETAIL[kind]} asked for."
        return Answer(question, said, False, (), tuple(hits), notice, mode)
    cands.sort(key=lambda c: (-c[0], c[1], c[2]))
    top = cands[0][1]
    chosen = [c for c in cands if c[0] - penalty >= max(params.threshold, best - (
        params.margin if c[1] == top else min(params.margin, params.other_passage_margin)))]
    chosen = quotes.dedupe([(c[0], c[1], quotes.start(c[3].passage, c[2], kind, question),
                             quotes.end(c[3].passage, c[2], kind), c[3])
                            for c in chosen])
    chosen = sorted(chosen[:params.max_sentences], key=lambda c: (c[1], c[2]))   # reading order
    sentences = [_cite(c, hits) for c in chosen]
    found = short_answer.choose(question, kind, [s.text for s in sentences], tokenize=tokenize, idfs=idfs)
    if found:
        sentences[found[0]] = replace(sentences[found[0]], short=found[1])
    text = " ".join(f"{s.text} [{s.marker}]" for s in sentences)
    short = next((s.text[s.short[0]:s.short[1]] for s in sentences if s.short), "")
    return Answer(question, text, True, tuple(sentences), tuple(hits), notice, mode, short=short)


def _cite(cand, hits: list[Hit]) -> Sentence:
    score, hi, first, last, hit = cand
    a, b = hit.passage.sentences[first][0], hit.passage.sentences[last][1]
    text = hit.passage.text[a:b]
    also = [h.passage.id for h in hits if h is not hit and text in h.passage.text]
    return Sentence(text=text, citations=(hit.passage.id, *also), marker=hi + 1, start=a, end=b, score=score)
