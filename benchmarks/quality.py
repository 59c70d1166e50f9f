"""The SciFact table of docs/BENCHMARKS.md: our retrieval modes side by side with the published
figures, each of our rows with the command that reproduces it.

    python benchmarks/quality.py [--beir ../shared/bench/scifact] [--split test]

Every row runs the product path (rag.beir.evaluate: ingest -> index -> Engine.search), with the
default settings except for what the row names. The first run embeds the corpus (minutes); later
runs reuse the cached vectors in .cache/ and take seconds per row. Published figures are read from
the README of the BEIR folder (its table with columns system | nDCG@10 | Recall@100 | source).
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import beir  # noqa: E402
from rag.config import Settings  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "bench" / "scifact"


@dataclass(frozen=True)
class Row:
    label: str
    mode: str
    env: tuple[tuple[str, str], ...] = ()    # RAG_* overrides, as the reproduce command sets them


def rows(s: Settings) -> list[Row]:
    off = (("RAG_SENTENCE_SHARE", "0"),)
    return [
        Row("ours, dense, passage vectors only", "dense", off),
        Row(f"ours, dense with sentence share {s.sentence_share}", "dense"),
        Row(f"ours, keyword (BM25 k1 {s.bm25_k1}, b {s.bm25_b})", "keyword"),
        Row(f"ours, hybrid RRF k={s.rrf_k}", "hybrid", (("RAG_FUSION", "rrf"),)),
        Row("ours, hybrid convex min-max 0.7 (default two versions ago)", "hybrid",
            (("RAG_FUSION", "convex"), ("RAG_DENSE_WEIGHT", "0.7")) + off),
        Row("ours, hybrid bounded 0.55 without sentences (previous default)", "hybrid",
            (("RAG_FUSION", "bounded"), ("RAG_DENSE_WEIGHT", "0.55")) + off),
        Row(f"**ours, hybrid {s.fusion} {s.dense_weight}, sentence share {s.sentence_share} (default)**", "hybrid"),
    ]


def published(folder: Path) -> list[tuple[str, str, str]]:
    """(system, nDCG@10, Recall@100) rows of the README's published table ([] when there is none)."""
    try:
        lines = (folder / "README.md").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out, inside = [], False
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[:3] == ["system", "nDCG@10", "Recall@100"]:
            inside = True
        elif inside and line.startswith("|") and not set(line) <= set("|- "):
            out.append((cells[0], cells[1], cells[2]))
        elif inside and not line.startswith("|"):
            break
    return out


def command(row: Row, folder: str, split: str) -> str:
    env = "".join(f"{k}={v} " for k, v in row.env)
    mode = "" if row.mode == "hybrid" else f" --mode {row.mode}"
    return f"`{env}python -m rag eval --beir {folder} --split {split}{mode}`"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--beir", default=str(SCIFACT), help="BEIR folder (default ../shared/bench/scifact)")
    ap.add_argument("--split", default="test", help="qrels split (tune on train; report test)")
    args = ap.parse_args()
    folder = Path(args.beir)
    shown = os.path.relpath(folder.resolve(), ROOT)
    base = Settings.from_env()
    print(f"SciFact {args.split}: {base.model}\n")
    print("| system | nDCG@10 | Recall@10 | Recall@100 | MRR@10 | reproduce |")
    print("|---|---|---|---|---|---|")
    if args.split == "test":
        for system, ndcg, r100 in published(folder):
            print(f"| published: {system} | {ndcg} | — | {r100} | — | |")
    for row in rows(base):
        settings = Settings.from_env(dict(os.environ, **dict(row.env)))
        m = beir.evaluate(settings, folder, split=args.split, mode=row.mode)
        bold = "**" if row.label.startswith("**") else ""
        figures = " | ".join(f"{bold}{m[k]:.4f}{bold}" for k in ("ndcg@10", "recall@10", "recall@100", "mrr@10"))
        print(f"| {row.label} | {figures} | {command(row, shown, args.split)} |", flush=True)


if __name__ == "__main__":
    main()
