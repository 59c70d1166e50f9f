"""Peak memory of the app with the seed index loaded, next to a cold `rag ask` and its floor.

    python benchmarks/memory.py [--index DIR] [--questions 5]

Starts `streamlit run app.py` over the index, opens it in headless Chromium, asks a few questions
(so the model, index and a session are all live), then reads the server's VmHWM (peak resident set)
and VmRSS from /proc. The cold figures are the peak RSS of one fresh `rag ask` and of the floor
process in benchmarks/latency.py (median of --cold runs).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from latency import ask_command, floor_command, run_cold  # noqa: E402
from streamlit_server import serve  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.engine import Engine  # noqa: E402

QUESTIONS = ["Who fled Japan?", "How large was the Japanese loan to Russia?",
             "What did Sergeev say about missile defense?", "Which Russian warship visited Yokosuka?",
             "What is the dispute over the Kuril Islands about?"]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def proc_mb(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def app_memory(settings: Settings, n: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright
    env = {**os.environ, "RAG_DOCS": str(settings.docs_dir), "RAG_INDEX": str(settings.index_dir)}
    with serve(env, Path("/tmp/rag-memory-streamlit.log")) as (url, proc):
        idle = proc_mb(proc.pid)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page()
            page.goto(url)
            box = page.locator("[data-testid=stChatInput] textarea")
            box.wait_for(timeout=120_000)
            for i, q in enumerate(QUESTIONS[:n], start=1):
                box.fill(q)
                box.press("Enter")
                page.wait_for_function(f"() => !!document.getElementById('src-{i}-1')", timeout=60_000)
            browser.close()
        return {"idle_rss": idle["VmRSS"], **proc_mb(proc.pid)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, default=ROOT / "index")
    ap.add_argument("--questions", type=int, default=5)
    ap.add_argument("--cold", type=int, default=5)
    args = ap.parse_args()
    settings = Settings(index_dir=args.index.resolve(), docs_dir=ROOT / "seeds")
    Engine.open(settings)                                    # build the index first when missing
    _, floor_mb = run_cold(floor_command(settings), args.cold)
    _, ask_mb = run_cold(ask_command(settings), args.cold)
    app = app_memory(settings, args.questions)
    print(f"cold floor process (onnxruntime + tokenizers + faiss + numpy)  peak RSS {floor_mb:6.0f} MB")
    print(f"cold `rag ask`                                                 peak RSS {ask_mb:6.0f} MB "
          f"({ask_mb / floor_mb:.2f}x floor)")
    print(f"app server, started, before any page                          RSS      {app['idle_rss']:6.0f} MB")
    print(f"app server after {args.questions} questions in one browser session            "
          f"peak RSS {app['VmHWM']:6.0f} MB (now {app['VmRSS']:.0f} MB; {app['VmHWM'] / floor_mb:.2f}x floor)")


if __name__ == "__main__":
    main()
