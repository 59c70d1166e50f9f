"""`rag` / `python -m rag`: argparse subcommands that mirror Engine. Heavy imports happen inside the
commands, so `rag --help` is instant. Errors: one line on stderr; exit 2 for bad input, 1 otherwise."""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import textwrap

from . import render

# Subcommand groups beside search/ask/cite/eval: each module has add_parsers(sub, common) and COMMANDS.
GROUPS = ("documents", "mcp", "serve")


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    S = argparse.SUPPRESS
    p.add_argument("--docs", metavar="DIR", default=S, help="documents folder (default documents/, first made as a copy of seeds/; env RAG_DOCS)")
    p.add_argument("--index", metavar="DIR", default=S, help="index folder (default index/, env RAG_INDEX)")
    p.add_argument("--model", default=S, help="sentence-transformers model name or folder (env RAG_MODEL)")
    p.add_argument("--backend", choices=("auto", "onnx", "torch"), default=S, help="embedding runtime")
    p.add_argument("--store", metavar="URL", default=S, help="serve from: local (the index folder, default) or "
                   "qdrant://HOST:PORT/COLLECTION, qdrant+https://…, qdrant+local:PATH/COLLECTION; the index "
                   "folder is then the build's staging area (env RAG_STORE; key in RAG_QDRANT_API_KEY)")
    return p


def _query(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", type=int, default=None, help="number of passages (default 5)")
    p.add_argument("--mode", choices=("hybrid", "dense", "keyword"), default=None)
    p.add_argument("--doc", action="append", metavar="DOC", help="only this document (id or file name); repeatable")
    p.add_argument("--author", action="append", metavar="NAME", help="only documents by this author (part of the name)")
    p.add_argument("--since", metavar="DATE", help="only documents dated on or after DATE (1999, 1999-03, 1999-03-04)")
    p.add_argument("--until", metavar="DATE", help="only documents dated on or before DATE")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def parser() -> argparse.ArgumentParser:
    common = _common()
    top = argparse.ArgumentParser(prog="rag", parents=[common], description="Ask questions of a document "
                                  "collection and get answers cited to the paragraph.")
    sub = top.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        importlib.import_module(f"{__name__}.{group}").add_parsers(sub, common)
    p = sub.add_parser("search", parents=[common], help="ranked passages for a question")
    p.add_argument("question")
    _query(p)
    p = sub.add_parser("ask", parents=[common], help="a cited answer (interactive when no question is given)")
    p.add_argument("question", nargs="?")
    p.add_argument("--batch", metavar="FILE", help="one question per line ('-' for stdin); JSON lines out")
    p.add_argument("--reader", choices=("extractive", "llm"), default=None,
                   help="extractive quotes (default), or an LLM's answer whose every sentence is verified "
                        "(env RAG_READER; server RAG_LLM_URL, model RAG_LLM_MODEL)")
    _query(p)
    p = sub.add_parser("cite", parents=[common], help="look up a citation, passage id, file or author")
    p.add_argument("ref", nargs="+")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("eval", parents=[common], help="quality on the dev QA set (or a BEIR folder)")
    p.add_argument("--dev", metavar="FILE", default=None, help="QA set (default tests/data/dev_qa.jsonl)")
    p.add_argument("--beir", metavar="DIR", default=None, help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    p.add_argument("--split", default="test", help="BEIR qrels split (default test)")
    p.add_argument("--cache", metavar="DIR", default=None, help="where BEIR documents and index are kept (.cache/)")
    p.add_argument("--mode", choices=("hybrid", "dense", "keyword"), default=None)
    p.add_argument("--json", action="store_true")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from ..schema import BadInput, RagError   # light: no numpy, no faiss
    try:
        for group in GROUPS:
            commands = importlib.import_module(f"{__name__}.{group}").COMMANDS
            if args.command in commands:
                return commands[args.command](args, _settings(args))
        return COMMANDS[args.command](args)
    except (BadInput, ValueError) as exc:
        return _fail(exc, 2)
    except RagError as exc:
        return _fail(exc, 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _fail(exc: Exception, code: int) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return code


def _settings(args):
    from ..config import Settings
    return Settings.from_env(docs_dir=getattr(args, "docs", None), index_dir=getattr(args, "index", None),
                             model=getattr(args, "model", None), backend=getattr(args, "backend", None),
                             store=getattr(args, "store", None))


def _engine(args):
    from ..engine import Engine
    engine = Engine.open(_settings(args), progress=render.Progress(sys.stderr))
    if engine.last_build is not None:     # the index was missing and has just been built
        print(render.report_text(engine.last_build), file=sys.stderr)
    return engine


def _where(args):
    """The documents chosen by --doc, --author, --since and --until, as one filter."""
    from ..schema import DocFilter
    return DocFilter(tuple(args.doc or ()), tuple(args.author or ()), args.since or "", args.until or "")


def _query_args(args) -> dict:
    return {"k": args.k, "mode": args.mode, "where": _where(args)}


def cmd_search(args) -> int:
    engine = _engine(args)
    hits = engine.search(args.question, **_query_args(args))
    if args.json:
        print(json.dumps({"question": args.question, "passages": [h.to_json() for h in hits]}, ensure_ascii=False))
    else:
        print(render.hits_text(hits) or "no passage matches")
    return 0


def cmd_ask(args) -> int:
    engine = _engine(args)
    engine.matching(_where(args))     # a filter that matches nothing fails before any question
    if args.batch:
        stream = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8")
        with stream:
            for line in stream:
                if line.strip():
                    print(json.dumps(_ask_json(engine, line.strip(), args), ensure_ascii=False), flush=True)
        return 0
    if args.question is None:
        return _interactive(engine, args)
    ans = engine.ask(args.question, **_query_args(args), reader=args.reader, on_text=None if args.json else _draft())
    if getattr(_draft, "shown", False):
        print(file=sys.stderr)
    if ans.notice:
        print(f"note: {ans.notice}", file=sys.stderr)
    print(json.dumps(ans.to_json(), ensure_ascii=False) if args.json else render.answer_text(ans))
    return 0


def _draft():
    """Prints an LLM's answer to stderr as it streams, marked as a draft: it is not yet verified."""
    def show(piece: str) -> None:
        if not getattr(_draft, "shown", False):
            print("LLM draft (unverified): ", end="", file=sys.stderr)
            _draft.shown = True
        print(piece, end="", file=sys.stderr, flush=True)
    _draft.shown = False
    return show


def _ask_json(engine, question, args) -> dict:
    from ..schema import BadInput
    try:
        return engine.ask(question, **_query_args(args), reader=args.reader).to_json()
    except BadInput as exc:
        return {"question": question, "error": str(exc)}


def _interactive(engine, args) -> int:
    from ..schema import BadInput
    print("Ask a question about the documents (empty line or Ctrl-D to quit).", file=sys.stderr)
    while True:
        try:
            q = input("? ").strip()
        except EOFError:
            return 0
        if not q:
            return 0
        try:
            print(render.answer_text(engine.ask(q, **_query_args(args), reader=args.reader)) + "\n")
        except BadInput as exc:
            print(f"error: {exc}", file=sys.stderr)


def cmd_cite(args) -> int:
    engine = _engine(args)
    result = engine.cite(" ".join(args.ref))
    print(json.dumps(result.to_json(), ensure_ascii=False) if args.json else render.lookup_text(result))
    return 0 if result.found else 2


def cmd_eval(args) -> int:
    from .. import evaluate
    if args.beir:
        from .. import beir
        r = beir.evaluate(_settings(args), args.beir, split=args.split, mode=args.mode, cache=args.cache,
                          progress=render.Progress(sys.stderr))
        print(json.dumps(r) if args.json else render.beir_text(r))
        return 0
    engine = _engine(args)
    report = evaluate.dev_report(engine, evaluate.load_qa(args.dev), mode=args.mode)
    print(json.dumps(report) if args.json else textwrap.dedent(evaluate.report_text(report)))
    return 0


COMMANDS = {"search": cmd_search, "ask": cmd_ask, "cite": cmd_cite, "eval": cmd_eval}
