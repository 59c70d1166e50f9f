"""`python -m rag serve` in a subprocess on a free 127.0.0.1 port, for the HTTP API's tests, load
test and benchmark. `served_copy` serves a private copy of the seeds and of an index already built."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from servers import free_port, stop, wait_answering

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Server:
    url: str                  # http://127.0.0.1:<port>
    process: subprocess.Popen
    log: Path


@contextmanager
def serve(docs: Path, index: Path, log: Path, env: dict | None = None, ready: tuple[int, ...] = (200,),
          seconds: float = 90) -> Iterator[Server]:
    """Yield a Server once /v1/health answers one of `ready` (200: the index is loaded); stop it on exit.
    `env` adds RAG_* settings (RAG_API_TOKEN, RAG_MAX_FILE_BYTES…) to this process's environment."""
    port = free_port()
    env = {**os.environ, "RAG_API_TOKEN": "", **(env or {})}
    cmd = [sys.executable, "-m", "rag", "serve", "--docs", str(docs), "--index", str(index), "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_answering(url + "/v1/health", proc, seconds, ready, str(log))
        yield Server(url, proc, log)
    finally:
        stop(proc)


def copy_collection(index: Path, where: Path) -> tuple[Path, Path]:
    """(docs, index): a copy of the seeds and of `index` (its generations and ONNX export) in `where`."""
    docs, copy = where / "docs", where / "index"
    shutil.copytree(ROOT / "seeds", docs)
    shutil.copytree(index, copy, ignore=shutil.ignore_patterns(".lock", ".tmp-*"))
    return docs, copy
