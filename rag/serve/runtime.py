"""What the HTTP server needs besides its routes: the shared engine's start-up (building the index
when it is missing, loading the model), the HTTP status of each error, and the request size limit.
Pure Python and plain ASGI; the web framework is only in rag.serve.http."""
from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from ..engine import Engine
from ..schema import BadInput, IndexMismatch, IndexNotBuilt, RagError
from .contract import dumps

log = logging.getLogger("rag.serve")
MAX_UPLOAD_FILES = 10     # files in one upload request, each at most max_file_bytes
FORM_SLACK = 64_000       # multipart boundaries and headers around the files


class ApiError(Exception):
    """An error with its HTTP status; `extra` adds fields to the JSON body beside "error"."""

    def __init__(self, status: int, message: str, *, extra: dict | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.extra, self.headers = status, extra or {}, headers or {}


class Startup:
    """Opens the shared engine in a thread, so the server answers (503) while an index is built."""

    def __init__(self, engine: Engine):
        self.engine, self.building, self.error, self.started = engine, False, "", False
        self.done = threading.Event()

    def start(self) -> Startup:
        """Start opening the engine (once; later calls do nothing)."""
        if not self.started:
            self.started = True
            threading.Thread(target=self._run, name="rag-startup", daemon=True).start()
        return self

    def _run(self) -> None:
        try:
            try:
                self.engine.status()
            except IndexNotBuilt:
                self.building = True
                log.warning("no index in %s: building it", self.engine.settings.index_dir)
                self.engine.build()
            self.engine.embedder()     # loaded now, so the first question does not wait for the model
        except Exception as exc:      # reported by every request (503) and /v1/health
            log.exception("the index could not be opened")
            self.error = str(exc) or type(exc).__name__
        finally:
            self.building = False
            self.done.set()

    def state(self) -> tuple[str, str]:
        """("ready" | "building" | "unavailable", what to do)."""
        if self.building or not self.done.is_set():
            return "building", "the index is being built or loaded; retry in a few seconds"
        if self.error and not self._recovered():
            return "unavailable", (f"no usable index: {self.error}; fix this and restart `rag serve` "
                                   "(or POST /v1/rebuild)")
        return "ready", ""

    def _recovered(self) -> bool:
        """True once an index exists after all (e.g. documents were uploaded into an empty folder)."""
        try:
            self.engine.status()
        except (RagError, OSError):
            return False
        self.error = ""
        return True

    def check(self) -> None:
        """Raise 503 while the first index is being built (a request would wait for the whole build)."""
        if self.building:
            raise ApiError(503, self.state()[1], headers={"Retry-After": "5"})


def status_of(exc: Exception, startup: Startup) -> tuple[int, str]:
    """The HTTP status and message for an exception from an Engine call."""
    if isinstance(exc, ApiError):
        return exc.status, str(exc)
    if isinstance(exc, (BadInput, ValueError)):
        return 400, str(exc)
    if isinstance(exc, IndexNotBuilt):
        state, message = startup.state()
        return 503, message if state != "ready" else f"{exc}; or POST /v1/rebuild"
    if isinstance(exc, IndexMismatch):
        return 503, str(exc)
    if isinstance(exc, RagError):
        return 500, str(exc)
    log.error("unexpected error", exc_info=exc)
    return 500, "internal error (the details are in the server's log); retry, or report it with the request"


def invalid_message(errors: list[dict]) -> str:
    """One line naming each bad field (from pydantic's error list), or what the body should have been."""
    if any(e["type"] == "json_invalid" or tuple(e["loc"]) == ("body",) for e in errors):
        return ('the body must be a JSON object sent with "Content-Type: application/json", '
                'e.g. {"question": "Who fled Japan?", "k": 5}')
    parts = [f"{'.'.join(str(x) for x in e['loc'] if x != 'body')}: {e['msg']}" for e in errors]
    return ("bad request: " + "; ".join(parts))[:1000]


def body_limit(scope: dict, max_request_bytes: int, max_file_bytes: int) -> tuple[int, str]:
    """(bytes, the limit's name) for a request's body: an upload's, or a JSON request's."""
    if scope["path"] == "/v1/documents" and scope["method"] == "POST":
        return (MAX_UPLOAD_FILES * max_file_bytes + FORM_SLACK,
                f"{MAX_UPLOAD_FILES} files of RAG_MAX_FILE_BYTES ({max_file_bytes:,} bytes) per upload")
    return max_request_bytes, "RAG_MAX_REQUEST_BYTES for a JSON request"


Scope, Message = dict[str, Any], dict[str, Any]
Receive, Send = Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: a request body over its limit gets 413 naming the limit, before it is read
    when Content-Length tells, else as soon as the bytes received pass it."""

    def __init__(self, app, limit_for: Callable[[Scope], tuple[int, str]]):
        self.app, self.limit_for = app, limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit, name = self.limit_for(scope)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await _too_large(send, int(declared), limit, name=name)
        seen, over, started = 0, False, False

        async def limited() -> Message:
            nonlocal seen, over
            if over:       # the app sees the body end here; its answer is replaced by the 413 below
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            seen += len(message.get("body", b""))
            if message["type"] == "http.request" and seen > limit:
                over = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over and message["type"] == "http.response.start":
                started = True
                return await _too_large(send, seen, limit, name=name)
            if not (over and started):
                await send(message)

        await self.app(scope, limited, guarded)


async def _too_large(send: Send, size: int, limit: int, *, name: str) -> None:
    body = dumps({"error": f"the request body ({size:,}+ bytes) is over the {limit:,}-byte limit of {name}"})
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
