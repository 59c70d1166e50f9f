"""What `rag index --ray` says about a cluster's address and its failures: the address checked before
ray.init (which would retry for minutes), Ray's errors as RagErrors that name the fix, and which
connection failures are worth another try. No ray import: rag.embed.ray_encode is the only module
that imports ray."""
from __future__ import annotations

import socket
import sys

from ..schema import BadInput, RagError

CONNECT_SECONDS = 5


def check_address(address: str) -> None:
    """Raise BadInput for an address that is not HOST:PORT (or ray://HOST:PORT, or auto), and RagError
    naming the fix when nothing accepts connections there (ray.init itself would retry for minutes)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise BadInput(f"--ray wants the head node's HOST:PORT (e.g. 10.0.0.5:6379, the port of "
                       f"`ray start --head --port=6379`), ray://HOST:PORT or auto; got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        raise RagError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
                       f"`ray start --head --port={port}` on that machine (add `--node-ip-address=127.0.0.1` "
                       f"to keep a one-machine cluster off the network), or check the address and firewall") from None


def explain(exc: BaseException, address: str, ray_version: str) -> RagError:
    """A failure of Ray as a RagError that names the fix."""
    text = str(exc)
    if "Version mismatch" in text:
        return RagError(f"the Ray cluster at {address} runs another Ray or Python version than this process "
                        f"(ray {ray_version}, Python {sys.version.split()[0]}): start the cluster from this "
                        f"project's environment (pip install -r requirements.txt) or match its versions here. "
                        f"Ray said: {text.splitlines()[0][:300]}")
    if "No module named 'rag'" in text or "No module named rag" in text:
        return RagError(f"the Ray workers at {address} cannot import rag: install this project on every node "
                        "(pip install -r requirements.txt && pip install .) and restart them")
    last = text.strip().splitlines()[-1][:400] if text.strip() else type(exc).__name__
    return RagError(f"encoding on the Ray cluster at {address} failed ({type(exc).__name__}: {last}); the "
                    "published index is unchanged. Check `ray status` on the head, or build without --ray")


def transient(exc: Exception) -> bool:
    """Through ray:// the head starts a server per client; on a busy head that start can fail ("Starting Ray
    client server failed", or the new server exits before it is up: "Initialization failure from server",
    seen in CI under load). Worth another try; a wrong address or a refused connection is not."""
    return isinstance(exc, ConnectionAbortedError) or any(
        m in str(exc) for m in ("client server failed", "Initialization failure from server"))
