"""What `rag serve` adds to an answer, measured side by side in one run.

    python benchmarks/serve_overhead.py [--repeats 5] [--cold 5]

Warm: each dev question is asked of an in-process Engine and of POST /v1/ask on a running `rag serve`
(same index, a private copy), back to back; medians (p50) of each and of the per-question difference,
with two clients: httpx (what the tests use) and the standard library's http.client (less client cost).
Cold: a fresh `rag serve` until its first POST /v1/ask is answered, against a fresh `rag ask` (the
same question and index), each run alternately; medians. Targets (issue 15): warm overhead <= 1.5 ms
p50; cold serve <= 1.5x cold ask.
"""
from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from http_server import copy_collection, serve
from serve_load import pct
from servers import free_port

from rag import evaluate
from rag.config import Settings
from rag.engine import Engine

QUESTION = "Who fled Japan?"


def warm(engine: Engine, url: str, questions: list[str], repeats: int) -> None:
    port = int(url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port)
    client = httpx.Client(base_url=url)

    def stdlib(q: str) -> dict:
        conn.request("POST", "/v1/ask", json.dumps({"question": q}), {"Content-Type": "application/json"})
        return json.loads(conn.getresponse().read())

    runs = {"in-process Engine.ask": lambda q: engine.ask(q).to_json(),
            "POST /v1/ask (httpx)": lambda q: client.post("/v1/ask", json={"question": q}).json(),
            "POST /v1/ask (http.client)": stdlib}
    for q in questions[:3]:       # warm every path once
        for fn in runs.values():
            fn(q)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(repeats):
        for q in questions:
            order = list(runs.items()) if i % 2 == 0 else list(reversed(runs.items()))
            answers = {}
            for name, fn in order:
                t = time.perf_counter()
                answers[name] = fn(q)
                times[name].append((time.perf_counter() - t) * 1000)
            a, b, c = answers.values()
            assert a["passages"] == b["passages"] == c["passages"], q
    base = times["in-process Engine.ask"]
    print(f"warm: {len(questions)} dev questions x {repeats}, one server process, keep-alive connections")
    for name, xs in times.items():
        diff = [x - y for x, y in zip(xs, base)]
        extra = "" if xs is base else f"  overhead p50 {statistics.median(diff):5.2f} ms (per-question difference)"
        print(f"  {name:28} p50 {statistics.median(xs):6.2f} ms  p95 {pct(xs, 95):6.2f} ms{extra}")
    client.close()
    conn.close()


def first_answer_seconds(docs: Path, index: Path) -> float:
    """A fresh `rag serve`: seconds from launch until POST /v1/ask is answered."""
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rag", "serve", "--docs", str(docs), "--index", str(index),
                             "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    body, headers = json.dumps({"question": QUESTION}), {"Content-Type": "application/json"}
    try:
        while True:        # http.client: a new httpx client costs milliseconds (SSL context) per try
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("POST", "/v1/ask", body, headers)
                if conn.getresponse().status == 200:
                    return time.perf_counter() - t0
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("rag serve exited")
            time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait()


def ask_seconds(docs: Path, index: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rag", "--docs", str(docs), "--index", str(index), "ask", QUESTION],
                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def cold(docs: Path, index: Path, n: int) -> None:
    serves, asks = [], []
    for _ in range(n):
        asks.append(ask_seconds(docs, index))
        serves.append(first_answer_seconds(docs, index))
    s, a = statistics.median(serves), statistics.median(asks)
    print(f"cold ({n} runs each, alternating, medians):")
    print(f"  `rag ask`                         {a:5.2f} s  (runs: {', '.join(f'{x:.2f}' for x in asks)})")
    print(f"  `rag serve` to first answer       {s:5.2f} s  (runs: {', '.join(f'{x:.2f}' for x in serves)})"
          f"  = {s / a:.2f}x `rag ask`")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, default=ROOT / "index", help="an index of the seeds (copied)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cold", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        if not (args.index / "CURRENT").exists():
            Engine.open(Settings(docs_dir=ROOT / "seeds", index_dir=args.index))
        docs, index = copy_collection(args.index, where)
        engine = Engine.open(Settings(docs_dir=docs, index_dir=index))
        questions = [q["question"] for q in evaluate.load_qa()]
        with serve(docs, index, where / "server.log") as srv:
            warm(engine, srv.url, questions, args.repeats)
        cold(docs, index, args.cold)


if __name__ == "__main__":
    main()
