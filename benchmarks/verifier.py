"""The verifier on its test set (tests/data/verifier_set.jsonl), with the real model.

    python benchmarks/verifier.py [--index DIR] [--show]

Each item is a sentence and the passage(s) it cites: faithful restatements of dev-set gold sentences
(round 1) and answers to the dev questions (rounds 2 and 3, written later: see the per-round lines),
which must pass, and corruptions (a swapped name, a changed number or date, a negation, a claim cited
to the wrong passage, an invented quote), which must fail. The passages given are the cited ones and
the passage the sentence really comes from. Prints the confusion table at rag.llm.verify.THRESHOLD and the
threshold sweep it was chosen from (targets: >= 98% of corruptions rejected, >= 85% of faithful
sentences accepted); --show lists every wrong verdict with its reason.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.llm import support as S  # noqa: E402
from rag.llm import verify as V  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.llm.prompt import Claim  # noqa: E402
from rag.schema import Passage  # noqa: E402
from rag.text import clean  # noqa: E402

SET = ROOT / "tests" / "data" / "verifier_set.jsonl"
SWEEP = [round(0.40 + 0.025 * i, 3) for i in range(15)]


@dataclass(frozen=True)
class Case:
    item: dict
    claim: Claim
    given: tuple[Passage, ...]
    vec: np.ndarray                       # the sentence's vector
    units: tuple[S.Units, ...]            # what it is compared with in each given passage


def cases(engine: Engine, path: Path = SET) -> list[Case]:
    """Every item of the set, its passages found by quote and its vectors encoded (one batch)."""
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    docs: dict[str, list[Passage]] = {}

    def find(ref: dict) -> Passage:
        if ref["doc"] not in docs:
            docs[ref["doc"]] = [c.passage for c in engine.cite(ref["doc"]).found]
        hits = [p for p in docs[ref["doc"]] if clean(ref["quote"]) in p.text]
        if len(hits) != 1:
            raise SystemExit(f"{ref} locates {len(hits)} passages; fix the quote in {path}")
        return hits[0]
    encode = engine.embedder().encode_queries
    vecs = encode([it["sentence"] for it in items])
    givens = []
    for it in items:
        cited = [find(r) for r in it["cites"]]
        givens.append((tuple(dict.fromkeys(cited + [find(r) for r in it["gold"]])), cited))
    every = list(dict.fromkeys(p for given, _ in givens for p in given))
    sentence_vectors = [engine.embedder().encode_passages(p.sentence_texts()) for p in every]   # as the index holds them
    table = dict(zip(every, S.units(every, encode, sentence_vectors)))
    return [Case(it, Claim(it["sentence"], tuple(given.index(p) + 1 for p in cited)), given, vec,
                 tuple(table[p] for p in given)) for it, vec, (given, cited) in zip(items, vecs, givens)]


def run(cs: list[Case], threshold: float) -> list[tuple[Case, V.Verdict]]:
    return [(c, V.check(c.claim, c.given, c.vec, table=c.units, threshold=threshold)) for c in cs]


def tally(results) -> dict[str, tuple[int, int]]:
    """Per kind: (verdicts that are right, items). Right is accepted for faithful, rejected for corrupted."""
    right, total = Counter(), Counter()
    for c, v in results:
        kind = c.item["kind"]
        total[kind] += 1
        right[kind] += v.verified == (c.item["label"] == "faithful")
    return {k: (right[k], total[k]) for k in sorted(total, key=lambda k: (k != "restatement", k))}


def rates(t: dict) -> tuple[float, float]:
    """(share of faithful sentences accepted, share of corrupted ones rejected)."""
    f = t.get("restatement", (0, 1))
    bad = [v for k, v in t.items() if k != "restatement"]
    return f[0] / f[1], sum(r for r, _ in bad) / max(sum(n for _, n in bad), 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, help="index of the seeds (default: built in a temporary folder)")
    ap.add_argument("--show", action="store_true", help="list the wrong verdicts with their reasons")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        eng = Engine.open(Settings(docs_dir=ROOT / "seeds", index_dir=a.index or Path(tmp) / "index"))
        cs = cases(eng)
        results = run(cs, V.THRESHOLD)
    t = tally(results)
    questions = {c.item["source"].rstrip("bc") for c in cs}        # "a14b": another gold sentence of a14
    print(f"verifier set: {len(cs)} sentences from {len(questions)} dev questions; "
          f"threshold {V.THRESHOLD}\n\n| kind | items | right | wrong | right % |\n|---|---|---|---|---|")
    for kind, (r, n) in t.items():
        what = "accepted / rejected" if kind == "restatement" else "rejected / accepted"
        print(f"| {kind} ({what}) | {n} | {r} | {n - r} | {100 * r / n:.1f} |")
    acc, rej = rates(t)
    print(f"\nfaithful accepted {100 * acc:.1f}% (target >= 85), corrupted rejected {100 * rej:.1f}% (target >= 98)")
    for rnd, what in ((1, "restatements, written while the checks were designed"),
                      (2, "answers, written after; the checks were then improved on them"),
                      (3, "answers, written once the checks were frozen")):
        part = [r for r in results if r[0].item.get("round", 1) == rnd]
        if part:
            acc, rej = rates(tally(part))
            print(f"round {rnd} ({what}): {len(part)} sentences, faithful accepted {100 * acc:.1f}%, "
                  f"corrupted rejected {100 * rej:.1f}%")
    print("\n| threshold | faithful accepted % | corrupted rejected % |\n|---|---|---|")
    for th in SWEEP:
        acc, rej = rates(tally(run(cs, th)))
        print(f"| {th:.3f} | {100 * acc:.1f} | {100 * rej:.1f} |")
    if a.show:
        print()
        for c, v in results:
            if v.verified != (c.item["label"] == "faithful"):
                print(f"{c.item['id']:<28} {'accepted' if v.verified else 'rejected'} {v.score:.3f} "
                      f"{v.reason}\n    {c.claim.text}")


if __name__ == "__main__":
    main()
