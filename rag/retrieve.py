"""Question vector + tokens -> ranked rows: dense, keyword, or the two fused.

The fusion functions are pure (arrays in, arrays out); `rank` wires them to the stores.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lexical import top_n  # noqa: F401  (re-exported: the pure top-n used by both engines)


@dataclass(frozen=True)
class Ranked:
    rows: np.ndarray        # passage rows, best first
    scores: np.ndarray      # the fused (or single) score of each row
    dense: np.ndarray       # cosine of each row (nan when dense did not run)
    lexical: np.ndarray     # BM25 of each row (nan when keyword did not run)


def rrf(rank_lists: list[np.ndarray], k: int = 60) -> dict[int, float]:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the lists a row appears in (rank from 1)."""
    fused: dict[int, float] = {}
    for rows in rank_lists:
        for rank, row in enumerate(rows.tolist(), start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank)
    return fused


def convex(dense: np.ndarray, lexical: np.ndarray, weight: float) -> np.ndarray:
    """weight * minmax(dense) + (1 - weight) * lexical / max(lexical), over one candidate set.

    Min-max on cosine spreads the narrow band dense scores live in; BM25 is divided by its max so
    a row with no query term scores 0 (Bruch et al. 2023, 'An analysis of fusion functions')."""
    span = float(dense.max() - dense.min()) if len(dense) else 0.0
    d = (dense - dense.min()) / span if span > 0 else np.zeros_like(dense)
    top = float(lexical.max()) if len(lexical) else 0.0
    lx = lexical / top if top > 0 else np.zeros_like(lexical)
    return weight * d + (1 - weight) * lx


def bounded(dense: np.ndarray, lexical: np.ndarray, weight: float, *, ceiling: float) -> np.ndarray:
    """weight * cosine + (1 - weight) * BM25 / ceiling, where `ceiling` is the most the question's
    terms can score (Lexical.ceiling). Both scales are fixed before any row is seen, so a row's fused
    score does not depend on which other rows were candidates; on SciFact train this beat `convex`
    by +0.008 nDCG@10 with the seed dev set unchanged (docs/BENCHMARKS.md)."""
    lx = lexical / ceiling if ceiling > 0 else np.zeros_like(lexical)
    return weight * dense + (1 - weight) * lx


# A question whose terms carry fewer than this many rare-term units (ceiling / Lexical.rare_idf) keeps
# only units / KEYWORD_FLOOR of its keyword weight. 3 is the strongest lean to dense that SciFact train
# (+0.0006 nDCG@10 over `bounded`) and short queries cut from its claims, where keyword beats dense,
# allowed (never more than 0.01 below keyword); the seed dev questions carry 3.08 units or more, so
# the dev set is unchanged (docs/BENCHMARKS.md, "Adaptive fusion").
KEYWORD_FLOOR = 3.0


def keyword_share(ceiling: float, rare_idf: float, floor: float = KEYWORD_FLOOR) -> float:
    """The share of its keyword weight that `adaptive` leaves a question: min(1, units / floor), where
    units = ceiling / rare_idf is how much the question can tell BM25, in terms only one row has."""
    scale = max(ceiling, floor * rare_idf)
    return ceiling / scale if scale > 0 else 1.0


def adaptive(dense: np.ndarray, lexical: np.ndarray, weight: float, *, ceiling: float, rare_idf: float,
             floor: float = KEYWORD_FLOOR) -> np.ndarray:
    """`bounded` with the BM25 scale never below `floor` rare-term units: weight * cosine +
    (1 - weight) * keyword_share * BM25 / ceiling.

    A passage matching terms whose idf sums to I is one of about N * exp(-I) passages that match them
    by chance, so a full match is strong evidence only when the question's terms are rare together.
    Most SciFact claims carry 2.4-6.6 units; a short name of a thing that many passages mention carries
    about 1, every passage that mentions it matches it fully, and the fixed weight then outvoted the
    cosine (hybrid 0.485 against dense 0.515 on a held-out entity-search set). Below the floor the
    keyword weight shrinks in proportion and the ranking tends to dense; from it on this is `bounded`
    exactly. The scale depends on the question and the corpus only, never on the candidates."""
    return bounded(dense, lexical, weight, ceiling=max(ceiling, floor * rare_idf))


def with_sentences(dense: np.ndarray, best: np.ndarray | None, share: float) -> np.ndarray:
    """A passage's dense score: its cosine, with `share` of it taken by its best sentence's cosine."""
    return dense if best is None or share <= 0 else (1 - share) * dense + share * best


def rank(store, qvec: np.ndarray | None, qtokens: list[str], *, mode: str, k: int, candidates: int,
         fusion: str = "rrf", rrf_k: int = 60, weight: float = 0.5,
         allowed: np.ndarray | None = None, share: float = 0.0, floor: float = KEYWORD_FLOOR) -> Ranked:
    """Top-k rows of `store` for one question. A store (rag.store.interface.Store: the local
    Snapshot, or the Qdrant reader) answers .dense, .vectors_of, .lexical and .best_sentence."""
    nan = np.full(0, np.nan)
    pool = max(k, candidates)
    if mode == "keyword":
        rows, lex = store.lexical.top(qtokens, k, allowed)
        return Ranked(rows, lex, np.full(len(rows), np.nan), lex)
    d_scores, d_rows = store.dense(qvec, pool if mode == "hybrid" or share > 0 else k, allowed)
    if mode == "dense":
        blended = with_sentences(d_scores, store.best_sentence(d_rows, qvec) if share > 0 else None, share)
        order = np.lexsort((d_rows, -blended))[:k]
        return Ranked(d_rows[order], blended[order], d_scores[order], np.full(len(order), np.nan))
    l_rows, _ = store.lexical.top(qtokens, pool, allowed)
    union = np.union1d(d_rows, l_rows)
    if len(union) == 0:
        return Ranked(union, nan, nan, nan)
    lex = store.lexical.score_rows(qtokens, union)   # exact BM25 for dense-only candidates too
    dense = np.full(len(union), np.nan, dtype=np.float32)
    dense[np.searchsorted(union, d_rows)] = d_scores
    missing = np.isnan(dense)
    if missing.any():   # exact cosine for keyword-only candidates, so fusion compares like with like
        dense[missing] = store.vectors_of(union[missing]) @ qvec.reshape(-1)
    blended = with_sentences(dense, store.best_sentence(union, qvec) if share > 0 else None, share)
    if fusion == "rrf":
        fused_map = rrf([d_rows, l_rows], rrf_k)
        fused = np.array([fused_map[r] for r in union.tolist()], dtype=np.float32)
    elif fusion == "bounded":
        fused = bounded(blended, lex, weight, ceiling=store.lexical.ceiling(qtokens))
    elif fusion == "adaptive":
        fused = adaptive(blended, lex, weight, ceiling=store.lexical.ceiling(qtokens),
                         rare_idf=store.lexical.rare_idf(), floor=floor)
    else:
        fused = convex(blended, lex, weight)
    order = np.lexsort((union, -fused))[:k]
    return Ranked(union[order], fused[order], dense[order], lex[order])


@dataclass(frozen=True)
class Candidates:
    """What fusion sees for one question before fusing, for tuning it (benchmarks/tune_*.py)."""
    rows: np.ndarray            # the union of both retrievers' top rows, sorted
    dense: np.ndarray           # cosine of each row
    lexical: np.ndarray         # BM25 of each row
    dense_rows: np.ndarray      # the dense retriever's rows, best first
    keyword_rows: np.ndarray    # the keyword retriever's rows, best first
    ceiling: float              # the question's BM25 ceiling (Lexical.ceiling)
    rare_idf: float             # the corpus's rare-term idf (Lexical.rare_idf)
    best_sentence: np.ndarray | None   # each row's best sentence cosine (None without answer vectors)


def candidates(store, qvec: np.ndarray, qtokens: list[str], *, pool: int, lexical=None) -> Candidates:
    """The top `pool` rows of each retriever for one question, scored by both (`lexical`: another
    keyword index over the same rows, default the store's)."""
    lex = lexical or store.lexical
    _, d_rows = store.dense(qvec, pool)
    l_rows, _ = lex.top(qtokens, pool)
    union = np.union1d(d_rows, l_rows)
    dense = store.vectors_of(union) @ qvec.reshape(-1)
    return Candidates(union, dense, lex.score_rows(qtokens, union), d_rows, l_rows, lex.ceiling(qtokens),
                      lex.rare_idf(), store.best_sentence(union, qvec))
