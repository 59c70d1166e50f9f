"""Helpers shared by the tests that start a server in a subprocess: a free port, and waiting until
the server answers."""
from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_answering(url: str, proc: subprocess.Popen, seconds: float = 60, ok: tuple[int, ...] = (200,),
                   log: str = "") -> int:
    """Poll `url` until it answers with a status in `ok`; returns that status. Fails at once if the
    process exits, and after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}" + (f"; see {log}" if log else ""))
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                status = r.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0
        if status in ok:
            return status
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer {ok} within {seconds} s" + (f"; see {log}" if log else ""))


def wait_port(port: int, proc: subprocess.Popen, seconds: float = 60, log: str = "") -> None:
    """Wait until something accepts connections on 127.0.0.1:`port` (a server without a health URL).
    Fails at once if the process exits, and after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}" + (f"; see {log}" if log else ""))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on port {port} after {seconds} s" + (f"; see {log}" if log else ""))
            time.sleep(0.2)


def stop(proc: subprocess.Popen, seconds: float = 15) -> None:
    """Terminate a server process, killing it if it has not ended within `seconds`."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
