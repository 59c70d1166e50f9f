"""Qdrant local mode (the CI twin of a Qdrant server) against the local store, in the same run: publish
time, search and ask latency (p50), SciFact nDCG@10 from both stores and how many rankings agree.

    python benchmarks/qdrant_local.py [--docs 2000] [--queries 300] [--sample 60]

Corpora: the seeds (real model, dev questions) and a SciFact subset: the abstracts judged for the
test claims plus the first others up to --docs. The SciFact index re-uses the vectors of the cached
full-corpus index (`rag eval --beir`'s .cache) when there is one, so nothing is embedded again.
Qdrant runs in memory here: a local-mode folder commits every point to SQLite (about 12 ms a point on
this machine), which only the publish time would show.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import beir  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.engine import Engine  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "bench" / "scifact"
CACHE = ROOT / ".cache" / "beir-scifact-aafe5a52e6a7" / "index-sentence-transformers-all-MiniLM-L6-v2"


def p50_ms(engine: Engine, questions: list[str], call: str, **kw) -> float:
    times = []
    for q in questions:
        t0 = time.perf_counter()
        getattr(engine, call)(q, **kw)
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1)


def pair(settings: Settings, name: str, embedder=None) -> tuple[Engine, Engine, float]:
    local = Engine.open(settings, embedder=embedder)
    q = Engine(settings.with_(store=f"qdrant+local::memory:/{name}"), embedder=local.embedder())
    t0 = time.perf_counter()
    q.build()                       # nothing to embed: publishes the local generation
    return local, q, time.perf_counter() - t0


def latency(local: Engine, q: Engine, questions: list[str]) -> dict:
    out = {}
    for kind, e in (("local", local), ("qdrant", q)):
        e.search(questions[0])      # warm: model, caches
        for mode in ("hybrid", "dense", "keyword"):
            out[f"{kind} search {mode} p50 ms"] = p50_ms(e, questions, "search", mode=mode)
        out[f"{kind} ask p50 ms"] = p50_ms(e, questions, "ask")
    return out


def seeds(where: Path) -> dict:
    dev = [json.loads(x)["question"] for x in (ROOT / "tests/data/dev_qa.jsonl").read_text().splitlines() if x]
    local, q, publish = pair(Settings(docs_dir=ROOT / "seeds", index_dir=where / "seeds-index"), "seeds")
    return {"corpus": "seeds", "passages": q.status().passages, "publish s": round(publish, 2),
            **latency(local, q, dev)}


def scifact(where: Path, docs: int, queries: int, sample: int) -> dict:
    corpus, texts, qrels = beir.load(SCIFACT)
    qids = sorted(qrels)[:queries]
    judged = sorted({d for x in qids for d in qrels[x]})
    chosen = judged + [d for d in corpus if d not in set(judged)][:max(0, docs - len(judged))]
    back = beir.materialize({d: corpus[d] for d in chosen}, where / "sci-docs")
    if CACHE.is_dir():                      # the cached full index: every chosen abstract is re-used
        shutil.copytree(CACHE, where / "sci-index")
    local, q, publish = pair(Settings(docs_dir=where / "sci-docs", index_dir=where / "sci-index"), "sci")
    out = {"corpus": "scifact", "documents": len(chosen), "passages": q.status().passages,
           "publish s": round(publish, 1)}
    runs: dict = {"local": {}, "qdrant": {}}
    for kind, e in (("local", local), ("qdrant", q)):
        for x in qids:
            runs[kind][x] = list(dict.fromkeys(back[h.passage.doc_id] for h in e.search(texts[x], k=20)))
        out[f"{kind} ndcg@10"] = beir.metrics(runs[kind], {x: qrels[x] for x in qids})["ndcg@10"]
    out["identical top-10 rankings"] = f"{sum(runs['local'][x][:10] == runs['qdrant'][x][:10] for x in qids)}/{len(qids)}"
    out.update(latency(local, q, [texts[x] for x in qids[:sample]]))
    changed = where / "sci-docs" / beir.file_name(chosen[-1])          # one abstract edited: in place
    changed.write_text(changed.read_text(encoding="utf-8") + "\nAn added closing sentence.\n", encoding="utf-8")
    t0 = time.perf_counter()
    q.build()
    out["one changed document: build + incremental publish s"] = round(time.perf_counter() - t0, 1)
    out["generation after"] = q.status().generation.rsplit("@", 1)[-1]
    sample_q = [texts[x] for x in qids[:sample]]
    out["identical top-10 after the change"] = f"{sum([h.passage.id for h in local.search(t, k=10)] == [h.passage.id for h in q.search(t, k=10)] for t in sample_q)}/{len(sample_q)}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--sample", type=int, default=60, help="questions timed per mode")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for row in (seeds(Path(tmp)), scifact(Path(tmp), a.docs, a.queries, a.sample)):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
