"""The servers' shared rules: who may change documents. Pure; no web framework here.

Reading is open to whoever can reach the server (it listens on 127.0.0.1 unless told otherwise).
Changing documents needs the bearer token in RAG_API_TOKEN; with no token set, changes are off."""
from __future__ import annotations

import hmac

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def bearer(header: str | None) -> str:
    """The token in an `Authorization: Bearer <token>` header ("" when there is none)."""
    scheme, _, token = (header or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def may_change(expected: str, given: str) -> tuple[bool, int, str]:
    """(allowed, HTTP status when not, the reason). Compared in constant time."""
    if not expected:
        return False, 403, ("changing documents is disabled: set RAG_API_TOKEN on the server "
                            "and send it as 'Authorization: Bearer <token>'")
    if not given:
        return False, 401, "this changes documents: send 'Authorization: Bearer <token>' (RAG_API_TOKEN)"
    if not hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8")):
        return False, 403, "wrong token; use the server's RAG_API_TOKEN"
    return True, 200, ""


def is_local(host: str) -> bool:
    return host in LOCAL_HOSTS


def may_read(expected: str, given: str, host: str) -> tuple[bool, int, str]:
    """(allowed, HTTP status when not, the reason) for any request to a server bound to `host`. On
    this machine reading is open; bound to another host, every request needs the token."""
    if is_local(host):
        return True, 200, ""
    if not expected:
        return False, 403, (f"this server listens on {host}, beyond this machine: set RAG_API_TOKEN "
                            "on the server and send it as 'Authorization: Bearer <token>'")
    if not given:
        return False, 401, "this server needs a token: send 'Authorization: Bearer <token>' (RAG_API_TOKEN)"
    if not hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8")):
        return False, 403, "wrong token; use the server's RAG_API_TOKEN"
    return True, 200, ""
