"""Adaptive fusion: the floor grid on SciFact *train* (never test), how the keyword weight moves with a
question's information, the seed dev set, and checks on other BEIR-format folders (no tuning there).

    python benchmarks/tune_fusion.py [--floors 0,2,2.5,3,3.5,4,5]     # SciFact train: grid + buckets
    python benchmarks/tune_fusion.py --diagnostics                    # + train claims cut to short queries
    python benchmarks/tune_fusion.py --dev                            # the seed dev set
    python benchmarks/tune_fusion.py --beir DIR --split test          # a check set
    python benchmarks/tune_fusion.py --debian DIR                     # write the Debian check set to DIR

A question's information is ceiling / rare idf (rag.retrieve.keyword_share): its terms' idf summed, in
units of a term that only one passage has. Candidates, cosines and BM25 are computed once per query,
as `rag eval --beir` sees them (200 per retriever); every floor is then scored through
rag.retrieve.adaptive, the function the product runs with RAG_FUSION=adaptive (floor 0 is `bounded`, the default).
"""
from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from rag import beir, evaluate, retrieve  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.ingest import doc_id_for  # noqa: E402
from tune_scifact import SCIFACT, passage_rows  # noqa: E402

BUCKETS = (0, 1, 1.5, 2, 2.5, 3, 4, 6, np.inf)


def fused(c: retrieve.Candidates, floor: float, mode: str = "hybrid", s: Settings = Settings()) -> np.ndarray:
    dense = retrieve.with_sentences(c.dense, c.best_sentence, s.sentence_share)
    if mode == "dense":
        return dense
    if mode == "keyword":
        return np.where(c.lexical > 0, c.lexical, -1.0)        # keyword mode returns only rows sharing a term
    return retrieve.adaptive(dense, c.lexical, s.dense_weight, ceiling=c.ceiling, rare_idf=c.rare_idf, floor=floor)


def ndcg(cands, qids, qrels, doc_of, floor, mode="hybrid", per_query=False):
    run = {}
    for q, c in zip(qids, cands):
        order = c.rows[np.lexsort((c.rows, -fused(c, floor, mode)))]
        run[q] = list(dict.fromkeys(doc_of[order].tolist()))[:100]
    if per_query:
        return {q: beir.metrics({q: run[q]}, {q: qrels[q]})["ndcg@10"] for q in qids}
    return beir.metrics(run, qrels)["ndcg@10"]


def shorten(queries: dict, how: str, df: dict) -> dict:
    """Diagnostics, not tuning data: each claim cut to its named things (capitalised words after the
    first), its first three, rarest three or commonest three content words (from 3 such words on)."""
    out = {}
    for q, text in queries.items():
        words = re.findall(r"[\w-]+", text)
        if how == "names":
            keep = list(dict.fromkeys(w for w in words[1:] if any(ch.isupper() for ch in w) and not w.isdigit()))[:3]
        else:
            content = [w for w in words if w.lower() not in STOP]
            by_df = sorted(content, key=lambda w: df.get(w.lower(), 0))
            keep = [] if len(content) < 3 else {"first3": content[:3], "rare3": by_df[:3], "common3": by_df[-3:]}[how]
        if keep:
            out[q] = " ".join(keep)
    return out


STOP = {"a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no",
        "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this",
        "to", "was", "will", "with"}


def beir_set(folder: Path, split: str, floors: list[float], diagnostics: bool) -> None:
    base = Settings()
    beir.evaluate(base, folder, split=split, mode="keyword", depth=10)   # builds or reuses the cached index
    cache = next((ROOT / ".cache").glob(f"beir-{folder.name}-*"))
    eng = Engine(replace(base, docs_dir=cache / "docs", index_dir=next(cache.glob("index-*"))))
    rows = passage_rows(eng)
    corpus, queries, qrels = beir.load(folder, split)
    back = {doc_id_for(beir.file_name(d)): d for d in corpus}       # scored with the corpus's own ids
    doc_of = np.array([back.get(p.doc_id, p.doc_id) for _, p in rows])
    queries = {q: eng.check_question(text)[0] for q, text in queries.items()}   # as Engine.search sees them
    sets = {f"{folder.name} {split}": queries}
    if diagnostics:
        df: dict[str, int] = {}
        for title, text in corpus.values():
            for w in set(re.findall(r"\w+", f"{title} {text}".lower())):
                df[w] = df.get(w, 0) + 1
        for how in ("names", "first3", "rare3", "common3"):
            sets[f"  diagnostic: {how}"] = shorten(queries, how, df)
    print("set                      queries  dense   keyword | adaptive at floor " + " ".join(f"{f:<6}" for f in floors))
    for name, qs in sets.items():
        qids = [q for q in qrels if q in qs]
        vecs = eng.embedder().encode_queries([qs[q] for q in qids])
        cands = [eng.candidates(qs[q], pool=200, qvec=vecs[i]) for i, q in enumerate(qids)]
        got = {q: qrels[q] for q in qids}
        d, k = (ndcg(cands, qids, got, doc_of, 0, m) for m in ("dense", "keyword"))
        grid = " ".join(f"{ndcg(cands, qids, got, doc_of, f):.4f}" for f in floors)
        print(f"{name:24} {len(qids):5}   {d:.4f}  {k:.4f}  |                   {grid}", flush=True)
        if name == f"{folder.name} {split}":
            buckets(cands, qids, got, doc_of, base, retrieve.KEYWORD_FLOOR)


def buckets(cands, qids, qrels, doc_of, s: Settings, floor: float) -> None:
    """How the keyword weight moves with a question's information, at the default floor."""
    rare_idf = cands[0].rare_idf
    units = np.array([c.ceiling / rare_idf for c in cands])
    old, new = (ndcg(cands, qids, qrels, doc_of, f, per_query=True) for f in (0.0, floor))
    print(f"\ninformation (units) | keyword share | weights dense:keyword | queries | bounded | adaptive"
          f"   (floor {floor})")
    for lo, hi in zip(BUCKETS[:-1], BUCKETS[1:]):
        sel = [q for q, u in zip(qids, units) if lo <= u < hi]
        if sel:
            share = [retrieve.keyword_share(u * rare_idf, rare_idf, floor) for u in units if lo <= u < hi]
            kw = (1 - s.dense_weight) * np.mean(share)
            print(f"{lo:>4}-{hi:<4}             {np.mean(share):.2f}           {s.dense_weight:.2f}:{kw:.2f}"
                  f"          {len(sel) / len(qids):6.1%}   {np.mean([old[q] for q in sel]):.4f}  "
                  f"{np.mean([new[q] for q in sel]):.4f}")
    print()


def dev(floors: list[float]) -> None:
    """Retrieval figures on the seed dev set per floor, through the same candidates as `rag eval`."""
    eng = Engine(Settings.from_env())
    passages = [p for _, p in passage_rows(eng)]
    by_id = {p.id: row for row, p in enumerate(passages)}
    qa = [q for q in evaluate.load_qa() if q["answerable"]]
    allowed = {row for row, p in enumerate(passages) if not p.boilerplate}
    cands = [eng.candidates(item["question"], pool=100) for item in qa]
    gold = [{by_id[g] for g in evaluate.gold_ids(item, passages)} for item in qa]
    units = [c.ceiling / c.rare_idf for c in cands]
    print(f"seed dev: {len(qa)} answerable questions; information {min(units):.2f}-{max(units):.2f} units")
    for f in floors:
        ranks = []
        for c, g in zip(cands, gold):
            order = [r for r in c.rows[np.lexsort((c.rows, -fused(c, f)))].tolist() if r in allowed]
            ranks.append(next((i + 1 for i, r in enumerate(order) if r in g), None))
        at = [np.mean([evaluate.recall_at(r, n) for r in ranks]) for n in (1, 3, 5)]
        print(f"floor {f:<4} R@1 {at[0]:.3f}  R@3 {at[1]:.3f}  R@5 {at[2]:.3f}"
              f"  MRR@10 {np.mean([evaluate.reciprocal_rank(r) for r in ranks]):.3f}")


def debian(out: Path, docs: int = 4000, queries: int = 300) -> None:
    """A BEIR folder from Debian's package descriptions (apt-get update -o Acquire::Languages=en): a
    query is a package's one-line synopsis, its document the long description titled with the name."""
    raw = subprocess.run("lz4cat /var/lib/apt/lists/*_bookworm_main_i18n_Translation-en.lz4", shell=True,
                         capture_output=True, text=True, check=True).stdout
    skip = re.compile(r"(-dev|-doc|-dbg|-data|-common|-examples|-tests?)$"           # near-copies of others
                      r"|^(lib|golang-|ruby-|node-|r-cran|texlive|fonts-|python3?-|php-)")
    described = {}                               # a name listed twice keeps its last description
    for block in raw.split("\n\n"):
        m = re.search(r"^Package: (\S+)\n(?:.*\n)*?Description-en: (.*)\n((?: .*\n?)*)", block + "\n", re.M)
        if m:
            body = "\n".join("" if line == " ." else line[1:] for line in m[3].rstrip("\n").split("\n"))
            described[m[1]] = (m[2].strip(), body.strip())
    items, seen = [], set()
    for name, (synopsis, body) in sorted(described.items()):
        if skip.search(name) or re.search(r"transitional|dummy", synopsis, re.I) or len(body.split()) < 30:
            continue
        if body not in seen and synopsis.lower() not in seen:
            seen |= {body, synopsis.lower()}
            items.append((name, synopsis, body))
    random.seed(16)
    chosen = random.sample(items, docs)
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    asked = random.sample(chosen, queries)
    lines = lambda rows: "".join(json.dumps(r) + "\n" for r in rows)  # noqa: E731
    (out / "corpus.jsonl").write_text(lines({"_id": n, "title": n, "text": b} for n, _, b in chosen))
    (out / "queries.jsonl").write_text(lines({"_id": "q-" + n, "text": s} for n, s, _ in asked))
    (out / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q-{n}\t{n}\t1\n" for n, *_ in asked))
    print(f"{out}: {docs} documents, {queries} queries (of {len(items)} eligible packages)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--beir", type=Path, default=SCIFACT)
    ap.add_argument("--split", default="train")
    ap.add_argument("--floors", default="0,2,2.5,3,3.5,4,5")
    ap.add_argument("--diagnostics", action="store_true", help="also SciFact claims cut to short queries")
    ap.add_argument("--dev", action="store_true", help="the seed dev set instead")
    ap.add_argument("--debian", type=Path, help="write the Debian check set to this folder and stop")
    args = ap.parse_args()
    floors = [float(x) for x in args.floors.split(",")]
    if args.debian:
        return debian(args.debian)
    if args.dev:
        return dev(floors)
    if args.beir.resolve() == SCIFACT.resolve() and args.split == "test":
        print("note: SciFact test is for the final figure only (rag eval --beir), never for choosing the floor")
    beir_set(args.beir, args.split, floors, args.diagnostics)


if __name__ == "__main__":
    main()
