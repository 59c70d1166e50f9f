#!/usr/bin/env python3
"""Sanity checker for dev_qa.jsonl (standard library only).

Seeds are read from /work/main/seeds if that directory exists (or the
equivalent ../../seeds relative to this file), otherwise from
../../../shared/seeds relative to this file.

Usage: python3 check_dev_qa.py [path/to/dev_qa.jsonl]
"""
import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
QA_PATH = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "dev_qa.jsonl"

SEED_CANDIDATES = [
    Path("/work/main/seeds"),
    HERE.parent.parent / "seeds",
    HERE.parent.parent.parent / "shared" / "seeds",
]

PARA_SPLIT = re.compile(r"\n[ \t]*\n")

# Paragraphs that must never be used as gold (header lines, boilerplate).
FORBIDDEN_PREFIXES = (
    "Publication:",
    "The Monitor is a publication of the Jamestown Foundation",
    "Japan-Russia Relations: **Moving Ahead",
    "Janet Snyder",
)


def find_seed_dir():
    for cand in SEED_CANDIDATES:
        if cand.is_dir() and any(cand.glob("*.txt")):
            return cand
    raise SystemExit("no seed directory found among: " + ", ".join(map(str, SEED_CANDIDATES)))


def load_docs(seed_dir):
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(seed_dir.glob("*.txt"))}


def paragraphs(text):
    return [p for p in PARA_SPLIT.split(text) if p.strip()]


def main():
    seed_dir = find_seed_dir()
    docs = load_docs(seed_dir)
    paras = {name: paragraphs(text) for name, text in docs.items()}

    items = []
    with QA_PATH.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise AssertionError(f"line {lineno}: invalid JSON: {e}")

    errors = []

    def err(msg):
        errors.append(msg)

    ids = [it.get("id") for it in items]
    dup = [k for k, v in Counter(ids).items() if v > 1]
    if dup:
        err(f"duplicate ids: {dup}")

    kinds = Counter()
    per_doc = Counter()
    gold_paras = set()
    for it in items:
        qid = it.get("id")
        if not isinstance(it.get("question"), str) or not it["question"].strip():
            err(f"{qid}: missing question")
        ans = it.get("answerable")
        kind = it.get("kind")
        kinds[kind] += 1
        if ans is True:
            if kind not in ("lexical", "paraphrase"):
                err(f"{qid}: bad kind {kind!r} for answerable")
            expected = {"id", "question", "answerable", "kind", "gold", "fact"}
            if set(it) != expected:
                err(f"{qid}: keys {sorted(it)} != {sorted(expected)}")
            gold = it.get("gold") or []
            if not gold:
                err(f"{qid}: empty gold")
                continue
            first_para = None
            for gi, g in enumerate(gold):
                doc, quote = g.get("doc"), g.get("quote")
                if doc not in docs:
                    err(f"{qid}: unknown doc {doc!r}")
                    continue
                if not isinstance(quote, str) or not 20 <= len(quote) <= 120:
                    err(f"{qid}: quote length {len(quote or '')} not in 20..120")
                if "\\" in quote:
                    err(f"{qid}: quote contains a backslash")
                if quote not in docs[doc]:
                    err(f"{qid}: quote not a substring of {doc}: {quote!r}")
                    continue
                hits = [i for i, p in enumerate(paras[doc]) if quote in p]
                if not hits:
                    err(f"{qid}: quote crosses a paragraph boundary in {doc}: {quote!r}")
                    continue
                if len(hits) > 1:
                    err(f"{qid}: quote matches several paragraphs in {doc}: {quote!r}")
                pidx = hits[0]
                para = paras[doc][pidx]
                if para.lstrip().startswith(FORBIDDEN_PREFIXES):
                    err(f"{qid}: gold is a header/boilerplate paragraph in {doc}")
                gold_paras.add((doc, pidx))
                if gi == 0:
                    first_para = para
                    per_doc[doc] += 1
            fact = it.get("fact")
            if not isinstance(fact, str) or not 3 <= len(fact) <= 60:
                err(f"{qid}: fact length not in 3..60: {fact!r}")
            elif first_para is not None:
                cleaned = first_para.replace("\\$", "$")
                if fact not in cleaned:
                    err(f"{qid}: fact {fact!r} not in first gold paragraph")
            # duplicate gold paragraphs within one item
            keys = [(g.get("doc"), g.get("quote")) for g in gold]
            if len(set(keys)) != len(keys):
                err(f"{qid}: duplicate gold entries")
        elif ans is False:
            if kind not in ("offtopic", "ontopic"):
                err(f"{qid}: bad kind {kind!r} for unanswerable")
            expected = {"id", "question", "answerable", "kind"}
            if set(it) != expected:
                err(f"{qid}: keys {sorted(it)} != {sorted(expected)}")
        else:
            err(f"{qid}: answerable must be true/false")

    n_ans = sum(1 for it in items if it.get("answerable") is True)
    n_unans = sum(1 for it in items if it.get("answerable") is False)
    if n_ans < 44:
        err(f"only {n_ans} answerable (< 44)")
    if kinds["paraphrase"] < 18:
        err(f"only {kinds['paraphrase']} paraphrase (< 18)")
    if n_unans < 12:
        err(f"only {n_unans} unanswerable (< 12)")
    if kinds["ontopic"] < 7:
        err(f"only {kinds['ontopic']} ontopic (< 7)")
    missing_docs = [d for d in docs if per_doc[d] == 0 and not any(d == g for g, _ in gold_paras)]
    if missing_docs:
        err(f"documents without any gold: {missing_docs}")

    print(f"seeds: {seed_dir}")
    print(f"items: {len(items)}  answerable: {n_ans}  unanswerable: {n_unans}")
    print("kinds:", dict(sorted(kinds.items())))
    print("answerable by first-gold doc:", dict(sorted(per_doc.items())))
    print(f"distinct gold paragraphs: {len(gold_paras)}")
    if errors:
        for e in errors:
            print("ERROR:", e)
        raise AssertionError(f"{len(errors)} problem(s) in {QA_PATH}")
    print("OK")


if __name__ == "__main__":
    main()
