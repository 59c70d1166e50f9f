"""Warm and cold latency against their floors, measured in the same run.

    python benchmarks/latency.py [--index DIR] [--repeats 5] [--cold 7]

Warm floor: encode the question with ONNX Runtime + one FAISS search. Cold floor: a fresh process
that imports onnxruntime, tokenizers, faiss and numpy, creates an ONNX Runtime session from the
export's model.onnx, encodes one question and searches (no rag code, no checks).
Prints medians (p50) and p95 with the ratio to the floor.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import evaluate  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.embed.protocol import onnx_dir_for  # noqa: E402
from rag.engine import Engine  # noqa: E402

COLD_FLOOR = """
import sys, time
t0 = time.perf_counter()
import numpy as np, faiss, onnxruntime as ort, tokenizers
opts = ort.SessionOptions()
opts.intra_op_num_threads = 2
session = ort.InferenceSession({onnx!r} + "/model.onnx", opts, providers=["CPUExecutionProvider"])
tok = tokenizers.Tokenizer.from_file({onnx!r} + "/tokenizer.json")
index = faiss.deserialize_index(np.frombuffer(open({faiss!r}, 'rb').read(), dtype=np.uint8))
e = tok.encode("Who fled Japan?")
feed = {{"input_ids": np.array([e.ids]), "attention_mask": np.array([e.attention_mask]),
        "token_type_ids": np.array([e.type_ids])}}
q = session.run(None, {{i.name: feed[i.name] for i in session.get_inputs()}})[0]
print(index.search(np.ascontiguousarray(q, dtype=np.float32), 5)[1][0][0], time.perf_counter() - t0)
"""


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def warm(engine: Engine, questions: list[str], repeats: int) -> None:
    """Each question runs the floor and every (command, mode) back to back, so all of them see the
    same machine state; medians and ratios are taken over all questions x repeats."""
    emb, status = engine.embedder(), engine.status()
    print(f"encoder: {emb.backend}; {status.passages} passages; {len(questions)} questions x {repeats}")
    runs = {"floor (encode + faiss)": lambda q: engine.floor(q, 5)}
    for mode in ("hybrid", "dense", "keyword"):
        runs[f"search {mode}"] = lambda q, m=mode: engine.search(q, mode=m)
        runs[f"ask {mode}"] = lambda q, m=mode: engine.ask(q, mode=m)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for q in questions:
            for name, fn in runs.items():
                t = time.perf_counter()
                fn(q)
                times[name].append((time.perf_counter() - t) * 1000)
    f50 = statistics.median(times["floor (encode + faiss)"])
    for name, xs in times.items():
        print(f"{name:28} p50 {statistics.median(xs):6.2f} ms  p95 {pct(xs, 95):6.2f} ms"
              f"  ({statistics.median(xs) / f50:.2f}x floor)")


# Runs a command and prints its wall seconds and peak RSS. A small wrapper process is needed: a child
# forked from this (large) benchmark process reports the parent's RSS as its own peak.
WRAP = """
import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def run_cold(cmd: list[str], n: int) -> tuple[float, float]:
    """Median wall seconds and median peak RSS (MB) of a command run n times, each in a fresh process."""
    walls, peaks = [], []
    for _ in range(n):
        out = subprocess.run([sys.executable, "-c", WRAP, *cmd], capture_output=True, text=True, cwd=ROOT, check=True)
        wall, peak = map(float, out.stdout.split())
        walls.append(wall)
        peaks.append(peak)
    return statistics.median(walls), statistics.median(peaks)


def floor_command(settings: Settings, generation: str) -> list[str]:
    """The cold floor as a command: a fresh Python running COLD_FLOOR on this index's export and the
    vectors of its live generation (the baseline program reads them itself: no rag code)."""
    gen = generation
    return [sys.executable, "-c", COLD_FLOOR.format(onnx=str(onnx_dir_for(settings.index_dir, settings.model)),
                                                    faiss=str(settings.index_dir / gen / "vectors.faiss"))]


def ask_command(settings: Settings) -> list[str]:
    return [sys.executable, "-m", "rag", "--docs", str(settings.docs_dir), "--index", str(settings.index_dir),
            "ask", "Who fled Japan?"]


def cold(settings: Settings, generation: str, n: int) -> None:
    fw, fr = run_cold(floor_command(settings, generation), n)
    aw, ar = run_cold(ask_command(settings), n)
    hw, _ = run_cold([sys.executable, "-m", "rag", "--help"], n)
    print(f"cold floor process      {fw:6.2f} s  peak RSS {fr:6.0f} MB")
    print(f"cold `rag ask`          {aw:6.2f} s  peak RSS {ar:6.0f} MB  ({aw / fw:.2f}x time, {ar / fr:.2f}x RSS)")
    print(f"`rag --help`            {hw:6.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, default=ROOT / "index")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cold", type=int, default=7)
    args = ap.parse_args()
    settings = Settings(index_dir=args.index, docs_dir=ROOT / "seeds")
    engine = Engine.open(settings)
    questions = [q["question"] for q in evaluate.load_qa()]
    warm(engine, questions, args.repeats)
    cold(settings, engine.status().generation, args.cold)


if __name__ == "__main__":
    main()
