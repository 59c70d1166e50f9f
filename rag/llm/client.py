"""The LLM client: one chat completion from any OpenAI-compatible server (llama.cpp, Ollama, vLLM,
LM Studio, OpenAI), streamed or whole, over the standard library. A connect timeout and one deadline
for the whole answer bound every call; each failure is one LLMUnavailable with a one-line reason.
The API key goes in the Authorization header only: never logged, never in a message."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Iterator
from urllib.parse import urlsplit

from ..schema import RagError

log = logging.getLogger("rag")
MAX_BYTES = 2_000_000       # a brief cited answer is a few kB: more than this is not one
CONNECT_SECONDS = 5.0


class LLMUnavailable(RagError):
    """No answer from the LLM server. `kind`: unreachable | timeout | http | garbage."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Endpoint:
    url: str                         # a base URL (…/v1, or none: /v1 is added) or the full …/chat/completions
    model: str = ""
    timeout: float = 30.0            # seconds for the whole answer, connection included
    connect_timeout: float = CONNECT_SECONDS
    api_key: str = field(default="", repr=False)

    @classmethod
    def from_settings(cls, settings) -> "Endpoint":
        return cls(settings.llm_url, settings.llm_model, settings.llm_timeout,
                   min(CONNECT_SECONDS, settings.llm_timeout), settings.llm_api_key)

    @property
    def shown(self) -> str:
        """The server as it may be shown or logged: scheme, host and port (no credentials, no path)."""
        u = urlsplit(self.url)
        return f"{u.scheme}://{u.hostname}" + (f":{u.port}" if u.port else "")

    @property
    def path(self) -> str:
        path = urlsplit(self.url).path.rstrip("/")
        if path.endswith("/chat/completions"):
            return path
        return path + ("/chat/completions" if path.endswith("/v1") else "/v1/chat/completions")


def stream_chat(ep: Endpoint, messages: list[dict], max_tokens: int = 200) -> Iterator[str]:
    """The answer's text in pieces as the server sends them (Server-Sent Events: `data:` lines up to
    `data: [DONE]`). Nothing is sent before the first piece is asked for. Raises LLMUnavailable."""
    return _answer(ep, messages, max_tokens, stream=True)


def chat(ep: Endpoint, messages: list[dict], max_tokens: int = 200) -> str:
    """The whole answer in one response (no streaming). Raises LLMUnavailable."""
    return "".join(_answer(ep, messages, max_tokens, stream=False))


def _answer(ep: Endpoint, messages: list[dict], max_tokens: int, *, stream: bool) -> Iterator[str]:
    t0 = time.monotonic()
    deadline = t0 + ep.timeout
    body = {"model": ep.model or "default", "messages": messages, "max_tokens": max_tokens,
            "temperature": 0.0, "stream": stream}
    conn, sock, resp = _post(ep, json.dumps(body).encode("utf-8"), deadline, stream=stream)
    try:
        chunks = _chunks(ep, sock, resp, deadline=deadline)
        if resp.status >= 400:
            raise _http_error(ep, resp.status, b"".join(chunks)[:4000])
        if "text/event-stream" in (resp.getheader("Content-Type") or ""):
            pieces = (_text(ep, d, "delta") for d in _events(chunks))
        else:    # a server that ignores "stream" answers in one JSON document
            pieces = iter([_text(ep, b"".join(chunks), "message")])
        got = 0
        for piece in pieces:
            if piece is None:                # data: [DONE]
                break
            got += len(piece)
            if piece:
                yield piece
        if not got:
            raise _fail(ep, "garbage", "sent an empty answer")
        log.debug("LLM answer from %s: %d characters in %.2f s", ep.shown, got, time.monotonic() - t0)
    finally:
        conn.close()


def _post(ep: Endpoint, body: bytes, deadline: float, *, stream: bool):
    """Connect and send; (connection, socket, response) once the status line and headers are in. The
    socket is kept apart: the connection lets go of it when the server says it will close."""
    import http.client
    import socket
    u = urlsplit(ep.url)
    kind = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    conn = kind(u.hostname, u.port, timeout=min(ep.connect_timeout, ep.timeout))
    headers = {"Content-Type": "application/json", "User-Agent": "rag",
               "Accept": "text/event-stream" if stream else "application/json"}
    if ep.api_key:
        headers["Authorization"] = f"Bearer {ep.api_key}"
    try:
        conn.connect()
    except OSError as exc:           # refused, no route, unknown host, or no answer within connect_timeout
        conn.close()
        why = "no answer to connect" if isinstance(exc, socket.timeout) else _why(exc)
        raise _fail(ep, "unreachable", f"cannot be reached ({why}); start it or set RAG_LLM_URL") from None
    sock = conn.sock
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        conn.request("POST", ep.path, body, headers)
        return conn, sock, conn.getresponse()
    except socket.timeout:
        conn.close()
        raise _timeout(ep) from None
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise _fail(ep, "unreachable", f"dropped the connection ({_why(exc)})") from None


def _chunks(ep: Endpoint, sock, resp, *, deadline: float) -> Iterator[bytes]:
    """The body as it arrives: no read waits past the deadline, and at most MAX_BYTES are taken."""
    import http.client
    import socket
    total = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _timeout(ep)
        sock.settimeout(left)
        try:
            chunk = resp.read1(65536)
        except socket.timeout:
            raise _timeout(ep) from None
        except (OSError, http.client.HTTPException) as exc:
            raise _fail(ep, "unreachable", f"dropped the connection ({_why(exc)})") from None
        total += len(chunk)
        if not chunk:
            return
        if total > MAX_BYTES:
            raise _fail(ep, "garbage", f"sent more than {MAX_BYTES:,} bytes")
        yield chunk


def _events(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The payload of each SSE `data:` line; comments, `event:` lines and blank lines are skipped."""
    rest = b""
    for chunk in chunks:
        *lines, rest = (rest + chunk).split(b"\n")
        yield from (line[5:].strip() for line in lines if line.startswith(b"data:"))
    if rest.startswith(b"data:"):
        yield rest[5:].strip()


def _text(ep: Endpoint, data: bytes, key: str) -> str | None:
    """The text of a streamed chunk (key "delta") or a whole response (key "message"); None at [DONE]."""
    if data == b"[DONE]":
        return None
    try:
        obj = json.loads(data)
    except ValueError:
        raise _fail(ep, "garbage", "sent something that is not JSON (is RAG_LLM_URL an OpenAI-compatible "
                                   "endpoint?)") from None
    if isinstance(obj, dict) and isinstance(err := obj.get("error"), (dict, str)):
        message = err.get("message", "") if isinstance(err, dict) else err
        raise _fail(ep, "http", "reported an error: " + _clip(ep, message))
    choices = obj.get("choices") if isinstance(obj, dict) else None
    if not isinstance(choices, list) or (key == "message" and not choices):
        raise _fail(ep, "garbage", "sent no choices (is RAG_LLM_URL an OpenAI-compatible chat endpoint?)")
    part = choices[0].get(key) if choices and isinstance(choices[0], dict) else None   # [] ends a usage-only chunk
    text = part.get("content") if isinstance(part, dict) else None
    if text is not None and not isinstance(text, str):
        raise _fail(ep, "garbage", "sent an answer that is not text")
    return text or ""


def _http_error(ep: Endpoint, status: int, body: bytes) -> LLMUnavailable:
    hint = {401: " (check RAG_LLM_API_KEY)", 403: " (check RAG_LLM_API_KEY)",
            404: " (check RAG_LLM_URL and RAG_LLM_MODEL)"}.get(status, "")
    detail = ""
    if status not in (401, 403):          # an authentication error may echo part of the key: never repeated
        try:
            err = json.loads(body).get("error")
            detail = err.get("message", "") if isinstance(err, dict) else str(err or "")
        except (ValueError, AttributeError):
            pass
    return _fail(ep, "http", f"answered HTTP {status}" + (f": {_clip(ep, detail)}" if detail else "") + hint)


def _fail(ep: Endpoint, kind: str, what: str) -> LLMUnavailable:
    return LLMUnavailable(kind, f"the LLM server at {ep.shown} {what}")


def _timeout(ep: Endpoint) -> LLMUnavailable:
    return _fail(ep, "timeout", f"did not answer within {ep.timeout:g} s (RAG_LLM_TIMEOUT)")


def _clip(ep: Endpoint, text: str) -> str:
    """A server's message made safe to show: one line, short, the key masked if it was echoed."""
    text = " ".join(str(text).split())
    return (text.replace(ep.api_key, "***") if ep.api_key else text)[:160]


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__
