"""How often the answer shows a short answer (a name, a date, a figure) and how often it is the right one.

    python benchmarks/short_answers.py [--dev tests/data/holdout_qa.jsonl] [-v]

Over the answerable questions that ask for a typed answer (rag.asks.expected_type): how many
answers show a short answer, how many of those are right (the gold fact holds it, or it holds the
fact), and how many answers hold the fact in their quotes at all. -v lists every question.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import asks, short_answer  # noqa: E402
from rag import evaluate  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.text import clean  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", default=None, help="a QA set (default: the dev set)")
    ap.add_argument("-v", action="store_true", help="list every question")
    args = ap.parse_args()
    eng = Engine.open(Settings())
    count = Counter()
    for item in evaluate.load_qa(args.dev):
        kind = asks.expected_type(item["question"])
        if not item["answerable"] or kind not in short_answer.KINDS:
            continue
        ans = eng.ask(item["question"])
        fact = clean(item["fact"]).lower()
        held = ans.supported and fact in " ".join(s.text for s in ans.sentences).lower()
        short = ans.short.lower()
        right = bool(short) and (short in fact or fact in short)
        count.update({"typed": 1, "fact in answer": held, "shown": bool(short), "right": right,
                      "wrong": bool(short) and not right, "missed (fact quoted, no short answer)": held and not short})
        if args.v:
            mark = "right" if right else "WRONG" if short else "none"
            print(f"{mark:5s} {item['id']} {kind:7s} short {ans.short!r} | fact {item['fact']!r}")
    n = count["typed"]
    print(f"{n} answerable questions that ask for a name, date, figure, place or organisation:")
    for key in ("fact in answer", "shown", "right", "wrong", "missed (fact quoted, no short answer)"):
        print(f"  {key:40s} {count[key]:3d}  ({count[key] / n:.3f})" if n else f"  {key}: 0")
    if count["shown"]:
        print(f"  precision (right / shown)                {count['right'] / count['shown']:.3f}")


if __name__ == "__main__":
    main()
