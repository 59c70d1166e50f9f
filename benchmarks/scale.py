"""Scale: vector, keyword and hybrid search at 10k, 100k and 1M passages, each p50/p95 the median of
repeated runs with its ratio to a floor measured in the same run; recall@10 against exact search;
index build time, load time and memory per passage.

    python benchmarks/scale_data.py                 # once: real + synthetic vectors, word frequencies
    python benchmarks/scale.py [--sizes 10k 100k 1m] [--repeats 3]
    python benchmarks/scale.py --sweep              # exact vs HNSW, bm25s vs tantivy (the thresholds)
    python benchmarks/scale.py --quality            # SciFact with each keyword engine / vector index forced

Each size is built in one process (written through rag.store.publish into .cache/scale/index-N) and served
by a fresh process, which loads it as the product does (checksums, faiss parse, keyword engine).
Floors: vector = the raw faiss call on the same index; keyword = the raw engine call (tantivy top-k
without exact rescoring, or bm25s scores + top-k); hybrid = both raw calls with the hybrid pool;
load = reading the same files. Queries are the 1,109 real SciFact queries (held out from the model
that made the vectors); hybrid uses the product's candidates and fusion (rag.config.Settings).
"""
from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import scale_data as D  # noqa: E402

from rag import index as vindex  # noqa: E402
from rag import retrieve as R  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.lexical import Lexical  # noqa: E402
from rag.store import layout, publish  # noqa: E402

S = Settings()
K1, B = S.bm25_k1, S.bm25_b          # the product's BM25 settings
SIZES = {"10k": 10_000, "25k": 25_000, "50k": 50_000, "100k": 100_000, "1m": 1_000_000}


def rss_mb() -> float:
    import psutil
    return psutil.Process().memory_info().rss / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def runs(fn, items, repeats: int) -> dict:
    """p50 and p95 (ms) of fn over items, each the median over `repeats` runs."""
    p50s, p95s = [], []
    for _ in range(repeats):
        times = []
        for it in items:
            t = time.perf_counter()
            fn(it)
            times.append((time.perf_counter() - t) * 1000)
        p50s.append(float(np.percentile(times, 50)))
        p95s.append(float(np.percentile(times, 95)))
    return {"p50": statistics.median(p50s), "p95": statistics.median(p95s)}


def queries():
    real = np.load(D.CACHE / "real.npz")
    return real["queries"], real["query_texts"].tolist()


def exact_top(x: np.ndarray, q: np.ndarray, k: int = 10) -> np.ndarray:
    """Exact top-k rows by inner product, in blocks (ground truth for recall)."""
    best_s, best_i = np.full((len(q), 0), -np.inf, np.float32), np.zeros((len(q), 0), np.int64)
    for s in range(0, len(x), 100_000):
        sims = q @ np.asarray(x[s:s + 100_000]).T
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        cs = np.concatenate([best_s, np.take_along_axis(sims, part, 1)], 1)
        ci = np.concatenate([best_i, part + s], 1)
        o = np.argsort(-cs, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cs, o, 1), np.take_along_axis(ci, o, 1)
    return best_i


def raw_keyword(lexical: Lexical, k: int):
    """The floor of a keyword search: the engine's own top-k call, without our rescoring."""
    eng = lexical.engine
    if type(eng).__name__ == "TantivyEngine":
        import tantivy

        def call(tokens):
            known = [t for t in dict.fromkeys(tokens) if t in eng.terms]
            if known:
                q = tantivy.Query.boolean_query([(tantivy.Occur.Should, tantivy.Query.term_query(
                    eng.schema, "t", t, index_option="freq")) for t in known])
                eng.searcher.search(q, k, count=False)
        return call

    def call_bm25s(tokens):
        ids = eng.bm25.get_tokens_ids(tokens)
        if ids:
            s = eng.bm25.get_scores_from_ids(ids)
            np.argpartition(-s, k)[:k]
    return call_bm25s


def build(n: int, repeats: int, with_bm25s: bool) -> dict:
    """Build and write the size-n index; exact-search and bm25s figures at the same size."""
    x = np.ascontiguousarray(np.load(D.CACHE / "vectors.npy", mmap_mode="r")[:n])
    texts = D.documents(n)
    qv, qt = queries()
    out = {"passages": n}
    t = time.perf_counter()
    vectors = vindex.build(x)
    out["build_vectors_s"] = time.perf_counter() - t
    t = time.perf_counter()
    lexical = Lexical.build(texts, K1, B, stopwords="en")
    out["build_keyword_s"] = time.perf_counter() - t
    folder = D.CACHE / f"index-{n}"
    t = time.perf_counter()
    with publish.Writer(folder) as w:
        w.write("vectors.faiss", vindex.to_bytes(vectors))
        lexical.save(w.tmp / "bm25")
        w.add_folder("bm25")
        w.publish({"passages": n, "dim": int(x.shape[1])})
    out["write_s"] = time.perf_counter() - t
    out["vector_index"] = "hnsw" if vindex.approximate(vectors) else "exact"
    out["keyword_engine"] = type(lexical.engine).__name__
    gt = D.CACHE / f"gt-{n}.npy"
    if not gt.exists():
        np.save(gt, exact_top(x, qv))
    del vectors
    flat = vindex.build(x, ann_min_rows=n + 1)
    out["exact_search"] = runs(lambda q: vindex.search(flat, q, 10), qv[:300], 1)
    del flat
    if with_bm25s and out["keyword_engine"] != "_Bm25s":
        del lexical
        gc.collect()
        t = time.perf_counter()
        lexical = Lexical.build(texts, K1, B, stopwords="en", engine="bm25s")
        out["bm25s_build_s"] = time.perf_counter() - t
        toks = [lexical.tokenize(q) for q in qt[:300]]
        out["bm25s_search"] = runs(lambda tk: lexical.top(tk, 10), toks, 1)
    out["build_peak_mb"] = peak_mb()
    return out


def load(n: int):
    """The product's load path for the size-n index: verified read, faiss parse, keyword engine."""
    gen = layout.current(D.CACHE / f"index-{n}")
    manifest, files = layout.read_verified(gen)
    vectors = vindex.from_bytes(files.pop("vectors.faiss"), int(manifest["dim"]), n)
    del files
    return vectors, Lexical.load(gen / "bm25", n, "en")


def read_files(n: int) -> int:
    gen = layout.current(D.CACHE / f"index-{n}")
    return sum(len(p.read_bytes()) for p in gen.rglob("*") if p.is_file())


def serve(n: int, repeats: int) -> dict:
    """Load the size-n index in this (fresh) process and time every kind of search against its floor."""
    qv, qt = queries()
    base = rss_mb()
    loads, floors = [], []
    for _ in range(3):
        t = time.perf_counter()
        disk = read_files(n)
        floors.append(time.perf_counter() - t)
        gc.collect()
        t = time.perf_counter()
        vectors, lexical = load(n)
        loads.append(time.perf_counter() - t)
        if len(loads) < 3:
            del vectors, lexical
            gc.collect()
    out = {"passages": n, "load_s": statistics.median(loads), "load_floor_s": statistics.median(floors),
           "disk_mb": disk / 2**20}
    toks = [lexical.tokenize(q) for q in qt]
    st = vindex.Ranking(vectors, lexical)
    gt = np.load(D.CACHE / f"gt-{n}.npy")
    got = [vindex.search(vectors, q, 10)[1] for q in qv]
    out["recall@10"] = float(np.mean([len(set(g.tolist()) & set(e.tolist())) / 10 for g, e in zip(got, gt)]))
    out["vector"] = runs(lambda q: vindex.search(vectors, q, 10), qv, repeats)
    out["vector_floor"] = runs(lambda q: vectors.search(q[None], 10), qv, repeats)
    out["keyword"] = runs(lambda tk: R.rank(st, None, tk, mode="keyword", k=10, candidates=S.candidates), toks, repeats)
    out["keyword_floor"] = runs(raw_keyword(lexical, 10), toks, repeats)
    pairs = list(zip(qv, toks))
    out["hybrid"] = runs(lambda p: R.rank(st, p[0], p[1], mode="hybrid", k=10, candidates=S.candidates,
                                          fusion=S.fusion, rrf_k=S.rrf_k, weight=S.dense_weight), pairs, repeats)
    raw = raw_keyword(lexical, S.candidates)
    out["hybrid_floor"] = runs(lambda p: (vectors.search(p[0][None], S.candidates), raw(p[1])), pairs, repeats)
    gc.collect()
    out["rss_mb"], out["rss_base_mb"], out["peak_mb"] = rss_mb(), base, peak_mb()
    out["bytes_per_passage"] = (out["rss_mb"] - base) * 2**20 / n
    return out


def child(mode: str, n: int, repeats: int, extra: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--n", str(n), "--repeats", str(repeats), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{mode} {n} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: list[tuple[dict, dict]]) -> None:
    """The Markdown table of docs/BENCHMARKS.md. Memory per passage is marginal: the loaded RSS
    above the smallest size's, per added passage (the first row has no smaller one)."""
    def ms(r, key):
        v, f = r[key], r[key + "_floor"]
        return f"{v['p50']:.2f} / {v['p95']:.2f} ms ({v['p50'] / f['p50']:.2f}x)"
    names = {"_Bm25s": "bm25s", "TantivyEngine": "tantivy"}
    print("| passages (vectors, keyword) | vector p50 / p95 (x floor) | recall@10 | exact p50 "
          "| keyword p50 / p95 (x floor) | hybrid p50 / p95 (x floor) | build | load (x read) "
          "| RSS loaded (peak) | bytes / passage |")
    print("|---" * 10 + "|")
    first = results[0][1]
    for b, s in results:
        extra = s["passages"] - first["passages"]
        per = f"{(s['rss_mb'] - first['rss_mb']) * 2**20 / extra:.0f}" if extra else "—"
        print(f"| {b['passages']:,} ({b['vector_index']}, {names[b['keyword_engine']]}) | {ms(s, 'vector')} "
              f"| {s['recall@10']:.4f} | {b['exact_search']['p50']:.2f} ms | {ms(s, 'keyword')} | {ms(s, 'hybrid')} "
              f"| {b['build_vectors_s'] + b['build_keyword_s'] + b['write_s']:.0f} s "
              f"(vectors {b['build_vectors_s']:.0f}, keyword {b['build_keyword_s']:.0f}, write {b['write_s']:.0f}) "
              f"| {s['load_s']:.2f} s ({s['load_s'] / s['load_floor_s']:.1f}x) | {s['rss_mb']:.0f} MB "
              f"({s['peak_mb']:.0f}) | {per} |")
    for b, _ in results:
        if "bm25s_search" in b:
            print(f"\nbm25s at {b['passages']:,} (same run): top-10 p50 {b['bm25s_search']['p50']:.2f} ms, "
                  f"p95 {b['bm25s_search']['p95']:.2f} ms; build {b['bm25s_build_s']:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["10k", "100k", "1m"], choices=list(SIZES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bm25s", action="store_true", help="also build bm25s where tantivy is chosen")
    ap.add_argument("--skip-build", action="store_true", help="serve the indexes already written")
    ap.add_argument("--report", type=Path, help="print the table from a saved run's output")
    ap.add_argument("--child", choices=["build", "serve"])
    ap.add_argument("--n", type=int)
    a = ap.parse_args()
    if a.child == "build":
        print(json.dumps(build(a.n, a.repeats, a.bm25s)))
        return
    if a.child == "serve":
        print(json.dumps(serve(a.n, a.repeats)))
        return
    if a.report:
        lines = [json.loads(x) for x in a.report.read_text().splitlines() if x.startswith("{")]
        table([(r["build"], r["serve"]) for r in lines])
        return
    if not (D.CACHE / "vectors.npy").exists():
        sys.exit("no scale data; run: python benchmarks/scale_data.py")
    results = []
    for size in a.sizes:
        n = SIZES[size]
        bfile = D.CACHE / f"build-{n}.json"
        if not a.skip_build or not bfile.exists():
            bfile.write_text(json.dumps(child("build", n, a.repeats, ["--bm25s"] if a.bm25s else [])))
        b = json.loads(bfile.read_text())
        s = child("serve", n, a.repeats, [])
        print(json.dumps({"build": b, "serve": s}), flush=True)
        results.append((b, s))
    table(results)


if __name__ == "__main__":
    main()
