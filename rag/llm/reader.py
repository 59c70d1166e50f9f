"""Hits -> Answer through an LLM: the top passages go to an OpenAI-compatible server (rag.llm.client), its
answer is split into cited sentences (rag.llm.prompt) and each is checked against the passages it cites
(rag.llm.verify). Only verified sentences form the answer; the others are kept apart as rejected. When the
server fails, or no sentence survives, the extractive answer is given with a one-line note. When the
extractive reader abstains, the LLM is not asked: a sentence can be verified against a passage (true
to it) without answering the question, so the abstention stands.
"""
from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Callable

import numpy as np

from . import client, prompt, verify
from ..schema import Answer, Hit, Rejected, Sentence

log = logging.getLogger("rag")
PASSAGES = 5          # the top passages the model reads (five seed paragraphs fit a 2k context)
# "The document is about…", "This passage describes…": true of the passages, but no answer.
_META = re.compile(r"^(?:the|this|these|that|each|both)\s+(?:\w+\s+)?(?:documents?|passages?|texts?|sources?|"
                   r"articles?|excerpts?|paragraphs?)\b", re.I)
SHOWN_REJECTED = 5    # rejected sentences kept (distinct ones; a small model may repeat itself)


def read(question: str, hits: list[Hit], extractive: Answer, *, endpoint: client.Endpoint,
         encode: Callable[[list[str]], np.ndarray], sentence_vectors: Callable[[Hit], np.ndarray],
         on_text: Callable[[str], None] | None = None, max_tokens: int = 200) -> Answer:
    """The LLM's verified answer, or `extractive` with a note saying why not.

    Args:
        hits: the ranked passages; the first PASSAGES are numbered [1]… in the prompt.
        extractive: the extractive answer to fall back on.
        encode: texts -> vectors with the index's model (for verification).
        sentence_vectors: a hit's sentence vectors from the index.
        on_text: called with each piece of text as the server streams it (the CLI prints it, the app
            draws it); the pieces are the model's unverified words, shown as such.
    """
    given = [h for h in hits[:PASSAGES] if not h.passage.boilerplate]
    if not given or not extractive.supported:
        return extractive     # the passages do not answer it: a true sentence about them would not either
    try:
        pieces = []
        for piece in client.stream_chat(endpoint, prompt.build_messages(question, [h.passage for h in given]),
                                     max_tokens):
            pieces.append(piece)
            if on_text:
                on_text(piece)
        text = "".join(pieces)
    except client.LLMUnavailable as exc:
        log.info("LLM reader: %s", exc)
        return _fallback(extractive, f"the LLM server gave no answer ({exc}); this is the extractive answer")
    claims = list({c.text: c for c in prompt.parse_answer(text)}.values())      # a small model repeats itself
    meta = [c for c in claims if _META.match(c.text)]
    claims = [c for c in claims if not _META.match(c.text)]
    if not claims or prompt.is_abstention(text):
        return _fallback(extractive, "the LLM found no answer in the passages; this is the extractive answer")
    verdicts = _verify(claims, [h.passage for h in given], encode, vectors=[sentence_vectors(h) for h in given])
    ids = {h.passage.id: i for i, h in enumerate(given)}
    kept = tuple(Sentence(text=v.text, citations=(v.passage_id,), marker=ids[v.passage_id] + 1, start=v.span[0],
                          end=v.span[1], score=v.score, verified=True) for v in verdicts if v.verified)
    rejected = tuple(Rejected(c.text, (), "speaks of the passages, not of the question") for c in meta) + tuple({v.text: Rejected(v.text, tuple(given[m - 1].passage.id for m in v.markers if 0 < m <= len(given)),
                                       v.reason) for v in verdicts if not v.verified}.values())[:SHOWN_REJECTED]
    if not kept:
        return _fallback(extractive, "no sentence of the LLM's answer could be verified against the passage it "
                                     "cites; this is the extractive answer", rejected)
    answer = " ".join(f"{s.text} [{s.marker}]" for s in kept)
    return replace(extractive, answer=answer, supported=True, sentences=kept, short="", reader="llm",
                   rejected=rejected)


def _verify(claims, passages, encode, *, vectors) -> list[verify.Verdict]:
    """A verdict per claim. A sentence that cites no passage (small models often write none) is tried
    against each given passage alone, and takes the best one that verifies it as its citation: it is
    then shown with that citation, verified against it like any other; if none does, it fails as
    citing nothing."""
    bare = [i for i, c in enumerate(claims) if not c.markers]
    tries = [prompt.Claim(claims[i].text, (n,)) for i in bare for n in range(1, len(passages) + 1)]
    found = verify.verify(list(claims) + tries, passages, encode, sentence_vectors=vectors)   # one encoding pass
    out, found = found[:len(claims)], found[len(claims):]
    for k, i in enumerate(bare):
        ok = [v for v in found[k * len(passages):(k + 1) * len(passages)] if v.verified]
        if ok:
            out[i] = max(ok, key=lambda v: v.score)
    return out


def _fallback(extractive: Answer, why: str, rejected: tuple = ()) -> Answer:
    notice = "; ".join(n for n in (extractive.notice, why) if n)
    return replace(extractive, notice=notice, reader="extractive", rejected=rejected)
