"""BEIR-format evaluation through the product's own path: corpus -> documents folder -> Engine.build
-> Engine.search -> per-document scores (max over a document's passages) -> IR metrics.

The documents folder and index live in a cache folder, so a second run re-embeds nothing (the
build reuses every unchanged document's vectors, keyed by model and file sha256).
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from dataclasses import replace
from pathlib import Path

from .evaluate import ndcg
from .schema import BadInput


def load(folder: Path, split: str = "test") -> tuple[dict, dict, dict]:
    """(corpus {id: (title, text)}, queries {id: text}, qrels {qid: {docid: grade}}) of a BEIR folder."""
    folder = Path(folder)
    try:
        corpus = {}
        with open(folder / "corpus.jsonl", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    d = json.loads(line)
                    corpus[str(d["_id"])] = (d.get("title") or "", d.get("text") or "")
        queries = {}
        with open(folder / "queries.jsonl", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    q = json.loads(line)
                    queries[str(q["_id"])] = q["text"]
        qrels: dict[str, dict[str, int]] = {}
        with open(folder / "qrels" / f"{split}.tsv", encoding="utf-8") as f:
            for row in csv.reader(f, delimiter="\t"):
                if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                    continue            # the header line, when there is one
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    except (OSError, ValueError, KeyError) as exc:
        raise BadInput(f"{folder} is not a BEIR folder (corpus.jsonl, queries.jsonl, qrels/{split}.tsv): {exc}") from None
    return corpus, queries, qrels


_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


def file_name(doc_id: str) -> str:
    """A safe file name for a corpus id: `<id>.txt` for a plain id (SciFact's numbers), otherwise a
    hash of it, so that "<kb:F/A-18_Hornet>", "..", ":" or a 300-character id never names a path
    outside the folder and never loses its identity."""
    if _PLAIN_ID.fullmatch(doc_id) and not doc_id.lower().startswith("x-"):
        return f"{doc_id}.txt"
    return f"x-{hashlib.sha256(doc_id.encode('utf-8', 'surrogatepass')).hexdigest()[:24]}.txt"


def materialize(corpus: dict, docs_dir: Path) -> dict[str, str]:
    """Write each corpus entry as a `.txt` file (see file_name) with a `Title:` header, as a user's file
    would be, and return {document id in the index: corpus id}. Unchanged files are left alone, so
    their sha256 (and cached vectors) stay valid."""
    from .ingest import doc_id_for
    docs_dir.mkdir(parents=True, exist_ok=True)
    wanted, back = set(), {}
    for doc_id, (title, text) in corpus.items():
        name = file_name(doc_id)
        wanted.add(name)
        back[doc_id_for(name)] = doc_id
        body = (f"Title: {' '.join(title.split())}\n\n" if title.strip() else "") + text.strip() + "\n"
        path = docs_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != body:
            path.write_text(body, encoding="utf-8")
    for stale in docs_dir.glob("*.txt"):
        if stale.name not in wanted:
            stale.unlink()
    return back


def metrics(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """nDCG@10, Recall@10, Recall@100 and MRR@10 averaged over the judged queries (BEIR definitions:
    recall counts documents with grade > 0; a query with no results scores 0)."""
    out = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    judged = [q for q in qrels if any(g > 0 for g in qrels[q].values())]
    for q in judged:
        ranked, rel = run.get(q, []), {d: g for d, g in qrels[q].items() if g > 0}
        out["ndcg@10"] += ndcg(ranked, {d: float(g) for d, g in rel.items()}, 10)
        out["recall@10"] += len(set(ranked[:10]) & set(rel)) / len(rel)
        out["recall@100"] += len(set(ranked[:100]) & set(rel)) / len(rel)
        out["mrr@10"] += next((1.0 / (i + 1) for i, d in enumerate(ranked[:10]) if d in rel), 0.0)
    return {k: round(v / len(judged), 4) if judged else 0.0 for k, v in out.items()}


def evaluate(settings, folder: Path, *, split: str = "test", mode: str | None = None, cache: Path | None = None,
             progress=None, depth: int = 100, embedder=None) -> dict:
    """Index a BEIR corpus with `settings` (docs and index go under `cache`), run its queries, score them."""
    from .engine import Engine
    corpus, queries, qrels = load(folder, split)
    key = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:12]
    cache = Path(cache or Path(".cache") / f"beir-{Path(folder).name}-{key}")
    settings = replace(settings, docs_dir=cache / "docs", index_dir=cache / f"index-{_slug(settings.model)}",
                       max_file_bytes=max(settings.max_file_bytes, 50_000_000))
    original = materialize(corpus, settings.docs_dir)
    engine = Engine(settings, embedder)
    t0 = time.perf_counter()
    report = engine.build(progress=progress)
    build_s = time.perf_counter() - t0
    run, t1 = {}, time.perf_counter()
    for qid in qrels:
        hits = engine.search(queries[qid], k=depth * 2, mode=mode)
        docs: list[str] = []
        for h in hits:                       # max over a document's passages = its first hit
            doc = original.get(h.passage.doc_id, h.passage.doc_id)     # scored with the corpus's own id
            if doc not in docs:
                docs.append(doc)
        run[qid] = docs[:depth]
    query_s = time.perf_counter() - t1
    return {**metrics(run, qrels), "mode": mode or settings.mode, "split": split, "queries": len(qrels),
            "documents": len(corpus), "passages": report.passages, "embedded": report.embedded,
            "build_seconds": round(build_s, 1), "queries_per_second": round(len(qrels) / query_s, 1),
            "model": settings.model, "fusion": settings.fusion, "dense_weight": settings.dense_weight,
            "sentence_share": settings.sentence_share}


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)[-60:]
