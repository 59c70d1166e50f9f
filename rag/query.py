"""One question against one loaded generation: the question checked, the rows a filter allows, the
ranking (rag.retrieve) turned into Hits, and the answer composed from them (rag.answer). No state:
the Engine passes in the loaded store (rag.store.interface.Store), the settings and the encoder."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import answer as A
from . import filters as F
from . import retrieve as R
from .config import Settings
from .schema import Answer, BadInput, DocFilter, Hit, IndexMismatch
from .store.interface import Store
from .text import clean

Encode = Callable[[Store, str], np.ndarray]   # (generation, question) -> the question's unit vector


@dataclass(frozen=True)
class Retrieval:
    """One question's retrieval: everything an answer is composed from. `qvec` is None in keyword
    mode (composing encodes the question then); `snapshot` is the generation the hits came from."""
    question: str           # as used: normalised, and truncated when `notice` says so
    notice: str
    mode: str
    hits: list[Hit]
    qvec: np.ndarray | None
    qtokens: list[str]
    snapshot: Store


def check_question(question: str, limit: int) -> tuple[str, str]:
    """(usable question, notice). Empty input is refused; input over `limit` characters is truncated.
    Like the documents, the question is NFC-normalised and loses soft hyphens and invisible characters."""
    if not isinstance(question, str):
        raise BadInput("the question must be text")
    question = clean(unicodedata.normalize("NFC", question.encode("utf-8", "ignore").decode("utf-8")))
    if not question:
        raise BadInput("empty question; type a question about the documents")
    if len(question) > limit:
        return question[:limit], f"question truncated to its first {limit} characters"
    return question, ""


def check_dim(snap: Store, dim: int, name: str) -> None:
    """Refuse an encoder whose vectors do not have the index's dimension."""
    m = snap.manifest
    if dim != int(m.get("dim", dim)):
        raise IndexMismatch(f"the question's vector has {dim} dimensions but the index holds {m.get('dim')}-d "
                            f"vectors (built with {m.get('model')!r}, encoder {name!r}); "
                            "run: python -m rag index --rebuild")


def allowed(snap: Store, where: DocFilter | None, answers_only: bool):
    """The rows a search may return, in the store's terms (rag.store.interface.Store.allowed)."""
    return snap.allowed(F.select(snap.documents, where), answers_only)


def retrieve(snap: Store, s: Settings, encode: Encode, *, question: str, notice: str, k: int | None,
             mode: str | None, where: DocFilter | None, answers_only: bool) -> Retrieval:
    """Rank the generation's passages for a checked question (rag.retrieve.rank with the settings)."""
    k, mode = k or s.k, mode or s.mode
    if mode != s.mode or k != s.k:
        s.with_(k=k, mode=mode)   # validates both
    rows = allowed(snap, where, answers_only)
    qtokens = snap.lexical.tokenize(question)
    qvec = encode(snap, question) if mode != "keyword" else None
    ranked = R.rank(snap, qvec, qtokens, mode=mode, k=k, candidates=s.candidates, fusion=s.fusion, rrf_k=s.rrf_k,
                    weight=s.dense_weight, allowed=rows, share=s.sentence_share, floor=s.keyword_floor)
    hits = [_hit(snap, r, sc, rank=i + 1, dense=d, lexical=lx) for i, (r, sc, d, lx) in enumerate(zip(
            ranked.rows.tolist(), ranked.scores, ranked.dense, ranked.lexical))]
    return Retrieval(question, notice, mode, hits, qvec, qtokens, snap)


def compose(r: Retrieval, encode: Encode, params: A.AnswerParams) -> Answer:
    """The extractive answer to a retrieval: cited sentences from its hits, or an abstention."""
    snap, lex = r.snapshot, r.snapshot.lexical
    qvec = r.qvec if r.qvec is not None else encode(snap, r.question)   # keyword mode: the answer needs it
    return A.compose(r.question, r.hits, qvec=qvec, qtokens=r.qtokens,
                     sentence_vectors=lambda h: snap.sentences_of(h.row), tokenize=lex.tokenize, params=params,
                     unknown=A.salient_unknown(r.question, lex.vocabulary(), lex.tokenize),
                     mode=r.mode, notice=r.notice, idfs=lex.idfs)


def _hit(snap: Store, row: int, score, *, rank: int, dense, lexical) -> Hit:
    p = snap.passages[row]
    return Hit(p, float(score), rank, _num(dense), _num(lexical), row, snap.labels.get(p.doc_id, ""))


def _num(x) -> float | None:
    return None if x is None or np.isnan(x) else float(x)
