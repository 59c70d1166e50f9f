"""Sentence splitting: pySBD's English golden rules, sentences per second, and the build's read-and-cut
stage with this splitter against the one before it (rag/text.py until ingest version 4), in one run.

    python benchmarks/sentences.py PYSBD_CHECKOUT [--scifact ../shared/bench/scifact] [--repeats 5]

PYSBD_CHECKOUT is a checkout or snapshot of github:nipunsadvilkar/pySBD (its
benchmarks/english_golden_rules.py is read as data, never executed). A rule passes when every
sentence matches exactly after stripping, as pySBD scores it. pysbd, blingfire and syntok are scored
too when they are installed (they are not dependencies of the project). Speed is measured on the
cleaned SciFact abstracts; the read-and-cut stage is rag.ingest.parse (cleaning, sentence spans,
token counts with the model's tokenizer, cuts at 256 tokens) over them, 1,000 abstracts a document.
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import ingest  # noqa: E402
from rag import text as T  # noqa: E402
from rag.segment import split_sentences  # noqa: E402

_ABBREV = {"mr", "mrs", "ms", "dr", "prof", "gen", "col", "lt", "sgt", "capt", "adm", "gov", "sen", "rep",
           "st", "jr", "sr", "vol", "no", "nos", "pp", "p", "fig", "figs", "eq", "al", "etc", "vs", "cf",
           "e.g", "i.e", "inc", "ltd", "co", "corp", "dept", "univ", "approx", "ca", "jan", "feb", "mar",
           "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mt", "ft", "op"}
_SENT_END = re.compile(r"[.!?…]+[\"”’')\]]*(?=\s+[\"“‘'(\[]?[A-Z0-9])")


def previous_split(text: str) -> list[tuple[int, int]]:
    """The splitter of ingest versions 1-3 (rag/text.py), kept here as the baseline."""
    spans, start = [], 0
    for m in _SENT_END.finditer(text):
        w = m.start()
        while w > 0 and not text[w - 1].isspace():
            w -= 1
        word = text[w:m.start() + 1].rstrip(".").lower().lstrip("(\"“‘'")
        if word in _ABBREV or re.fullmatch(r"(?:[a-z]\.)*[a-z]", word):
            continue
        spans.append((start, m.end()))
        start = m.end() + 1
        while start < len(text) and text[start] == " ":
            start += 1
    if start < len(text):
        spans.append((start, len(text)))
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and text[a] == "(" and text[b - 1] in ").":
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def golden_rules(checkout: Path) -> list[tuple[str, list[str]]]:
    """GOLDEN_EN_RULES from the pySBD checkout, read as a Python literal."""
    path = checkout / "benchmarks" / "english_golden_rules.py" if checkout.is_dir() else checkout
    tree = ast.parse(path.read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "GOLDEN_EN_RULES")
    return ast.literal_eval(node.value)


def splitters() -> dict:
    """name -> text -> list of sentence strings."""
    spans = lambda f: lambda t: [t[a:b] for a, b in f(t)]  # noqa: E731
    out = {"rag.segment (this version)": spans(split_sentences), "previous splitter (ingest v1-3)": spans(previous_split)}
    try:
        import pysbd
        seg = pysbd.Segmenter(language="en", clean=False)
        out[f"pysbd {pysbd.__version__}"] = seg.segment
    except ImportError:
        pass
    try:
        import blingfire
        out["blingfire"] = lambda t: blingfire.text_to_sentences(t).split("\n")
    except ImportError:
        pass
    try:
        import syntok.segmenter as syn
        out["syntok"] = lambda t: ["".join(tok.spacing + tok.value for tok in s).strip()
                                   for p in syn.process(t) for s in p]
    except ImportError:
        pass
    return out


def rules_passed(split, rules) -> tuple[int, list[int]]:
    failed = [i + 1 for i, (text, want) in enumerate(rules) if [s.strip() for s in split(text) if s.strip()] != want]
    return len(rules) - len(failed), failed


def per_second(split, texts: list[str], repeats: int) -> float:
    """Sentences per second, the median of `repeats` passes over `texts`."""
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = sum(len(split(t)) for t in texts)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def read_and_cut(texts: list[str], emb, repeats: int) -> tuple[float, float]:
    """Median seconds of rag.ingest.parse over `texts` as 1,000-paragraph documents, this splitter and
    the previous one alternating (ABBA), so the machine's load falls on both alike."""
    docs = ["\n\n".join(texts[i:i + 1000]) for i in range(0, len(texts), 1000)]
    times: dict[str, list[float]] = {"new": [], "old": []}
    for order in (["new", "old", "old", "new"] * repeats)[:4 * max(1, repeats // 2)]:
        T.split_sentences = split_sentences if order == "new" else previous_split
        t0 = time.perf_counter()
        for i, d in enumerate(docs):
            ingest.parse(f"d{i}.txt", d, count=emb.count_tokens, limit=emb.max_tokens, counts=emb.count_tokens_batch,
                         adds_up=emb.counts_add_up)
        times[order].append(time.perf_counter() - t0)
    T.split_sentences = split_sentences
    return statistics.median(times["new"]), statistics.median(times["old"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pysbd", type=Path, help="a checkout of github:nipunsadvilkar/pySBD")
    ap.add_argument("--scifact", type=Path, default=ROOT.parent / "shared" / "bench" / "scifact")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--index", type=Path, default=ROOT / "index", help="an index folder with the ONNX export")
    a = ap.parse_args()
    rules = golden_rules(a.pysbd)
    texts = [T.clean(json.loads(line)["text"]) for line in (a.scifact / "corpus.jsonl").open(encoding="utf-8")]
    print(f"pySBD English golden rules ({len(rules)}); speed on {len(texts):,} SciFact abstracts "
          f"(median of {a.repeats}; pysbd, blingfire and syntok on the first 500)")
    print("| splitter | rules passed | failed | sentences/s |\n|---|---|---|---|")
    for name, split in splitters().items():
        passed, failed = rules_passed(split, rules)
        sample = texts if name.startswith(("rag", "previous")) else texts[:500]
        rate = per_second(split, sample, a.repeats if sample is texts else 1)
        print(f"| {name} | {passed}/{len(rules)} | {', '.join(map(str, failed)) or '—'} | {rate:,.0f} |")
    from rag.config import DEFAULT_MODEL
    from rag.embed.onnx import try_load
    from rag.embed.protocol import onnx_dir_for
    emb = try_load(onnx_dir_for(a.index, DEFAULT_MODEL), DEFAULT_MODEL)
    if emb is None:
        sys.exit(f"no ONNX export under {a.index}/onnx: run `rag index` first")
    new, old = read_and_cut(texts, emb, a.repeats)
    print(f"\nread-and-cut (rag.ingest.parse, real tokenizer) of {len(texts):,} abstracts: "
          f"{new:.2f} s with this splitter, {old:.2f} s with the previous one: {new / old:.3f}x "
          f"({1e3 * new / len(texts):.3f} ms a passage)")


if __name__ == "__main__":
    main()
