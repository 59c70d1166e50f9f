"""Qdrant Edge (qdrant-edge-py, in-process, beta) and qdrant-client's local mode against the local store,
on the same 100k passages: build time, dense and hybrid latency, recall@10 of dense search against exact
search, RSS after loading, and the checks that decide whether edge could back `--store qdrant-edge:PATH`
(BM25 scores equal to the local engine's, payload filters against exact filtered search, durability,
a second process opening the same shard, files changed by a read-only session).

    python benchmarks/scale_data.py --max 100000      # once: vectors and word frequencies (see there)
    python benchmarks/qdrant_edge.py [--n 100000] [--queries 300] [--repeats 3] [--local-mode 10000 100000]
    python benchmarks/qdrant_edge.py --child serve-edge --edge-threads 1   # one step alone

Steps, each in its own process: build-local, build-edge, serve-local, serve-edge, check-edge (BM25
scores, filters, files touched by a reader), update-edge (one document replaced in place, on a copy),
durability (small shards killed before flush, with and without the write-ahead log; a second process
opening a held shard), then local-mode for each size (on disk up to 20k points, in memory above).
Figures and the verdict on `--store qdrant-edge:PATH`: docs/BENCHMARKS.md, "Qdrant: local mode and edge".

Data: benchmarks/scale_data.py's vectors (real SciFact MiniLM vectors, then samples of a model fitted to
them) and texts (real passages, then ~80-word SciFact-distributed ones), in documents of 1,000 passages;
queries are the real SciFact queries (ONNX-encoded) and their texts. Each store is built in one process
and served by a fresh one. The local store is built as the product builds it at this size (rag.index:
HNSW from 50k rows; rag.lexical: bm25s below 1M). Qdrant gets a dense vector (dot product: the vectors
are normalised) and a sparse BM25 vector per passage with the IDF modifier: the product's tokens, with
bm25s's term weight tf / (tf + k1 (1 - b + b dl / avgdl)) and the product's k1 and b, so that Qdrant's
idf (ln(1 + (N - df + 0.5) / (df + 0.5)), the bm25s "lucene" idf) makes the same score. Payload: document,
author, date, label and text, with keyword / datetime payload indexes on the filtered fields.
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import scale_data as D
from scale import exact_top, peak_mb, rss_mb, runs

# This file is named like the package it measures: take benchmarks/ off the path, or `import qdrant_edge`
# would import this script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]

from rag.config import Settings
from rag.lexical import tokenize

S = Settings()
PER_DOC, AUTHORS, BATCH = 1000, 20, 1000
LOCAL_MODE_PATH_MAX = 20_000   # qdrant-client local mode on disk pickles every point into SQLite (~7 ms a
                               # point here with these payloads): larger sizes are built in memory
EF = 384            # rag.index.EF_SEARCH: the local store's HNSW efSearch, also given to Qdrant
EDGE_M, EDGE_EF_CONSTRUCT = 32, 160   # rag.index's HNSW M and efConstruction


def folder(kind: str, n: int) -> Path:
    return D.CACHE / f"qdrant-bench/{kind}-{n}"


def edge_dir(n: int) -> Path:
    return folder("edge", n)


def vocab_file(n: int) -> Path:
    return D.CACHE / f"qdrant-bench/edge-{n}.vocab.json"


# ---- shared data: vectors, texts, payload, sparse BM25 vectors -------------------------------------

def meta(row: int) -> dict:
    d = row // PER_DOC
    return {"doc": f"doc{d:05d}", "author": f"author{d % AUTHORS:02d}",
            "date": (date(2000, 1, 1) + timedelta(days=d)).isoformat() + "T00:00:00Z",
            "label": f"Doc {d}, ¶{row % PER_DOC + 1}"}


def corpus(n: int) -> tuple[np.ndarray, list[str], list[list[str]]]:
    x = np.ascontiguousarray(np.load(D.CACHE / "vectors.npy", mmap_mode="r")[:n])
    texts = D.documents(n)
    return x, texts, [tokenize(t, S.stopwords) or [""] for t in texts]   # as rag.lexical.Lexical.build


def sparse_docs(tokens: list[list[str]]) -> tuple[dict[str, int], list[tuple[list[int], list[float]]]]:
    """Term ids and each passage's BM25 term weights (without idf: Qdrant's IDF modifier adds it)."""
    vocab: dict[str, int] = {}
    avg = sum(map(len, tokens)) / len(tokens)
    out = []
    for toks in tokens:
        tf = Counter(vocab.setdefault(t, len(vocab)) for t in toks)
        norm = S.bm25_k1 * (1 - S.bm25_b + S.bm25_b * len(toks) / avg)
        out.append((list(tf), [c / (c + norm) for c in tf.values()]))
    return vocab, out


def sparse_query(vocab: dict[str, int], toks: list[str]) -> tuple[list[int], list[float]]:
    """A repeated term counts again, as in bm25s's scoring; unknown terms are dropped."""
    tf = Counter(vocab[t] for t in toks if t in vocab)
    return list(tf), [float(c) for c in tf.values()]


def queries(count: int) -> tuple[np.ndarray, list[list[str]]]:
    real = np.load(D.CACHE / "real.npz")
    return real["queries"][:count], [tokenize(t, S.stopwords) for t in real["query_texts"].tolist()[:count]]


# ---- measuring ---------------------------------------------------------------------------------------

def recall(got: list[list[int]], gt: np.ndarray) -> float:
    return float(np.mean([len(set(g) & set(e.tolist()[:10])) / 10 for g, e in zip(got, gt)]))


def disk_mb(path: Path) -> float:
    """Allocated, not apparent, size: Qdrant preallocates its WAL and mmap files sparsely."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file()) / 2**20


def tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


# ---- the local store (rag.index + rag.lexical, as the product builds them) -----------------------------

def build_local(n: int) -> dict:
    from rag import index as vindex
    from rag.lexical import Lexical
    x, texts, _ = corpus(n)
    out, t = {"store": "local", "passages": n}, time.perf_counter()
    vectors = vindex.build(x)
    out["build_vectors_s"], t = time.perf_counter() - t, time.perf_counter()
    lexical = Lexical.build(texts, S.bm25_k1, S.bm25_b, stopwords=S.stopwords)
    out["build_keyword_s"], t = time.perf_counter() - t, time.perf_counter()
    shutil.rmtree(folder("local", n), ignore_errors=True)
    folder("local", n).mkdir(parents=True)
    (folder("local", n) / "vectors.faiss").write_bytes(vindex.to_bytes(vectors))
    lexical.save(folder("local", n) / "bm25")
    out.update(write_s=time.perf_counter() - t, disk_mb=disk_mb(folder("local", n)), peak_mb=peak_mb(),
               index=type(vectors).__name__, keyword=type(lexical.engine).__name__)
    return out


def local_store(n: int):
    """The vector and keyword indexes of the local generation, as rag.retrieve.rank reads them."""
    from rag import index as vindex
    from rag.lexical import Lexical
    with open(folder("local", n) / "vectors.faiss", "rb") as f:
        vectors = vindex.from_file(f, 384, n)
    return vindex.Ranking(vectors, Lexical.load(folder("local", n) / "bm25", n, S.stopwords))


def serve_local(n: int, count: int, repeats: int) -> dict:
    from rag import index as vindex
    from rag import retrieve as R
    qv, qt = queries(count)
    base, t = rss_mb(), time.perf_counter()
    st = local_store(n)
    out = {"store": "local", "passages": n, "load_s": time.perf_counter() - t, "rss_base_mb": base,
           "rss_load_mb": rss_mb()}
    gt = np.load(D.CACHE / f"gt-{n}.npy")
    out["recall@10"] = recall([vindex.search(st.vectors, q, 10)[1].tolist() for q in qv], gt)
    out["dense"] = runs(lambda q: vindex.search(st.vectors, q, 10), qv, repeats)
    pairs = list(zip(qv, qt))
    out["hybrid"] = runs(lambda p: R.rank(st, p[0], p[1], mode="hybrid", k=10, candidates=S.candidates,
                                          fusion=S.fusion, rrf_k=S.rrf_k, weight=S.dense_weight), pairs, repeats)
    out.update(rss_end_mb=rss_mb(), peak_mb=peak_mb())
    return out


# ---- Qdrant Edge --------------------------------------------------------------------------------------

def edge_config(wal: bool = True, threads: int | None = None):
    """threads: the shard's search pool (None: one per CPU, edge's default)."""
    import qdrant_edge as E
    return E.EdgeConfig(vectors={"dense": E.EdgeVectorParams(size=384, distance=E.Distance.Dot)},
                        sparse_vectors={"bm25": E.EdgeSparseVectorParams(modifier=E.Modifier.Idf)},
                        hnsw_config=E.HnswIndexConfig(m=EDGE_M, ef_construct=EDGE_EF_CONSTRUCT,
                                                      full_scan_threshold=10_000),
                        wal_enabled=wal, max_search_threads=threads)


def build_edge(n: int) -> dict:
    import qdrant_edge as E
    x, texts, tokens = corpus(n)
    vocab, sparse = sparse_docs(tokens)
    shutil.rmtree(edge_dir(n), ignore_errors=True)
    edge_dir(n).parent.mkdir(parents=True, exist_ok=True)
    vocab_file(n).write_text(json.dumps(vocab), encoding="utf-8")   # term ids live beside the shard
    out, t = {"store": "edge", "passages": n}, time.perf_counter()
    shard = E.EdgeShard.create(str(edge_dir(n)), edge_config())
    for field, kind in (("doc", E.PayloadSchemaType.Keyword), ("author", E.PayloadSchemaType.Keyword),
                        ("date", E.PayloadSchemaType.Datetime)):
        shard.update(E.UpdateOperation.create_field_index(field, kind))
    for a in range(0, n, BATCH):
        shard.update(E.UpdateOperation.upsert_points([
            E.Point(i, {"dense": x[i].tolist(), "bm25": E.SparseVector(*sparse[i])}, {**meta(i), "text": texts[i]})
            for i in range(a, min(n, a + BATCH))]))
    out["upsert_s"], t = time.perf_counter() - t, time.perf_counter()
    shard.optimize()                       # builds the HNSW graphs (edge has no background optimizer)
    out["optimize_s"], t = time.perf_counter() - t, time.perf_counter()
    shard.flush()
    info = shard.info()
    shard.close()
    out.update(flush_s=time.perf_counter() - t, segments=info.segments_count, points=info.points_count,
               indexed=info.indexed_vectors_count, disk_mb=disk_mb(edge_dir(n)), peak_mb=peak_mb())
    return out


def edge_requests(vocab, ef: int | None):
    """(dense top-10, hybrid RRF top-10 in one call, the two 100-candidate lists in one batch) builders."""
    import qdrant_edge as E
    params = E.SearchParams(hnsw_ef=ef) if ef else None

    def dense(q, limit=10, flt=None):
        return E.QueryRequest(limit=limit, query=E.Query.Nearest(q.tolist(), using="dense"), params=params, filter=flt)

    def sparse(toks, limit):
        return E.QueryRequest(limit=limit, query=E.Query.Nearest(E.SparseVector(*sparse_query(vocab, toks)), using="bm25"))

    def hybrid(q, toks):
        pre = [E.Prefetch(limit=S.candidates, query=E.Query.Nearest(q.tolist(), using="dense"), params=params),
               E.Prefetch(limit=S.candidates, query=E.Query.Nearest(E.SparseVector(*sparse_query(vocab, toks)),
                                                                  using="bm25"))]
        return E.QueryRequest(limit=10, prefetches=pre, query=E.Fusion.Rrf(k=S.rrf_k))

    def candidates(q, toks):
        return E.QueryBatchRequest([dense(q, S.candidates), sparse(toks, S.candidates)])
    return dense, sparse, hybrid, candidates


def serve_edge(n: int, count: int, repeats: int, threads: int | None) -> dict:
    import qdrant_edge as E
    qv, qt = queries(count)
    base, t = rss_mb(), time.perf_counter()
    shard = E.EdgeShard.load(str(edge_dir(n)), edge_config(threads=threads) if threads else None)
    vocab = json.loads(vocab_file(n).read_text(encoding="utf-8"))
    out = {"store": "edge", "passages": n, "threads": threads, "load_s": time.perf_counter() - t,
           "rss_base_mb": base, "rss_load_mb": rss_mb()}
    gt = np.load(D.CACHE / f"gt-{n}.npy")
    for ef in (None, EF):
        dense, _, hybrid, candidates = edge_requests(vocab, ef)
        key = f"ef{ef or 'default'}"
        out[f"recall@10_{key}"] = recall([[p.id for p in shard.query(dense(q))] for q in qv], gt)
        out[f"dense_{key}"] = runs(lambda q, dense=dense: shard.query(dense(q)), qv, repeats)
    pairs = list(zip(qv, qt))
    out["hybrid_rrf"] = runs(lambda p: shard.query(hybrid(*p)), pairs, repeats)
    out["hybrid_candidates"] = runs(lambda p: shard.query_batch(candidates(*p)), pairs, repeats)
    out.update(rss_end_mb=rss_mb(), peak_mb=peak_mb())
    shard.close()
    return out


# ---- soundness: BM25 scores, filters, files touched by a reader -----------------------------------------

def exact_filtered(x: np.ndarray, q: np.ndarray, rows: np.ndarray) -> list[int]:
    sims = x[rows] @ q
    return rows[np.lexsort((rows, -sims))[:10]].tolist()


def check_edge(n: int, count: int) -> dict:
    """Edge's BM25 against the local engine's, and filtered dense search against exact filtered search."""
    import qdrant_edge as E

    from rag import index as vindex
    before = tree_digest(edge_dir(n))
    x = np.ascontiguousarray(np.load(D.CACHE / "vectors.npy", mmap_mode="r")[:n])
    qv, qt = queries(count)
    vocab = json.loads(vocab_file(n).read_text(encoding="utf-8"))
    local = local_store(n)
    shard = E.EdgeShard.load(str(edge_dir(n)))
    dense, sparse, _, _ = edge_requests(vocab, EF)
    out, diffs, same = {"passages": n, "queries": count}, [], 0
    for toks in qt:
        got = shard.query(sparse(toks, 10))
        rows, scores = local.lexical.top(toks, 10)
        exact = local.lexical.score_rows(toks, np.array([p.id for p in got], dtype=np.int64))
        diffs += [abs(p.score - e) / max(e, 1e-9) for p, e in zip(got, exact)]
        same += [p.id for p in got] == rows.tolist() or np.allclose([p.score for p in got], scores, rtol=1e-4)
    out.update(bm25_max_rel_diff=float(max(diffs)), bm25_same_top10=same / len(qt))
    docs, d = np.arange(n) // PER_DOC, n // PER_DOC // 2      # d: a document in the middle
    day = [meta(d * PER_DOC)["date"], meta((d + 3) * PER_DOC)["date"]]
    filters = {   # name: (edge filter, allowed rows)
        "one document": (E.FieldCondition(key="doc", match=E.MatchValue(value=meta(d * PER_DOC)["doc"])),
                         np.flatnonzero(docs == d)),
        "one author of 20": (E.FieldCondition(key="author", match=E.MatchValue(value="author07")),
                             np.flatnonzero(docs % AUTHORS == 7)),
        "date range (3 documents)": (E.FieldCondition(key="date", range=E.RangeDateTime(gte=day[0], lt=day[1])),
                                     np.flatnonzero((docs >= d) & (docs < d + 3))),
    }
    for name, (cond, allowed) in filters.items():
        flt, ok, r_edge, r_local = E.Filter(must=[cond]), True, [], []
        for q in qv:
            truth = exact_filtered(x, q, allowed)
            ids = [p.id for p in shard.query(dense(q, 10, flt))]
            ok &= set(ids) <= set(allowed.tolist())
            r_edge.append(len(set(ids) & set(truth)) / 10)
            r_local.append(len(set(vindex.search(local.vectors, q, 10, allowed=allowed)[1].tolist()) & set(truth)) / 10)
        out[name] = {"rows": len(allowed), "edge_recall@10": float(np.mean(r_edge)), "edge_all_match": bool(ok),
                     "local_recall@10": float(np.mean(r_local))}
    shard.close()
    out["files_unchanged_by_reader"] = tree_digest(edge_dir(n)) == before
    return out


def update_edge(n: int) -> dict:
    """One document changed in place, on a copy of the shard: its 1,000 passages replaced by new ones
    (new ids, their vectors perturbed), then the graph optimised; the local store rebuilds its indexes."""
    import qdrant_edge as E
    work = folder("edge-update", n)
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(edge_dir(n), work)
    x, texts, tokens = corpus(n)
    _, sparse = sparse_docs(tokens)        # the old term ids and weights: enough for timing
    d, rng = n // PER_DOC // 2, np.random.default_rng(1)
    rows = np.arange(d * PER_DOC, (d + 1) * PER_DOC)
    new = x[rows] + 0.02 * rng.standard_normal((len(rows), x.shape[1]), dtype=np.float32)
    new /= np.linalg.norm(new, axis=1, keepdims=True)
    shard, t = E.EdgeShard.load(str(work)), time.perf_counter()
    shard.update(E.UpdateOperation.delete_points([int(r) for r in rows]))
    shard.update(E.UpdateOperation.upsert_points([
        E.Point(n + i, {"dense": new[i].tolist(), "bm25": E.SparseVector(*sparse[r])}, {**meta(r), "text": texts[r]})
        for i, r in enumerate(rows.tolist())]))
    out = {"passages": n, "changed": len(rows), "delete_upsert_s": time.perf_counter() - t}
    hit = shard.query(E.QueryRequest(limit=1, query=E.Query.Nearest(new[0].tolist(), using="dense")))
    out["new_point_found"] = bool(hit) and hit[0].id == n
    t = time.perf_counter()
    shard.optimize()
    shard.flush()
    out["optimize_flush_s"] = time.perf_counter() - t
    out["points"] = shard.info().points_count
    shard.close()
    shutil.rmtree(work)
    return out


def durability(work: Path) -> dict:
    """Small shards in child processes: killed before flush, with and without the WAL; a second
    process opening a shard that one process holds open."""
    out = {}
    for wal in (1, 0):
        p = work / f"kill-wal{wal}"
        shutil.rmtree(p, ignore_errors=True)
        subprocess.run([sys.executable, __file__, "--child", "dur-write", "--path", str(p), "--wal", str(wal)], check=False)
        read = subprocess.run([sys.executable, __file__, "--child", "dur-read", "--path", str(p)],
                              check=False, capture_output=True, text=True)
        out[f"wal{wal}_points_after_kill9"] = read.stdout.strip() or read.stderr.strip()[-200:]
        p = work / f"open-wal{wal}"
        shutil.rmtree(p, ignore_errors=True)
        held = subprocess.Popen([sys.executable, __file__, "--child", "dur-hold", "--path", str(p), "--wal", str(wal)],
                                stdout=subprocess.PIPE, text=True)
        held.stdout.readline()                      # "ready": the shard is written, flushed and held open
        read = subprocess.run([sys.executable, __file__, "--child", "dur-read", "--path", str(p)],
                              check=False, capture_output=True, text=True)
        held.kill()
        held.wait()
        out[f"wal{wal}_second_process_open"] = read.stdout.strip() or read.stderr.strip().splitlines()[-1][-200:]
    return out


def dur_child(mode: str, path: Path, wal: bool) -> None:
    import qdrant_edge as E
    if mode == "dur-read":
        print(E.EdgeShard.load(str(path)).info().points_count)
        return
    x = np.random.default_rng(0).standard_normal((2000, 384)).astype(np.float32)
    shard = E.EdgeShard.create(str(path), edge_config(wal))
    shard.update(E.UpdateOperation.upsert_points([E.Point(i, {"dense": x[i].tolist()}) for i in range(len(x))]))
    if mode == "dur-write":
        os.kill(os.getpid(), 9)                     # no flush, no close
    shard.flush()
    print("ready", flush=True)
    time.sleep(600)


# ---- qdrant-client local mode (pure Python; the CI twin of a server) -------------------------------------

def local_mode(n: int, count: int) -> dict:
    from qdrant_client import QdrantClient, models
    x, texts, tokens = corpus(n)
    vocab, sparse = sparse_docs(tokens)
    path = folder("qdrant-local-mode", n)
    shutil.rmtree(path, ignore_errors=True)
    on_disk = n <= LOCAL_MODE_PATH_MAX
    out = {"store": "qdrant-client local mode", "passages": n, "location": str(path) if on_disk else ":memory:"}
    base, t = rss_mb(), time.perf_counter()
    c = QdrantClient(path=str(path)) if on_disk else QdrantClient(location=":memory:")
    c.create_collection("p", vectors_config={"dense": models.VectorParams(size=384, distance=models.Distance.DOT)},
                        sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)})
    for a in range(0, n, BATCH):
        c.upsert("p", [models.PointStruct(id=i, vector={"dense": x[i].tolist(), "bm25": models.SparseVector(
            indices=sparse[i][0], values=sparse[i][1])}, payload={**meta(i), "text": texts[i]})
            for i in range(a, min(n, a + BATCH))])
    out["build_s"] = time.perf_counter() - t
    del x, texts, tokens, sparse
    gc.collect()
    if on_disk:     # reopen, as a reader would
        c.close()
        out["disk_mb"] = disk_mb(path)
        base, t = rss_mb(), time.perf_counter()
        c = QdrantClient(path=str(path))
        out["load_s"] = time.perf_counter() - t
    out.update(rss_base_mb=base, rss_load_mb=rss_mb())
    qv, qt = queries(count)
    gt = np.load(D.CACHE / f"gt-{n}.npy")

    def dense(q):
        return c.query_points("p", query=q.tolist(), using="dense", limit=10, with_payload=False).points

    def hybrid(p):
        q, toks = p
        ids, vals = sparse_query(vocab, toks)
        pre = [models.Prefetch(query=q.tolist(), using="dense", limit=S.candidates),
               models.Prefetch(query=models.SparseVector(indices=ids, values=vals), using="bm25", limit=S.candidates)]
        return c.query_points("p", prefetch=pre, query=models.FusionQuery(fusion=models.Fusion.RRF), limit=10,
                              with_payload=False).points
    out["recall@10"] = recall([[p.id for p in dense(q)] for q in qv], gt)
    out["dense"] = runs(dense, qv, 1)
    out["hybrid_rrf"] = runs(hybrid, list(zip(qv, qt)), 1)
    c.close()
    out.update(rss_end_mb=rss_mb(), peak_mb=peak_mb())
    return out


# ---- driver --------------------------------------------------------------------------------------------

def child(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], check=False, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{args} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    return result


def table(r: dict) -> None:
    def ms(v):
        return f"{v['p50']:.2f} / {v['p95']:.2f} ms"
    lb, ls, eb, es = r["build-local"], r["serve-local"], r["build-edge"], r["serve-edge"]
    print("| store | build | on disk | dense p50 / p95 | recall@10 | hybrid p50 / p95 | load | RSS loaded (index) "
          "| RSS after queries |")
    print("|---" * 9 + "|")
    print(f"| local (faiss {lb['index']}, {lb['keyword']}) | {lb['build_vectors_s'] + lb['build_keyword_s'] + lb['write_s']:.0f} s "
          f"(vectors {lb['build_vectors_s']:.0f}, keyword {lb['build_keyword_s']:.0f}) | {lb['disk_mb']:.0f} MB "
          f"| {ms(ls['dense'])} | {ls['recall@10']:.4f} | {ms(ls['hybrid'])} (bounded fusion, exact rescoring) "
          f"| {ls['load_s']:.2f} s | {ls['rss_load_mb']:.0f} MB (+{ls['rss_load_mb'] - ls['rss_base_mb']:.0f}) "
          f"| {ls['rss_end_mb']:.0f} MB |")
    for ef in ("default", str(EF)):
        hyb = (f"{ms(es['hybrid_rrf'])} (RRF in edge); two candidate lists {ms(es['hybrid_candidates'])}"
               if ef != "default" else "—")
        print(f"| qdrant-edge, hnsw_ef {ef} | {eb['upsert_s'] + eb['optimize_s'] + eb['flush_s']:.0f} s (upsert "
              f"{eb['upsert_s']:.0f}, optimize {eb['optimize_s']:.0f}) | {eb['disk_mb']:.0f} MB "
              f"| {ms(es['dense_ef' + ef])} | {es['recall@10_ef' + ef]:.4f} | {hyb} | {es['load_s']:.2f} s "
              f"| {es['rss_load_mb']:.0f} MB (+{es['rss_load_mb'] - es['rss_base_mb']:.0f}) | {es['rss_end_mb']:.0f} MB |")
    for m in r.get("local-mode", []):
        disk, load = (f"{m['disk_mb']:.0f} MB", f"{m['load_s']:.2f} s") if "disk_mb" in m else ("(in memory)", "—")
        print(f"| qdrant-client local mode, {m['passages']:,} | {m['build_s']:.0f} s | {disk} "
              f"| {ms(m['dense'])} | {m['recall@10']:.4f} | {ms(m['hybrid_rrf'])} (RRF) | {load} "
              f"| {m['rss_load_mb']:.0f} MB (+{m['rss_load_mb'] - m['rss_base_mb']:.0f}) | {m['rss_end_mb']:.0f} MB |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--local-mode", type=int, nargs="*", default=[10_000, 100_000], help="sizes for qdrant-client")
    ap.add_argument("--local-mode-queries", type=int, default=50)
    ap.add_argument("--skip-build", action="store_true", help="serve the stores already built")
    ap.add_argument("--child")
    ap.add_argument("--path", type=Path)
    ap.add_argument("--wal", type=int, default=1)
    ap.add_argument("--edge-threads", type=int, help="serve-edge: the shard's search threads (default: edge's)")
    a = ap.parse_args()
    if a.child and a.child.startswith("dur-"):
        return dur_child(a.child, a.path, bool(a.wal))
    if a.child:
        fn = {"build-local": lambda: build_local(a.n), "build-edge": lambda: build_edge(a.n),
              "serve-local": lambda: serve_local(a.n, a.queries, a.repeats),
              "serve-edge": lambda: serve_edge(a.n, a.queries, a.repeats, a.edge_threads),
              "check-edge": lambda: check_edge(a.n, a.queries),
              "update-edge": lambda: update_edge(a.n),
              "durability": lambda: durability(folder("durability", 0)),
              "local-mode": lambda: local_mode(a.n, a.local_mode_queries)}[a.child]
        print(json.dumps(fn()))
        return
    if len(np.load(D.CACHE / "vectors.npy", mmap_mode="r")) < a.n:
        sys.exit(f"no scale data for {a.n} rows; run: python benchmarks/scale_data.py --max {a.n}")
    for n in {a.n, *a.local_mode}:
        if not (D.CACHE / f"gt-{n}.npy").exists():
            np.save(D.CACHE / f"gt-{n}.npy", exact_top(np.load(D.CACHE / "vectors.npy", mmap_mode="r")[:n],
                                                       np.load(D.CACHE / "real.npz")["queries"]))
    folder("durability", 0).mkdir(parents=True, exist_ok=True)
    common, r = ["--n", str(a.n), "--queries", str(a.queries), "--repeats", str(a.repeats)], {}
    for step in ("build-local", "build-edge", "serve-local", "serve-edge", "check-edge", "update-edge", "durability"):
        saved = folder("result", a.n).with_suffix(f".{step}.json")
        if a.skip_build and step.startswith("build") and saved.exists():
            r[step] = json.loads(saved.read_text())
            continue
        r[step] = child(["--child", step, *common])
        saved.write_text(json.dumps(r[step]))
    r["local-mode"] = [child(["--child", "local-mode", "--n", str(n), "--local-mode-queries",
                              str(a.local_mode_queries)]) for n in a.local_mode]
    table(r)


if __name__ == "__main__":
    main()
