"""`streamlit run app.py` in a subprocess on a free port, for the browser and load tests."""
from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from servers import free_port, stop, wait_answering

ROOT = Path(__file__).resolve().parent.parent


def wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    wait_answering(url + "/_stcore/health", proc, seconds)


@contextmanager
def serve(env: dict, log_path: Path, launcher: list[str] | None = None, extra: tuple[str, ...] = ()):
    """Yield (url, process) of a healthy server; stop it on exit. `launcher` replaces
    `python -m streamlit run` (e.g. a `python -c …` that sets up logging first)."""
    port = free_port()
    cmd = (launcher or [sys.executable, "-m", "streamlit", "run"]) + [
        str(ROOT / "app.py"), "--server.port", str(port), "--server.headless", "true",
        "--server.address", "127.0.0.1", *extra]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, proc)
            yield url, proc
        finally:
            stop(proc)
