"""Grid over answer-selection parameters on the seed dev set (retrieval fixed at the defaults).

    python benchmarks/tune_answers.py

Prints, per setting: answered share of answerable questions, share whose answer contains the gold
fact, and abstention accuracy on the unanswerable ones. Retrieval runs once per question.
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import answer as A  # noqa: E402
from rag import evaluate  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.text import clean  # noqa: E402


def main() -> None:
    index = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/tune-answers")
    eng = Engine.open(Settings(index_dir=index))
    cases = [(item, eng.retrieve(item["question"], k=10)) for item in evaluate.load_qa()]   # retrieved once
    rows = []
    grid = itertools.product([0.6, 0.65, 0.7], [0.1, 0.2], [0.1, 0.2], [0.15], [2, 3], [True, False],
                             [0.0, 0.1, 0.15], [0.1, 0.2], [0.06, 0.1, 0.2])
    for th, ow, margin, pen, fh, st, tb, pw, om in grid:
        p = A.AnswerParams(threshold=th, overlap_weight=ow, margin=margin, unknown_name_penalty=pen, from_hits=fh,
                           strict_types=st, type_bonus=tb, passage_weight=pw, other_passage_margin=om)
        ans_ok = fact = abst = n_ans = n_un = sents = 0
        bad = []
        for item, retrieval in cases:
            a = eng.compose(retrieval, p)
            if item["answerable"]:
                n_ans += 1
                ans_ok += a.supported
                fact += a.supported and clean(item["fact"]) in " ".join(s.text for s in a.sentences)
                sents += len(a.sentences)
                if not a.supported:
                    bad.append(item["id"])
            else:
                n_un += 1
                abst += not a.supported
                if a.supported:
                    bad.append(item["id"])
        rows.append((min(ans_ok / n_ans, abst / n_un), fact / n_ans, ans_ok / n_ans, abst / n_un, sents / n_ans, p, bad))
    rows.sort(key=lambda r: (-(r[0] >= 0.9), -r[1], -r[0]))   # meet both targets, then most facts
    print("min(ans,abst) fact  answered abstained sents/answer  params")
    for r in rows[:25]:
        p = r[5]
        print(f"{r[0]:.3f}        {r[1]:.3f} {r[2]:.3f}    {r[3]:.3f}     {r[4]:.2f}   threshold={p.threshold} "
              f"overlap={p.overlap_weight} margin={p.margin} penalty={p.unknown_name_penalty} from_hits={p.from_hits} "
              f"strict={p.strict_types} bonus={p.type_bonus} passage={p.passage_weight} other={p.other_passage_margin} {r[6]}")


if __name__ == "__main__":
    main()
