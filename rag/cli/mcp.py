"""`rag mcp`: serve the collection to MCP clients (Claude Desktop, IDEs, agents) over stdio, or over
streamable HTTP with --http. The server itself is rag.serve.mcp, imported only when the command runs.

Over stdio, stdout carries the protocol: everything else (logs, the build's progress) goes to stderr,
and while the engine loads, file descriptor 1 itself points at stderr, so nothing a library prints
can reach the client."""
from __future__ import annotations

import contextlib
import logging
import os
import sys

from . import render


def add_parsers(sub, common) -> None:
    p = sub.add_parser("mcp", parents=[common], help="serve search/ask/cite to MCP clients (stdio, or --http)",
                       description="An MCP server over the collection: tools search, ask, cite and "
                       "list_documents (add_document and remove_document with --allow-changes). Logs go to stderr.")
    p.add_argument("--http", action="store_true", help="streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    p.add_argument("--host", default=None, help="HTTP: address to listen on (default 127.0.0.1; env RAG_HOST). "
                   "Any other address requires RAG_API_TOKEN on every request")
    p.add_argument("--port", type=int, default=None, help="HTTP: port (default 8000; env RAG_PORT)")
    p.add_argument("--allow-changes", action="store_true", help="also offer add_document and remove_document "
                   "(over HTTP only with RAG_API_TOKEN set, sent as 'Authorization: Bearer <token>')")


@contextlib.contextmanager
def stdout_to_stderr():
    """Point stdout (Python's and file descriptor 1) at stderr for the duration."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def cmd_mcp(args, settings) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="rag mcp: %(levelname)s %(message)s")
    logging.getLogger("rag").setLevel(logging.INFO)
    settings = settings.with_(host=args.host, port=args.port)
    with stdout_to_stderr():
        from ..engine import Engine
        from ..serve import mcp as server
        if args.http:
            server.check_http(settings.host, settings.api_token)     # before the engine loads
        engine = Engine.open(settings, progress=render.Progress(sys.stderr))
        if engine.last_build is not None:     # the index was missing and has just been built
            print(render.report_text(engine.last_build), file=sys.stderr)
        engine.embedder()                     # loaded now, so the first question is answered at once
        logging.getLogger("bm25s").setLevel(logging.WARNING)   # bm25s sets DEBUG on import: a line per rebuild
        app = server.build(engine, allow_changes=args.allow_changes, http=args.http)
    if args.http:
        server.serve_http(app, settings, changes=args.allow_changes)
    else:
        app.run("stdio")
    return 0


COMMANDS = {"mcp": cmd_mcp}
