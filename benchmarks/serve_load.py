"""Load: 8 concurrent clients x 200 asks against one `rag serve` while the index is rebuilt three times.

    python benchmarks/serve_load.py [--clients 8] [--asks 200]

A private copy of the seeds and index is served. While the clients ask the dev questions, a ninth
client (with the token) uploads a document that competes with the seeds (a seed with a marker word in
every paragraph: generation 1), rebuilds everything (POST /v1/rebuild: generation 2), then removes
the upload (generation 3); each change re-indexes and publishes a new generation while questions keep
coming. Checks every answer: HTTP 200; the
generation it names is known; its passages are documents of that generation (the upload's passages
only in generations 1 and 2); a passage id has the same text in every answer (ids are stable, so a passage
read from another generation than its answer's would show); every answer sentence is a quote from
the passage it cites, in the same answer. Prints errors, mixed answers, p50/p95 latency.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from http_server import copy_collection, serve

from rag import evaluate
from rag.config import Settings
from rag.engine import Engine

TOKEN = "load-test-token"


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def competing_copy(docs: Path) -> bytes:
    """A seed document with a marker in every paragraph: new content, but it answers the same questions."""
    text = sorted(docs.glob("*.txt"))[2].read_text(encoding="utf-8")
    return "\n\n".join(p + " (copy)" if p.strip() else p for p in text.split("\n\n")).encode("utf-8")


class Load:
    def __init__(self, url: str, questions: list[str], asks: int):
        self.url, self.questions, self.asks = url, questions, asks
        self.results: list[tuple[float, float, int, dict | None]] = []   # (start, seconds, status, answer)
        self.done = 0
        self.lock = threading.Lock()

    def client(self, n: int) -> None:
        with httpx.Client(base_url=self.url, timeout=120) as c:
            for i in range(self.asks):
                q = self.questions[(n * 37 + i) % len(self.questions)]
                t = time.perf_counter()
                try:
                    r = c.post("/v1/ask", json={"question": q})
                    status, body = r.status_code, (r.json() if r.status_code == 200 else None)
                except httpx.HTTPError:
                    status, body = 0, None
                with self.lock:
                    self.results.append((t, time.perf_counter() - t, status, body))
                    self.done += 1


def changes(url: str, load: Load, copy: bytes, total: int, log: list) -> None:
    """Upload the competing copy, rebuild everything, remove the copy: each once a share of the asks
    is done. Logs (start, end, what, generation, asks done)."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, timeout=300, headers=auth) as c:
        steps = [(0.1, "upload", lambda: c.post("/v1/documents", files={"files": ("copy.txt", copy)})),
                 (0.2, "rebuild", lambda: c.post("/v1/rebuild")),
                 (0.65, "remove", lambda: c.delete(f"/v1/documents/{log[0][2].split()[1]}"))]
        for share, what, call in steps:
            while load.done < share * total:
                time.sleep(0.02)
            t, started = time.perf_counter(), load.done
            r = call()
            r.raise_for_status()
            body = r.json()
            gen = body["index"]["generation"] if "index" in body else body["generation"]
            name = body["files"][0]["file"] if what == "upload" else body["removed"][0] if what == "remove" else ""
            log.append((t, time.perf_counter(), f"{what} {name}".strip(), gen, started))


def check(results, gens: dict[str, set[str]]) -> tuple[int, int, list[str]]:
    """(errors, mixed answers, examples of what was wrong)."""
    errors = sum(1 for _, _, status, _ in results if status != 200)
    texts: dict[str, str] = {}
    mixed, why = 0, []
    for _, _, status, a in results:
        if status != 200:
            continue
        problems = []
        allowed = gens.get(a["generation"])
        if allowed is None:
            problems.append(f"unknown generation {a['generation']}")
        elif not {p["doc"] for p in a["passages"]} <= allowed:
            problems.append(f"passages of documents not in {a['generation']}")
        by_id = {p["id"]: p["text"] for p in a["passages"]}
        for pid, text in by_id.items():
            if texts.setdefault(pid, text) != text:
                problems.append(f"{pid} has two texts")
        for s in a["sentences"]:
            if s["passage"] not in by_id or s["text"] not in by_id[s["passage"]]:
                problems.append(f"sentence not in its passage {s['passage']}")
        if problems:
            mixed += 1
            why.append(f"{a['question'][:40]!r} ({a['generation']}): {problems[0]}")
    return errors, mixed, why[:5]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, default=ROOT / "index", help="an index of the seeds (copied)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--asks", type=int, default=200)
    args = ap.parse_args()
    questions = [q["question"] for q in evaluate.load_qa()]
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        if not (args.index / "CURRENT").exists():
            Engine.open(Settings(docs_dir=ROOT / "seeds", index_dir=args.index))
        docs, index = copy_collection(args.index, where)
        with serve(docs, index, where / "server.log", {"RAG_API_TOKEN": TOKEN}) as srv:
            seeds = {d["doc_id"] for d in httpx.get(srv.url + "/v1/documents").json()}
            gen0 = httpx.get(srv.url + "/v1/status").json()["generation"]
            load, log = Load(srv.url, questions, args.asks), []
            total = args.clients * args.asks
            workers = [threading.Thread(target=load.client, args=(n,)) for n in range(args.clients)]
            t0 = time.perf_counter()
            for w in workers:
                w.start()
            changes(srv.url, load, competing_copy(docs), total, log)
            for w in workers:
                w.join()
            wall = time.perf_counter() - t0
    added_doc = Path(log[0][2].split()[1]).stem
    gens = {gen0: seeds, log[0][3]: seeds | {added_doc}, log[1][3]: seeds | {added_doc}, log[2][3]: seeds}
    errors, mixed, why = check(load.results, gens)
    lat = [s * 1000 for _, s, status, _ in load.results if status == 200]
    during = [s * 1000 for t, s, status, _ in load.results if status == 200
              and any(a <= t + s and t <= b for a, b, *_ in log)]
    seen = {a["generation"] for *_, a in load.results if a}
    upload_hits = sum(1 for *_, a in load.results if a and any(p["doc"] == added_doc for p in a["passages"]))
    print(f"{args.clients} clients x {args.asks} asks = {len(load.results)} in {wall:.1f} s "
          f"({len(load.results) / wall:.0f} asks/s); generations answered from: {len(seen)} ({', '.join(sorted(seen))})")
    for a, b, what, gen, done in log:
        print(f"  {what} -> {gen}: {b - a:.2f} s, started after {done} asks"
              + ("" if done < total else "  (after the load: raise --asks)"))
    print(f"  answers citing the uploaded document: {upload_hits}")
    print(f"errors: {errors}   answers mixing generations: {mixed}")
    print(f"latency p50 {statistics.median(lat):.1f} ms  p95 {pct(lat, 95):.1f} ms  "
          f"(while an index change ran: {len(during)} asks, p50 {statistics.median(during):.1f} ms, "
          f"p95 {pct(during, 95):.1f} ms)")
    for line in why:
        print("  ", line)
    sys.exit(1 if errors or mixed else 0)


if __name__ == "__main__":
    main()
