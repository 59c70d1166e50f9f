"""Checks each generated sentence against the passages it cites, deterministically and locally: the
cited passages were given; every number, date, quote and name in it is in them; a sentence of theirs,
or a clause of one, says the same thing (cosine with the project's embedder at least THRESHOLD); that
sentence agrees on negation and holds the facts, with the sentences it leans on (rag.llm.support). Pure:
vectors or an encode function come in as arguments."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from . import facts as F
from . import support as S
from .support import Units
from .prompt import Claim
from ..schema import Passage

# Chosen on tests/data/verifier_set.jsonl with the default model: benchmarks/verifier.py prints the sweep.
THRESHOLD = 0.6
Encode = Callable[[list[str]], np.ndarray]     # texts -> L2-normalised float32 rows
# Words that may open a sentence without being a name (a sentence-initial capital is not a name).
_ORDINARY = set("""a an the this that these those it its he she his her they their them we our i you one
some many most all both each every either any other another such no not in on at by for from to of into
onto over under during after before while when where whether which who whom whose what why how although
though because since as with without despite according but and or nor yet so then also only still even
there here if unless until once now later earlier meanwhile however moreover furthermore instead thus
indeed specifically last first next again later finally""".split())


@dataclass(frozen=True)
class Verdict:
    text: str
    markers: tuple[int, ...]
    verified: bool
    passage_id: str = ""                   # the supporting passage ("" when not verified)
    span: tuple[int, int] = (0, 0)         # the supporting sentence's span in that passage's text
    score: float = 0.0                     # cosine with the closest sentence of the cited passages
    reason: str = ""                       # why not, e.g. "names 'Kawamura', not in [2]"

    def to_json(self) -> dict:
        return {"verified": self.verified, "passage": self.passage_id or None,
                "span": list(self.span) if self.verified else None, "score": round(self.score, 4),
                "reason": self.reason}


def verify(claims: Sequence[Claim], passages: Sequence[Passage], encode: Encode,
           *, threshold: float = THRESHOLD, sentence_vectors: Sequence[np.ndarray] | None = None) -> list[Verdict]:
    """A verdict per claim, encoding in two batched calls: the claims, then the cited passages' pieces
    (and sentences, unless `sentence_vectors` gives them).

    Args:
        claims: the generated sentences and the passage numbers they cite.
        passages: the passages as numbered in the prompt ([1] is passages[0]).
        encode: texts -> normalised vectors, with the index's model (Engine.embedder().encode_queries).
        sentence_vectors: each passage's sentence vectors, rows aligned with Passage.sentences (the
            index holds them: Snapshot.sentences_of).
    """
    if not claims:
        return []
    vecs = np.asarray(encode([c.text for c in claims]), dtype=np.float32)
    cited = sorted({m - 1 for c in claims for m in c.markers if 0 < m <= len(passages)})
    table: list[Units | None] = [None] * len(passages)
    found = S.units([passages[i] for i in cited], encode,
                  None if sentence_vectors is None else [sentence_vectors[i] for i in cited]) if cited else []
    for i, u in zip(cited, found):
        table[i] = u
    return [check(c, passages, v, table=table, threshold=threshold) for c, v in zip(claims, vecs)]


def check(claim: Claim, passages: Sequence[Passage], vec: np.ndarray,
          *, table: Sequence[Units | None], threshold: float = THRESHOLD) -> Verdict:
    """One claim's verdict, given its vector and the cited passages' units (rag.llm.support.units)."""
    def fail(reason: str, score: float = 0.0) -> Verdict:
        return Verdict(claim.text, claim.markers, False, score=score, reason=reason)
    if not claim.markers:
        return fail("cites no passage")
    if bad := [m for m in claim.markers if not 0 < m <= len(passages)]:
        return fail(f"cites {_marks(bad)}, which {'was' if len(bad) == 1 else 'were'} not given")
    cited = [passages[m - 1] for m in claim.markers]
    facts, where = F.facts(claim.text), _marks(claim.markers)
    ordinary = _ORDINARY | {w for p in passages for w in F.words(p.text, lower_only=True)}
    if missing := _missing(facts, " ".join(p.text for p in cited), claim.text, ordinary=ordinary):
        return fail(f"{missing}, not in {where}")
    best = []     # per cited passage: (cosine, index of its closest sentence)
    for m in claim.markers:
        u = table[m - 1]
        if u is not None and len(u.vectors):
            sims = u.vectors @ vec
            best.append((float(sims.max()), int(u.sentence[sims.argmax()])))
        else:
            best.append((-1.0, -1))
    top = max(range(len(cited)), key=lambda k: best[k][0])
    score, j = best[top]
    if score < threshold:
        return fail(f"no sentence of {where} says this (closest: cosine {max(score, 0):.2f} < {threshold:.2f})", score)
    p, mark = cited[top], _marks([claim.markers[top]])
    a, b = p.sentences[j]
    if why := _negation(facts.negations, F.negations(p.text[a:b]), F.words(claim.text), mark=mark):
        return fail(why, score)
    # The facts must also be near what supports the claim: in the closest sentence of each cited
    # passage (and the one or two before it when it says "he" or "they": they name whom).
    near = " ".join(S.near(q, i) for q, (_, i) in zip(cited, best) if i >= 0)
    if missing := _missing(facts, near, claim.text, ordinary=ordinary, surnames=True):
        return fail(f"{missing}, not in the sentence of {where} that says this", score)
    return Verdict(claim.text, claim.markers, True, p.id, (a, b), score)


def _negation(claimed, said, claim_words: set[str], *, mark: str) -> str:
    """Why the claim and its supporting sentence disagree on a negation, or "": each negation in the
    claim must meet one in the sentence about the same words, and a negation in the sentence about
    words the claim repeats must be in the claim too ("Russia is opposed" against "in no way opposed")."""
    for cue, scope in claimed:
        if not any(_overlap(scope, other) >= min(2, len(scope), len(other)) for _, other in said):
            return f"negation: says '{cue}' where {mark} does not"
    for cue, scope in said:
        if scope and _overlap(scope, claim_words) >= min(2, len(scope)) and not any(
                _overlap(scope, other) >= min(2, len(scope), len(other)) for _, other in claimed):
            return f"negation: {mark} says '{cue} {' '.join(sorted(scope)[:2])}…' where this does not"
    return ""


def _overlap(words: frozenset[str], other) -> int:
    return sum(_known(w, other) for w in words)


def _missing(facts: F.Facts, text: str, sentence: str, *, ordinary: set[str], surnames: bool = False) -> str:
    """The first of the sentence's facts that `text` lacks, described ("names 'Kawamura'"), or "".
    With `surnames` (the text near the support), quotes are not looked for again (they were found
    verbatim in the passage) and a name of several words needs only its last word."""
    if gone := [w for n, w in facts.numbers.items() if n not in F.numbers(text)]:
        return f"has the number '{gone[0]}'"
    found = F.facts(text)
    if gone := sorted(facts.dates - found.dates):
        return "has the date '{} {}'".format(_MONTH_NAMES[gone[0][0] - 1], gone[0][1])
    plain = F.normal(text)
    if gone := [q for q in facts.quotes
                if not surnames and any(p.strip() not in plain for p in re.split(r"\.\.\.|…", q))]:
        return f"quotes “{gone[0]}”"
    here, run_of_words = F.words(text), F.phrase(text)
    for start, name in facts.names:
        parts = name.split()
        if start == len(sentence) - len(sentence.lstrip(" \"“‘'(")) and parts[0].lower() in ordinary:
            parts = parts[1:]      # "During his stay …": capitalised only because it comes first
        # A name of several words must appear as written; title words the passages use in lower case
        # ("Foreign Minister Ikeda" for "foreign minister Yukihiko Ikeda") may stand apart.
        for chunk in " ".join(w if w.lower() not in ordinary else "|" for w in parts).split("|"):
            words = chunk.split()
            if (len(words) == 1 or surnames) and words and not _known(words[-1].lower(), here) or \
                    len(words) > 1 and not surnames and F.phrase(chunk) not in run_of_words:
                return f"names '{chunk.strip()}'"
    return ""


def _known(key: str, here) -> bool:
    """The word is among the words, or differs from one by a short ending ("Japan"/"Japanese")."""
    if key in here:
        return True
    return len(key) >= 4 and any(abs(len(w) - len(key)) <= 3 and len(w) >= 4
                                 and (w.startswith(key) or key.startswith(w)) for w in here)


def _marks(markers) -> str:
    return "".join(f"[{m}]" for m in markers)


_MONTH_NAMES = "January February March April May June July August September October November December".split()
