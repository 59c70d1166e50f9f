"""`rag serve`'s application: the Engine's public methods as HTTP endpoints under /v1 (FastAPI).

Each endpoint makes one Engine call on the one shared Engine and answers with the record's to_json()
(rag.serve.contract, the CLI's --json). Engine calls run in a thread pool, so reads go on while a
rebuild runs. The only module that imports fastapi or starlette."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from ..config import MODES, READERS, Settings
from ..engine import Engine
from ..schema import DocFilter, RagError, Upload
from . import contract as C
from .auth import bearer, may_change, may_read
from .runtime import (
    MAX_UPLOAD_FILES,
    ApiError,
    BodyLimit,
    Startup,
    body_limit,
    invalid_message,
    status_of,
)

THREADS = 32    # Engine calls at once; a rebuild holds one thread for its whole run
UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {"type": "object", "properties": {
    "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[str] = Field([], description="ids, file names or original names")
    authors: list[str] = Field([], description="part of an author's name, any case")
    since: str = Field("", description="on or after: 1999, 1999-03 or 1999-03-04")
    until: str = Field("", description="on or before")


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str
    k: int | None = Field(None, ge=1, description="passages to return (server default: RAG_K)")
    mode: Literal[MODES] | None = None
    filter: Filter | None = None


class AskRequest(SearchRequest):
    reader: Literal[READERS] | None = Field(None, description='"llm" needs an LLM server (RAG_LLM_URL)')


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(C.dumps(body), status, headers, media_type="application/json")


def _where(r: SearchRequest) -> dict:
    f = r.filter or Filter()
    return {"k": r.k, "mode": r.mode, "where": DocFilter(tuple(f.documents), tuple(f.authors), f.since, f.until)}


def create_app(source: Engine | Settings | None = None, startup: Startup | None = None) -> FastAPI:
    """The API over one shared Engine (given, or made from Settings). Its index is opened, or built when
    missing, in a thread at start-up (or by `startup`, already running); meanwhile requests get 503."""
    engine = source if isinstance(source, Engine) else Engine(source or Settings.from_env())
    startup, s = startup or Startup(engine), engine.settings
    pool = ThreadPoolExecutor(THREADS, thread_name_prefix="rag-http")

    @asynccontextmanager
    async def lifespan(_app):
        startup.start()
        yield
        pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="rag", version="1", lifespan=lifespan, description="Cited answers from a document "
                  "collection. Responses are the records' to_json(), as printed by the CLI's --json.")
    app.state.engine, app.state.startup = engine, startup

    async def run(fn, *args, **kwargs) -> Response:
        """fn(...) in the pool (a plain executor hop: about 0.1 ms less than FastAPI's threadpool)."""
        return await asyncio.get_running_loop().run_in_executor(pool, partial(fn, *args, **kwargs))

    def allow(request: Request, changing: bool = False) -> None:
        given = bearer(request.headers.get("authorization"))
        ok, status, reason = may_read(s.api_token, given, s.host)
        if ok and changing:
            ok, status, reason = may_change(s.api_token, given)
        if not ok:
            raise ApiError(status, reason, headers={"WWW-Authenticate": "Bearer"})
        startup.check()

    @app.post("/v1/ask", responses=C.responses("Answer", 400, 401, 403, 413), response_class=Response)
    async def ask(body: AskRequest, request: Request):
        """A cited answer (or "The documents don't answer this." with the nearest passages): `rag ask --json`."""
        allow(request)
        return await run(lambda: _json(engine.ask(body.question, **_where(body), reader=body.reader).to_json()))

    @app.post("/v1/search", responses=C.responses("Search", 400, 401, 403, 413), response_class=Response)
    async def search(body: SearchRequest, request: Request):
        """Ranked passages for a question: `rag search --json`."""
        allow(request)
        return await run(lambda: _json(C.search_json(body.question, engine.search(body.question, **_where(body)))))

    @app.get("/v1/cite", responses=C.responses("Lookup", 400, 401, 403, 404), response_class=Response)
    async def cite(request: Request, ref: str = Query(..., description="a citation, passage id, file or author")):
        """A passage by citation ('Monitor 5/107, ¶3'), passage id, file or author, with its neighbours; 404
        with the closest matches in `suggestions` when nothing matches: `rag cite --json`."""
        allow(request)
        found = await run(engine.cite, ref)
        if not found.found:
            msg = f"{found.message or f'no passage matches {ref!r}'}; the closest matches are in suggestions"
            return _json({"error": msg, **found.to_json()}, 404)
        return _json(found.to_json())

    @app.get("/v1/documents", responses=C.responses("Documents", 401, 403), response_class=Response)
    async def documents(request: Request):
        """The indexed documents with their metadata and passage counts: `rag list --json`."""
        allow(request)
        return await run(lambda: _json(C.documents_json(engine.documents())))

    @app.post("/v1/documents", responses=C.responses("Change", 400, 401, 403, 413), response_class=Response,
              openapi_extra={"requestBody": UPLOAD_BODY})
    async def upload(request: Request):
        """Add files (multipart field `files`, several at once; bearer token). Stored under server-chosen
        names and indexed; each file's outcome is in `files` (refused ones with the reason)."""
        allow(request, changing=True)
        result = await run(partial(engine.add, uploads=await _uploads(request, s.max_file_bytes)))
        if not any(f.status != "refused" for f in result.files):
            return _json({"error": "; ".join(f.detail for f in result.refused), **result.to_json()}, 400)
        return _json(result.to_json())

    @app.delete("/v1/documents/{name:path}", responses=C.responses("Change", 400, 401, 403), response_class=Response)
    async def remove(name: str, request: Request):
        """Remove a document by id, file name or original name, and update the index (bearer token)."""
        allow(request, changing=True)
        return await run(lambda: _json(engine.remove([name]).to_json()))

    @app.post("/v1/rebuild", responses=C.responses("BuildReport", 401, 403), response_class=Response)
    async def rebuild(request: Request):
        """Re-read and re-embed every document (bearer token). Questions are answered meanwhile."""
        allow(request, changing=True)
        return await run(lambda: _json(engine.rebuild().to_json()))

    @app.get("/v1/status", responses=C.responses("Status", 401, 403), response_class=Response)
    async def status(request: Request):
        """The loaded index: generation, counts, model, query encoder."""
        allow(request)
        return await run(lambda: _json(engine.status().to_json()))

    @app.get("/v1/health", responses=C.responses("Health"), response_class=Response)
    async def health():
        """200 once the index is loaded; 503 while it is built, or when it cannot be (the message says why)."""
        def check() -> Response:
            state, message = startup.state()
            generation = engine.status().generation if state == "ready" else ""
            return _json(C.health_json(state, message, generation), 200 if state == "ready" else 503)
        return await run(check)

    _errors(app, startup)
    app.openapi = lambda: app.openapi_schema or _openapi(app)
    app.add_middleware(BodyLimit, limit_for=lambda scope: body_limit(scope, s.max_request_bytes, s.max_file_bytes))
    return app


async def _uploads(request: Request, limit: int) -> list[Upload]:
    """The files of a multipart upload (spooled to disk past 1 MB); one over the size limit refuses the
    request (413) before it is read into memory."""
    form = await request.form(max_files=MAX_UPLOAD_FILES)
    files = [f for _, f in form.multi_items() if isinstance(f, UploadFile)]
    if not files:
        raise ApiError(400, "send one or more files as multipart/form-data (e.g. curl -F files=@report.pdf)")
    for f in files:
        if (f.size or 0) > limit:
            raise ApiError(413, f"{f.filename}: {f.size:,} bytes is over the {limit:,}-byte limit per file "
                                "(RAG_MAX_FILE_BYTES); split the file or raise the limit")
    return [Upload(f.filename or "upload", await f.read()) for f in files]


def _errors(app: FastAPI, startup: Startup) -> None:
    """Every error is {"error": "..."} with its status; never a traceback."""
    async def handle(_request, exc: Exception) -> Response:
        status, message = status_of(exc, startup)
        extra, headers = (exc.extra, exc.headers) if isinstance(exc, ApiError) else ({}, {})
        return _json({"error": message, **extra}, status, headers)

    async def http_error(_request, exc: HTTPException) -> Response:
        message = {404: "no such endpoint; see /docs"}.get(exc.status_code, str(exc.detail))
        return _json({"error": message}, exc.status_code, getattr(exc, "headers", None))

    async def invalid(_request, exc: RequestValidationError) -> Response:
        return _json({"error": invalid_message(list(exc.errors()))}, 400)

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    for kind in (ApiError, RagError, ValueError, Exception):   # Exception: logged, then a bare 500
        app.add_exception_handler(kind, handle)


def _openapi(app: FastAPI) -> dict:
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    app.openapi_schema = C.finish_openapi(doc)
    return app.openapi_schema
