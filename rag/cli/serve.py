"""`rag serve`: the HTTP API (rag.serve.http) under uvicorn. FastAPI and uvicorn are imported only
when the command runs; the index starts loading (or building) first, while they import."""
from __future__ import annotations

import logging
import sys


def add_parsers(sub, common) -> None:
    p = sub.add_parser("serve", parents=[common], help="serve ask/search/cite/documents over HTTP (docs at /docs)",
                       description="An HTTP API under /v1 whose JSON is the CLI's --json. Reading is open to "
                       "this machine; adding, removing and rebuilding need RAG_API_TOKEN as a bearer token.")
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1; env RAG_HOST). "
                   "Any other address requires RAG_API_TOKEN on every request")
    p.add_argument("--port", type=int, default=None, help="port (default 8000; env RAG_PORT)")
    p.add_argument("--access-log", action="store_true", help="log every request on stderr")


def cmd_serve(args, settings) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="rag serve: %(levelname)s %(message)s")
    settings = settings.with_(host=args.host, port=args.port)
    from ..schema import BadInput
    from ..serve.auth import is_local
    host, port = settings.host, settings.port
    if not is_local(host):
        if not settings.api_token:
            raise BadInput(f"serving on {host} (beyond this machine) needs a token: set RAG_API_TOKEN, which "
                           "every client must then send; or drop --host to stay on 127.0.0.1")
        print(f"warning: listening on {host}, reachable beyond this machine; every request needs "
              "'Authorization: Bearer <RAG_API_TOKEN>'", file=sys.stderr)
    from ..engine import Engine
    from ..serve.runtime import Startup
    engine = Engine(settings)
    startup = Startup(engine).start()      # loads the index and the model while the web stack imports
    import uvicorn

    from ..serve.http import create_app
    app = create_app(engine, startup)
    changes = "enabled (bearer token)" if settings.api_token else "disabled (no RAG_API_TOKEN)"
    shown = f"[{host}]" if ":" in host else host
    print(f"rag serve: http://{shown}:{port}/v1 (docs at /docs); document changes {changes}", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=args.access_log, ws="none",
                timeout_graceful_shutdown=5)
    return 0


COMMANDS = {"serve": cmd_serve}
