"""Load: 10 concurrent browser sessions against one `streamlit run app.py`, each asking 10 questions,
then a bounded soak in which the same sessions keep asking while the server's RSS is sampled.

Asserts: no failed session, the embedding model loaded exactly once by the server (the engine logs
each load; this test turns the `rag` logger on), and the server's RSS at the end of the soak within
10% of its level when the soak began. Records the p95 time from pressing Enter to the answer.
Sized for CI (about two minutes on two cores); RAG_LOAD_SOAK_S lengthens the soak. Drives Debian's
chromium (/usr/bin/chromium), never `playwright install`.
"""
from __future__ import annotations

import asyncio
import json
import math
import os
import re
import sys
import threading
import time
from pathlib import Path

import pytest
from streamlit_server import serve
from test_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.load

ROOT = Path(__file__).resolve().parent.parent
SESSIONS, QUESTIONS_EACH, SINGLE = 10, 10, 5
SOAK_S = float(os.environ.get("RAG_LOAD_SOAK_S", "60"))
MAX_RSS_GROWTH = 0.10
QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "tests/data/dev_qa.jsonl").read_text().splitlines()
             if line.strip()]
# The server with the `rag` logger at INFO, so every embedder load is a line in its log.
SERVER = ("import logging, sys; logging.basicConfig(stream=sys.stderr, level=logging.WARNING, "
          "format='%(asctime)s %(name)s %(levelname)s %(message)s'); logging.getLogger('rag').setLevel(logging.INFO); "
          "from streamlit.web.cli import main; sys.argv = ['streamlit', 'run'] + sys.argv[1:]; main()")

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip("no /usr/bin/chromium (apt-get install -y chromium); the load test runs in CI",
                allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory, real_index):
    """`streamlit run app.py` over the seeds and the session's index (already built, so the server
    only loads it), with its log captured."""
    where = tmp_path_factory.mktemp("load")
    env = {**os.environ, "RAG_DOCS": str(ROOT / "seeds"), "RAG_INDEX": str(real_index)}
    log_path = where / "server.log"
    with serve(env, log_path, [sys.executable, "-c", SERVER], ("--server.fileWatcherType", "none")) as (url, proc):
        yield url, proc, log_path


class RssSampler(threading.Thread):
    """The server process's resident set size, every `every` seconds, as (time, bytes)."""

    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True)
        import psutil
        self.proc, self.every, self.samples, self.stop = psutil.Process(pid), every, [], threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.monotonic(), self.proc.memory_info().rss))
            self.stop.wait(self.every)

    def median_between(self, t0: float, t1: float) -> float:
        vals = sorted(r for t, r in self.samples if t0 <= t <= t1)
        assert vals, "no RSS samples in the window"
        return vals[len(vals) // 2]


DONE = """([turn]) => !!document.getElementById(`src-${turn}-1`) && !document.querySelector('[data-stale=true]')"""


async def ask(page, question: str, turn: int) -> float:
    """Type a question; seconds from Enter until its answer and source cards are on the page and the
    run has finished (turn ids count every question of the session, also past the history cap)."""
    box = page.locator("[data-testid=stChatInput] textarea")
    await box.fill(question)
    t0 = time.perf_counter()
    await box.press("Enter")
    await page.wait_for_function(DONE, arg=[turn], timeout=90_000, polling=50)
    return time.perf_counter() - t0


async def engine_seconds(page) -> float:
    """The engine's own time for the latest answer, from its caption ('… · 5 passages · 0.03 s')."""
    text = await page.locator("[data-testid=stChatMessage]").last.inner_text()
    return float(re.findall(r" · \d+ passages · ([\d.]+) s", text)[-1])


async def session(browser, url: str, n: int, first: list[str], soak_until: list[float], out: dict) -> None:
    """One user: 10 questions, then more until the soak ends. Records times, or the failure."""
    ctx = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await ctx.new_page()
    try:
        await page.goto(url)
        await page.locator("[data-testid=stChatInput] textarea").wait_for(timeout=120_000)
        turn = 0
        for q in first:
            turn += 1
            out["times"].append(await ask(page, q, turn))
            out["engine"].append(await engine_seconds(page))
            if turn == 1:
                out["answered"] += 1
        while not soak_until or time.monotonic() < soak_until[0]:
            turn += 1
            out["soak_times"].append(await ask(page, QUESTIONS[(n * 7 + turn) % len(QUESTIONS)], turn))
        text = await page.locator("[data-testid=stMainBlockContainer]").inner_text()
        errors = await page.locator("[data-testid=stException], [data-testid=stAlertContentError]").count()
        assert "Traceback" not in text and errors == 0, f"session {n} shows an error"
        out["ok"] += 1
    except Exception as exc:      # noqa: BLE001 - a failed session is counted, then reported
        out["failed"].append(f"session {n}: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        await ctx.close()


async def single_session(browser, url: str) -> list[float]:
    """The baseline: one session alone asks SINGLE questions (this also loads the model)."""
    ctx = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await ctx.new_page()
    await page.goto(url)
    await page.locator("[data-testid=stChatInput] textarea").wait_for(timeout=120_000)
    times = [await ask(page, q, turn) for turn, q in enumerate(QUESTIONS[-SINGLE:], start=1)]
    await ctx.close()
    return times


async def drive(url: str) -> dict:
    """All sessions at once. The soak starts when every session has its first answer (model loaded,
    all sessions open) and lasts at least SOAK_S; sessions past their 10 questions keep asking."""
    from playwright.async_api import async_playwright
    out = {"times": [], "engine": [], "soak_times": [], "answered": 0, "failed": [], "ok": 0}
    soak_until: list[float] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        out["single"] = await single_session(browser, url)
        t0 = time.monotonic()
        firsts = [[QUESTIONS[(n * QUESTIONS_EACH + i) % len(QUESTIONS)] for i in range(QUESTIONS_EACH)]
                  for n in range(SESSIONS)]
        tasks = [asyncio.create_task(session(browser, url, n, firsts[n], soak_until, out)) for n in range(SESSIONS)]
        while out["answered"] + len(out["failed"]) < SESSIONS and not all(t.done() for t in tasks):
            await asyncio.sleep(0.1)
        out["soak_start"] = time.monotonic()
        soak_until.append(out["soak_start"] + SOAK_S)
        await asyncio.gather(*tasks)
        out["soak_end"] = time.monotonic()
        out["wall_s"] = out["soak_end"] - t0
        await browser.close()
    return out


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[max(0, math.ceil(0.95 * len(xs)) - 1)]


def test_ten_browser_sessions_one_model_bounded_memory(server):
    url, proc, log_path = server
    sampler = RssSampler(proc.pid)
    sampler.start()
    try:
        out = asyncio.run(drive(url))
    finally:
        sampler.stop.set()
        sampler.join()
    log = log_path.read_text(errors="replace")
    loads = re.findall(r"loaded the (\w+) embedder", log)
    assert out["failed"] == [], out["failed"]
    assert out["ok"] == SESSIONS and len(out["times"]) == SESSIONS * QUESTIONS_EACH
    assert loads == ["onnx"], f"embedder loads in the server: {loads}"
    assert "Traceback" not in log, log[-3000:]
    window = min(5.0, SOAK_S / 4)
    start = sampler.median_between(out["soak_start"], out["soak_start"] + window)
    end = sampler.median_between(out["soak_end"] - window, out["soak_end"])
    peak = max(r for _, r in sampler.samples)
    growth = end / start - 1
    mb = 1 / 2 ** 20
    cpu = proc_cpu_seconds(proc.pid)
    median = sorted(out["times"])[len(out["times"]) // 2]
    print(f"\nload: {SESSIONS} sessions x {QUESTIONS_EACH} questions (+{len(out['soak_times'])} more in the soak) "
          f"in {out['wall_s']:.0f} s; failed sessions {len(out['failed'])}, model loads {len(loads)}; "
          f"time to answer: 1 session alone p95 {p95(out['single']):.2f} s; 10 sessions p50 {median:.2f} s, "
          f"p95 {p95(out['times']):.2f} s, max {max(out['times']):.2f} s "
          f"(the engine's own time p95 {p95(out['engine']) * 1000:.0f} ms); "
          f"server RSS {start * mb:.0f} MB when all sessions had answers, {end * mb:.0f} MB "
          f"{out['soak_end'] - out['soak_start']:.0f} s later ({growth:+.1%}), peak {peak * mb:.0f} MB "
          f"({len(sampler.samples)} samples); server CPU {cpu:.0f} s")
    assert growth <= MAX_RSS_GROWTH


def proc_cpu_seconds(pid: int) -> float:
    import psutil
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system
