"""Quality measurement: retrieval metrics (pure), and the dev QA set run through Engine.ask."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from .text import clean

DEV_QA = Path(__file__).resolve().parent.parent / "tests" / "data" / "dev_qa.jsonl"


def recall_at(rank: int | None, k: int) -> float:
    """1 when the first relevant passage is within the top k (rank is 1-based, None = not found)."""
    return float(rank is not None and rank <= k)


def reciprocal_rank(rank: int | None, k: int = 10) -> float:
    return 1.0 / rank if rank is not None and rank <= k else 0.0


def ndcg(ranked: list[str], relevant: dict[str, float], k: int = 10) -> float:
    """nDCG@k with graded gains (the BEIR / trec_eval definition: gain / log2(rank + 1))."""
    dcg = sum(relevant.get(pid, 0.0) / math.log2(i + 2) for i, pid in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def load_qa(path: str | Path | None = None) -> list[dict]:
    path = Path(path) if path else DEV_QA
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def gold_ids(item: dict, passages) -> set[str]:
    """Passage ids whose text contains one of the item's gold quotes (in the named document)."""
    out = set()
    for g in item.get("gold", []):
        quote = clean(g["quote"])
        out |= {p.id for p in passages if p.doc_id == g["doc"] and quote in p.text}
    return out


_KINDS = [("who", r"^\W*(?:who|whom)\b"), ("when", r"^\W*when\b|\bwhat (?:year|date|day|month)\b"),
          ("how many/much", r"\bhow (?:many|much|big|large|long)\b"), ("why", r"^\W*why\b"), ("how", r"^\W*how\b"),
          ("which", r"\bwhich\b"), ("what", r"\bwhat\b")]


def question_kind(question: str) -> str:
    """who / when / how many/much / why / how / which / what / other: for the per-type breakdown."""
    return next((k for k, rx in _KINDS if re.search(rx, question, re.I)), "other")


def dev_report(engine, qa: list[dict], *, mode: str | None = None, k: int = 10) -> dict:
    """Retrieval, answer and abstention quality of `engine` on a QA set."""
    passages = engine._snapshot().passages
    rows, cited, intact = [], 0, 0
    for item in qa:
        ans = engine.ask(item["question"], k=k, mode=mode)
        ids = [h.passage.id for h in ans.hits]
        gold = gold_ids(item, passages) if item["answerable"] else set()
        rank = next((i + 1 for i, pid in enumerate(ids) if pid in gold), None)
        said = " ".join(s.text for s in ans.sentences)
        for s in ans.sentences:
            cited += 1
            intact += all(s.text in next(h.passage.text for h in ans.hits if h.passage.id == c) for c in s.citations)
        rows.append({"id": item["id"], "answerable": item["answerable"], "kind": item.get("kind", ""),
                     "rank": rank, "ndcg": ndcg(ids, {g: 1.0 for g in gold}, k) if gold else None,
                     "supported": ans.supported, "fact": bool(item.get("fact") and clean(item["fact"]) in said),
                     "type": question_kind(item["question"]),
                     "gold_missing": item["answerable"] and not gold})
    ans_rows = [r for r in rows if r["answerable"]]
    un_rows = [r for r in rows if not r["answerable"]]
    mean = lambda xs: round(sum(xs) / len(xs), 4) if xs else None  # noqa: E731
    return {
        "mode": mode or engine.settings.mode, "questions": len(rows), "answerable": len(ans_rows),
        "unanswerable": len(un_rows),
        "recall@1": mean([recall_at(r["rank"], 1) for r in ans_rows]),
        "recall@3": mean([recall_at(r["rank"], 3) for r in ans_rows]),
        "recall@5": mean([recall_at(r["rank"], 5) for r in ans_rows]),
        "mrr@10": mean([reciprocal_rank(r["rank"], k) for r in ans_rows]),
        "ndcg@10": mean([r["ndcg"] for r in ans_rows]),
        "answered": mean([float(r["supported"]) for r in ans_rows]),
        "abstained": mean([float(not r["supported"]) for r in un_rows]),
        "fact_in_answer": mean([float(r["supported"] and r["fact"]) for r in ans_rows]),
        "citation_integrity": round(intact / cited, 4) if cited else 1.0,
        "misses": [r["id"] for r in ans_rows if not recall_at(r["rank"], 3)],
        "wrong_abstain": [r["id"] for r in ans_rows if not r["supported"]],
        "wrong_answer": [r["id"] for r in un_rows if r["supported"]],
        "fact_missing": [r["id"] for r in ans_rows if r["supported"] and not r["fact"]],
        "gold_missing": [r["id"] for r in rows if r["gold_missing"]],
        "by_type": {t: {"answerable": len(rs), "answered": mean([float(r["supported"]) for r in rs]),
                        "fact_in_answer": mean([float(r["supported"] and r["fact"]) for r in rs]),
                        "unanswerable": len(us), "declined": mean([float(not r["supported"]) for r in us])}
                    for t in dict.fromkeys(r["type"] for r in rows)
                    for rs, us in [([r for r in ans_rows if r["type"] == t], [r for r in un_rows if r["type"] == t])]},
    }


def report_text(r: dict) -> str:
    return "\n".join([
        f"dev set: {r['questions']} questions ({r['answerable']} answerable, {r['unanswerable']} not), mode {r['mode']}",
        f"retrieval   Recall@1 {_f(r['recall@1'])}  Recall@3 {_f(r['recall@3'])}  Recall@5 {_f(r['recall@5'])}"
        f"  MRR@10 {_f(r['mrr@10'])}  nDCG@10 {_f(r['ndcg@10'])}",
        f"answers     answered {_f(r['answered'])} of answerable, fact in answer {_f(r['fact_in_answer'])}",
        f"abstention  {_f(r['abstained'])} of unanswerable correctly declined",
        f"citations   integrity {r['citation_integrity']:.3f} (answer sentences found verbatim in the cited passage)",
        f"misses@3 {r['misses']}  wrongly declined {r['wrong_abstain']}  wrongly answered {r['wrong_answer']}"
        f"  fact missing {r['fact_missing']}",
        "by question type (answerable: answered, fact in answer | unanswerable: declined):",
        *(f"  {t:14s} {v['answerable']:3d}: {_f(v['answered'])} {_f(v['fact_in_answer'])} | "
          f"{v['unanswerable']:2d}: {_f(v['declined'])}" for t, v in r.get("by_type", {}).items()),
    ])


def _f(x: float | None) -> str:
    return "  —  " if x is None else f"{x:.3f}"
