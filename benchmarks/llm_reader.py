"""The LLM reader beside the extractive one, in one run, on the dev and held-out QA sets.

    python benchmarks/llm_reader.py [--url URL] [--sets dev holdout] [--limit N]

Without --url it starts the project's test server (tests/llm_server.py: llama.cpp via xllamacpp,
SmolLM2-135M-Instruct, one thread, 127.0.0.1). Prints, per set and reader: answered, fact in answer,
the share of generated sentences verified, fallbacks to the extractive answer, and latency (p50/p95 of
the whole ask; for the LLM also the first streamed piece).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from rag import evaluate  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.text import clean  # noqa: E402

SETS = {"dev": ROOT / "tests" / "data" / "dev_qa.jsonl", "holdout": ROOT / "tests" / "data" / "holdout_qa.jsonl"}


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1] if len(xs) > 1 else (xs or [0])[0]


def run(engine: Engine, qa: list[dict], reader: str) -> dict:
    rows = []
    for item in qa:
        first: list[float] = []
        t0 = time.perf_counter()
        ans = engine.ask(item["question"], reader=reader,
                         on_text=lambda piece: first.append(time.perf_counter() - t0) if not first else None)
        seconds = time.perf_counter() - t0
        said = " ".join(s.text for s in ans.sentences)
        rows.append({"answerable": item["answerable"], "supported": ans.supported, "reader": ans.reader,
                     "fact": bool(item.get("fact")) and ans.supported and clean(item["fact"]) in said,
                     "kept": len(ans.sentences) if ans.reader == "llm" else 0, "rejected": len(ans.rejected),
                     "seconds": seconds, "first": first[0] if first else None})
    ans_rows = [r for r in rows if r["answerable"]]
    un = [r for r in rows if not r["answerable"]]
    generated = sum(r["kept"] + r["rejected"] for r in rows)
    firsts = [r["first"] for r in rows if r["first"] is not None]
    return {"answered": sum(r["supported"] for r in ans_rows) / len(ans_rows),
            "fact": sum(r["fact"] for r in ans_rows) / len(ans_rows),
            "declined": sum(not r["supported"] for r in un) / len(un) if un else float("nan"),
            "llm answers": sum(r["reader"] == "llm" for r in rows), "questions": len(rows),
            "verified share": sum(r["kept"] for r in rows) / generated if generated else float("nan"),
            "p50": pct([r["seconds"] for r in rows], 50), "p95": pct([r["seconds"] for r in rows], 95),
            "first p50": pct(firsts, 50) if firsts else None, "first p95": pct(firsts, 95) if firsts else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", help="an OpenAI-compatible server (default: start the test server)")
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--limit", type=int, default=0, help="only the first N questions of each set")
    ap.add_argument("--index", type=Path, default=ROOT / "index")
    a = ap.parse_args()
    if a.url:
        server = nullcontext(type("S", (), {"url": a.url})())
    else:
        from llm_server import serve
        server = serve()
    with server as s:
        engine = Engine.open(Settings(index_dir=a.index, llm_url=s.url, llm_timeout=120))
        print("| set | reader | answered | fact in answer | declined | answers by the LLM | sentences verified "
              "| p50 / p95 s | first piece p50 / p95 s |\n|---|---|---|---|---|---|---|---|---|")
        for name in a.sets:
            qa = evaluate.load_qa(SETS[name])[:a.limit or None]
            for reader in ("extractive", "llm"):
                r = run(engine, qa, reader)
                first = f"{r['first p50']:.2f} / {r['first p95']:.2f}" if r["first p50"] is not None else "—"
                print(f"| {name} | {reader} | {r['answered']:.3f} | {r['fact']:.3f} | {r['declined']:.3f} | "
                      f"{r['llm answers']}/{r['questions']} | {r['verified share']:.3f} | "
                      f"{r['p50']:.3f} / {r['p95']:.3f} | {first} |", flush=True)


if __name__ == "__main__":
    main()
