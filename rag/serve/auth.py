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
    return _token(expected, given, unset="changing documents is disabled: set RAG_API_TOKEN on the server "
                  "and send it as 'Authorization: Bearer <token>'",
                  missing="this changes documents: send 'Authorization: Bearer <token>' (RAG_API_TOKEN)")


def is_local(host: str) -> bool:
    return host in LOCAL_HOSTS


def may_read(expected: str, given: str, host: str) -> tuple[bool, int, str]:
    """(allowed, HTTP status when not, the reason) for any request to a server bound to `host`. On
    this machine reading is open; bound to another host, every request needs the token."""
    if is_local(host):
        return True, 200, ""
    return _token(expected, given, unset=f"this server listens on {host}, beyond this machine: set RAG_API_TOKEN "
                  "on the server and send it as 'Authorization: Bearer <token>'",
                  missing="this server needs a token: send 'Authorization: Bearer <token>' (RAG_API_TOKEN)")


def _token(expected: str, given: str, *, unset: str, missing: str) -> tuple[bool, int, str]:
    """The bearer-token rule both checks share: no token on the server refuses (403, `unset`), no token
    sent is 401 (`missing`), a wrong one 403; compared in constant time."""
    if not expected:
        return False, 403, unset
    if not given:
        return False, 401, missing
    if not hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8")):
        return False, 403, "wrong token; use the server's RAG_API_TOKEN"
    return True, 200, ""
