"""`rag mcp`: the Engine's search, ask, cite and list_documents as MCP tools (and, only when allowed,
add_document and remove_document), over stdio or streamable HTTP, built with the official mcp SDK.

Each tool makes one Engine call. Its structured content is the record's to_json() (the CLI's --json
and the HTTP API's contract); its text is a readable rendering with [n] markers and citations
(rag.serve.mcp_tools). Over HTTP the rules are rag.serve.auth's: changing documents needs the bearer
token, and a server bound beyond this machine needs it for every request."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from ..config import MODES, Settings
from ..engine import Engine
from ..schema import BadInput, RagError
from . import mcp_tools as T
from .auth import bearer, is_local, may_change, may_read

log = logging.getLogger("rag.mcp")

Question = Annotated[str, Field(description="the question, in plain words")]
K = Annotated[int, Field(ge=1, le=50, description="how many passages to retrieve (1-50)")]
Mode = Annotated[Literal[MODES], Field(description="hybrid (default: meaning and keywords), dense (meaning) "
                                                   "or keyword (BM25)")]
Documents = Annotated[tuple[str, ...], Field(description="only these documents: ids or file names from list_documents")]
Authors = Annotated[tuple[str, ...], Field(description="only documents by these authors (part of a name, any case)")]
Since = Annotated[str, Field(description="only documents dated on or after this date: 1999, 1999-03 or 1999-03-04")]
Until = Annotated[str, Field(description="only documents dated on or before this date")]
READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)


def _result(data: dict, text: str, error: bool = False) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data, is_error=error)


def _run(call: Callable[[], Any]) -> Any:
    """One Engine call; domain errors and bad values become tool errors whose message names the fix
    (anything else is logged on stderr and reaches the client as a bare tool error, no traceback)."""
    try:
        return call()
    except (RagError, ValueError) as exc:
        raise ToolError(str(exc)) from None


def build(engine: Engine, *, allow_changes: bool = False, http: bool = False) -> MCPServer:
    """The MCP server over `engine`. Changing tools are listed only with `allow_changes`; over HTTP also
    only when a token (RAG_API_TOKEN) is set, and each call must then carry it as a bearer token."""
    s = engine.settings
    server = MCPServer("rag", instructions="A document collection with cited answers. Use `ask` for an "
                       "answer quoted from the documents, `search` for ranked passages, `cite` to read a "
                       "passage in context. Cite the citation labels the tools return.", log_level="WARNING")

    def search(question: Question, k: K = s.k, mode: Mode = s.mode, documents: Documents = (),
               authors: Authors = (), since: Since = "", until: Until = "") -> CallToolResult:
        where = T.doc_filter(documents, authors, since=since, until=until)
        hits = _run(lambda: engine.search(question, k=k, mode=mode, where=where))
        return _result({"question": question, "passages": [h.to_json() for h in hits]}, T.hits_text(hits))

    def ask(question: Question, k: K = s.k, mode: Mode = s.mode, documents: Documents = (),
            authors: Authors = (), since: Since = "", until: Until = "") -> CallToolResult:
        where = T.doc_filter(documents, authors, since=since, until=until)
        ans = _run(lambda: engine.ask(question, k=k, mode=mode, where=where))
        return _result(ans.to_json(), T.answer_text(ans))

    def cite(ref: Annotated[str, Field(description="a citation label, passage id, file name or author")]
             ) -> CallToolResult:
        found = _run(lambda: engine.cite(ref))
        return _result(found.to_json(), T.lookup_text(found), error=not found.found)

    def list_documents() -> CallToolResult:
        listed, status = _run(lambda: (engine.documents(), engine.status()))
        return _result({"documents": [x.to_json() for x in listed], "index": status.to_json()},
                       T.documents_text(listed, status))

    for fn, text in ((search, T.SEARCH), (ask, T.ASK), (cite, T.CITE), (list_documents, T.LIST)):
        server.add_tool(fn, description=text, annotations=READ)
    names = "search, ask, cite, list_documents"
    if allow_changes and http and not s.api_token:
        log.warning("--allow-changes has no effect over HTTP without a token: set RAG_API_TOKEN")
    elif allow_changes:
        _add_changing_tools(server, engine, http)
        names += ", add_document, remove_document"
    log.info("MCP tools: %s", names)
    return server


def _add_changing_tools(server: MCPServer, engine: Engine, http: bool) -> None:
    def check(ctx: Context) -> None:
        """Over HTTP a change needs the server's token as a bearer token (stdio: the user's own process)."""
        if http:
            headers = ctx.headers or {}
            ok, _, reason = may_change(engine.settings.api_token, bearer(headers.get("authorization")))
            if not ok:
                raise ToolError(reason)

    def add_document(name: Annotated[str, Field(description="the file name, e.g. 'report.pdf' or 'notes.md'")],
                     content: Annotated[str, Field(description="the file's text, or its bytes in base64")],
                     ctx: Context,
                     encoding: Annotated[Literal["text", "base64"], Field(description="how content is given")]
                     = "text") -> CallToolResult:
        check(ctx)
        upload = _run(lambda: T.upload(name, content, encoding))
        change = _run(lambda: engine.add(uploads=[upload]))
        return _result(change.to_json(), T.change_text(change), error=bool(change.refused))

    def remove_document(names: Annotated[list[str], Field(min_length=1, description="document ids or file names")],
                        ctx: Context) -> CallToolResult:
        check(ctx)
        change = _run(lambda: engine.remove(names))
        return _result(change.to_json(), T.change_text(change))

    server.add_tool(add_document, description=T.ADD,
                    annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False))
    server.add_tool(remove_document, description=T.REMOVE,
                    annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False))


def serve_http(server: MCPServer, settings: Settings, *, changes: bool = False) -> None:
    """Streamable HTTP at http://host:port/mcp. Bound beyond this machine, every request needs the token.
    A request body is limited to settings.max_request_bytes, or with `changes` to one base64 upload."""
    import uvicorn
    host, token = settings.host, settings.api_token
    check_http(host, token)
    if not is_local(host):
        log.warning("listening on %s: reachable beyond this machine; every request needs the token", host)
    limit = settings.max_request_bytes + (settings.max_file_bytes * 4 // 3 if changes else 0)
    app = token_gate(server.streamable_http_app(host=host, max_request_body_size=limit), token, host)
    log.info("MCP over streamable HTTP at http://%s:%d/mcp", host, settings.port)
    uvicorn.Server(uvicorn.Config(app, host=host, port=settings.port, log_level="warning")).run()


def check_http(host: str, token: str) -> None:
    """Raises BadInput when `host` reaches beyond this machine and no token is set."""
    if not is_local(host) and not token:
        raise BadInput(f"serving on {host} (beyond this machine) needs a token: set RAG_API_TOKEN, which "
                       "every client must then send; or drop --host to stay on 127.0.0.1")


def token_gate(app, token: str, host: str):
    """ASGI wrapper: refuses an HTTP request that rag.serve.auth.may_read does not allow."""
    async def gated(scope, receive, send):
        if scope["type"] == "http":
            given = bearer(dict(scope["headers"]).get(b"authorization", b"").decode("latin-1"))
            ok, status, reason = may_read(token, given, host)
            if not ok:
                await send({"type": "http.response.start", "status": status, "headers": [
                    (b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": json.dumps({"error": reason}).encode()})
                return
        await app(scope, receive, send)
    return gated
