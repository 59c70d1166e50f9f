"""Grid over retrieval settings on the seed dev set: prints Recall@1/3/5, MRR@10 per configuration.

    python benchmarks/tune_dev.py [--contexts none,section,title]
    python benchmarks/tune_dev.py --shares 0,0.2,0.35 --weights 0.5,0.55,0.6 [--mode dense]

Each embedding context is embedded once; BM25 and fusion variants reuse those vectors. With
--shares, only the default index is built and sentence share x dense weight is swept, printing
the answer figures as well.
"""
from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import evaluate  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.engine import Engine  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contexts", default="none,section,title")
    ap.add_argument("--shares", default="", help="sweep Settings.sentence_share (with --weights) instead")
    ap.add_argument("--weights", default="0.55")
    ap.add_argument("--mode", default=None)
    args = ap.parse_args()
    qa = evaluate.load_qa()
    work = Path(tempfile.mkdtemp(prefix="tune-"))
    if args.shares:
        return shares(args, qa, work)
    embedder = None
    print("context  stopwords k1   b    fusion  w/k   R@1   R@3   R@5   MRR   nDCG")
    for context in args.contexts.split(","):
        for stop, (k1, b) in itertools.product(["en", "en_plus"], [(1.2, 0.75), (1.5, 0.75), (0.9, 0.4)]):
            s = Settings(index_dir=work / context, context=context, stopwords=stop, bm25_k1=k1, bm25_b=b)
            eng = Engine(s, embedder)
            eng.build()
            embedder = eng.embedder()
            fusions = [("rrf", 60), ("rrf", 20), ("convex", 0.3), ("convex", 0.5), ("convex", 0.7), ("dense", 0), ("keyword", 0)]
            for fusion, w in fusions:
                if fusion in ("dense", "keyword"):
                    mode, cfg = fusion, s
                else:
                    mode = "hybrid"
                    cfg = s.with_(fusion=fusion, rrf_k=int(w) if fusion == "rrf" else None,
                                  dense_weight=w if fusion == "convex" else None)
                e2 = Engine(cfg, embedder)
                r = evaluate.dev_report(e2, qa, mode=mode)
                print(f"{context:8} {stop:9} {k1:<4} {b:<4} {fusion:7} {w:<5} {r['recall@1']:.3f} {r['recall@3']:.3f} "
                      f"{r['recall@5']:.3f} {r['mrr@10']:.3f} {r['ndcg@10']:.3f}", flush=True)
    shutil.rmtree(work, ignore_errors=True)


def shares(args, qa, work: Path) -> None:
    base = Settings(docs_dir=ROOT / "seeds", index_dir=work / "index")
    eng = Engine(base)
    eng.build()
    print("share  w     R@1   R@3   MRR   answered declined fact  misses@3")
    for share in (float(x) for x in args.shares.split(",")):
        for w in (float(x) for x in args.weights.split(",")):
            r = evaluate.dev_report(Engine(base.with_(sentence_share=share, dense_weight=w), eng.embedder()),
                                    qa, mode=args.mode)
            print(f"{share:<6} {w:<5} {r['recall@1']:.3f} {r['recall@3']:.3f} {r['mrr@10']:.3f} {r['answered']:.3f}    "
                  f"{r['abstained']:.3f}    {r['fact_in_answer']:.3f} {r['misses']}", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
