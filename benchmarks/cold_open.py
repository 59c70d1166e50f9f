"""A cold `rag ask` on a large index: a fresh process opens the index, answers one question and
exits. Wall time and peak RSS (the child's ru_maxrss), median of --runs, with the index's files in the
page cache; then, when this process may drop the page cache (root), with a cold cache. For
comparison, `rag verify` in the same run: every byte hashed, as every load did before block sums.

    python benchmarks/scale_product.py --sizes 1m      # once: writes .cache/scale/product-1000000
    python benchmarks/cold_open.py [--index DIR] [--runs 5]
    python benchmarks/cold_open.py --versions TREE…     # the same cold ask from checkouts of other
                                                        # commits (git worktree add), interleaved
    python benchmarks/cold_open.py --first-touch 300    # what a fresh engine's first questions pay:
                                                        # ask p50 of questions 1-50, the last 50, then all again
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Which genes are associated with an increased risk of breast cancer?"


def run(args: list[str], env: dict, cwd: Path = ROOT) -> tuple[float, float, float, str]:
    """(seconds to the first byte of output, seconds to exit, peak RSS MB, stdout) of one
    `python -m rag …` process. The first byte is the answer: `--json` prints it whole at once."""
    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "rag", *args], stdout=subprocess.PIPE, stderr=err,
                             env=env, cwd=cwd)
        first = p.stdout.read(1)
        answered = time.perf_counter() - t
        out = first + p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            err.seek(0)
            sys.exit(f"rag {' '.join(args)} failed: {err.read().decode()[-800:]}")
    return answered, wall, usage.ru_maxrss / 1024, out.decode()


def warm(index: Path) -> None:
    buf = bytearray(8 << 20)
    for f in (f for f in index.rglob("*") if f.is_file()):
        with open(f, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, default=ROOT / ".cache" / "scale" / "product-1000000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--versions", nargs="+", type=Path, metavar="TREE", help="checkouts to compare, interleaved")
    ap.add_argument("--first-touch", type=int, metavar="N", help="N questions to a fresh engine, in this process")
    a = ap.parse_args()
    if not (a.index / "CURRENT").exists():
        sys.exit(f"no index in {a.index}; run: python benchmarks/scale_product.py --sizes 1m")
    onnx = a.index / "onnx"
    if not onnx.exists():   # the question encoder: the seed index's verified export
        shutil.copytree(ROOT / "index" / "onnx", onnx)
    docs = Path(tempfile.mkdtemp(prefix="rag-cold-"))
    env = {**os.environ, "RAG_INDEX": str(a.index), "RAG_DOCS": str(docs), "RAG_BACKEND": "onnx"}
    gen = a.index / (a.index / "CURRENT").read_text().strip()
    size = sum(f.stat().st_size for f in gen.rglob("*") if f.is_file())
    warm(a.index)
    if a.versions:
        return versions(a.versions, env, a.runs)
    if a.first_touch:
        return first_touch(a.index, docs, a.first_touch)
    asks, verifies = [], []
    for _ in range(a.runs):   # interleaved, so both see the same moments of a noisy machine
        answered, wall, rss, out = run(["ask", QUESTION, "--json"], env)
        asks.append((answered, wall, rss))
        assert json.loads(out)["passages"], "the cold ask returned no passages"
        verifies.append(run(["verify"], env)[1])
    med = lambda i, rows: round(statistics.median(r[i] for r in rows), 3)   # noqa: E731
    result = {"passages": json.loads((gen / "manifest.json").read_text())["passages"], "gen_mb": round(size / 2**20),
              "load_avg": os.getloadavg()[0], "ask_answer_s": med(0, asks), "ask_exit_s": med(1, asks),
              "ask_peak_mb": med(2, asks), "verify_s": round(statistics.median(verifies), 3),
              "ask_answer_all_s": [round(r[0], 2) for r in asks]}
    if drop_caches():
        cold = []
        for _ in range(min(3, a.runs)):
            drop_caches()
            cold.append(run(["ask", QUESTION, "--json"], env)[:3])
        result.update(cold_answer_s=med(0, cold), cold_exit_s=med(1, cold), cold_peak_mb=med(2, cold))
    else:
        result["cold_answer_s"] = "not measured: this process cannot drop the page cache"
    shutil.rmtree(docs, ignore_errors=True)
    print(json.dumps(result))


def versions(trees: list[Path], env: dict, runs: int) -> None:
    """The cold ask from each checkout (its own rag/ first on the path), interleaved run by run."""
    times: dict[str, list[float]] = {str(t): [] for t in trees}
    for _ in range(runs):
        for tree in trees:
            times[str(tree)].append(run(["ask", QUESTION, "--json"], {**env, "PYTHONPATH": str(tree)}, tree)[0])
    print(json.dumps({"load_avg": os.getloadavg()[0], **{t: {"answer_s": round(statistics.median(v), 3),
                      "all": [round(x, 2) for x in v]} for t, v in times.items()}}))


def first_touch(index: Path, docs: Path, n: int) -> None:
    """A fresh engine's first n asks (each after its floor) while blocks are verified on first read,
    then the same n again; and the share of each block-checked file verified by then."""
    import numpy as np
    sys.path.insert(0, str(ROOT))
    from rag.config import Settings
    from rag.engine import Engine
    engine = Engine(Settings.from_env().with_(index_dir=index, docs_dir=docs))
    questions = np.load(ROOT / ".cache" / "scale" / "real.npz")["query_texts"].tolist()[:n]
    engine.status()
    first, floor, again = [], [], []
    for q in questions:
        t = time.perf_counter()
        engine.floor(q, 5)
        floor.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        engine.ask(q)
        first.append((time.perf_counter() - t) * 1000)
    for q in questions:
        t = time.perf_counter()
        engine.ask(q)
        again.append((time.perf_counter() - t) * 1000)
    med = statistics.median
    print(json.dumps({"floor_p50_ms": round(med(floor), 2), "ask_p50_ms_first_50": round(med(first[:50]), 2),
                      "ask_p50_ms_last_50": round(med(first[-50:]), 2), "ask_p50_ms_again": round(med(again), 2)}))


if __name__ == "__main__":
    main()
