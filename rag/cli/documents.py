"""The document commands of the CLI: `rag index`, `rag add`, `rag remove`, `rag list`.

add/remove change the documents folder (rag.library), then update the index incrementally: only
new or changed documents are embedded and the new index is published atomically."""
from __future__ import annotations

import json
import sys

from . import render


def add_parsers(sub, common) -> None:
    p = sub.add_parser("index", parents=[common], help="build or update the index")
    p.add_argument("--rebuild", action="store_true", help="re-embed everything")
    p.add_argument("--compact", action="store_true",
                   help="write the index whole, folding in the updates written over it (nothing is re-embedded)")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="encode new or changed documents on the Ray cluster at HEAD:PORT (see README)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("add", parents=[common], help="copy files or folders into the documents folder and index them")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".txt .md .html .htm .pdf files, or folders (recursive)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("remove", parents=[common], help="remove documents (id, file or original name) and their passages")
    p.add_argument("names", nargs="+", metavar="DOC")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("verify", parents=[common], help="hash every file of the index now (a load checks large "
                       "files block by block as they are first read)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("list", parents=[common], help="documents in the index, with passage counts and metadata")
    p.add_argument("--json", action="store_true")


def _engine(settings):
    from ..engine import Engine
    return Engine(settings)


def cmd_index(args, settings) -> int:
    report = _engine(settings).build(rebuild=args.rebuild, progress=render.Progress(sys.stderr), ray=args.ray,
                                     compact=args.compact)
    print(json.dumps(report.to_json()) if args.json else render.report_text(report))
    return 0


def cmd_add(args, settings) -> int:
    change = _engine(settings).add(args.paths, progress=render.Progress(sys.stderr))
    if args.json:
        print(json.dumps(change.to_json(), ensure_ascii=False))
    else:
        for r in change.files:
            print(f"{r.status:9} {r.original}" + (f" -> {r.file}" if r.file and r.status != "duplicate" else "")
                  + (f"  ({r.detail})" if r.detail else ""))
        if change.index:
            print(render.report_text(change.index))
    for r in change.refused:
        print(f"error: {r.detail}", file=sys.stderr)
    return 2 if change.refused or not change.files else 0


def cmd_remove(args, settings) -> int:
    change = _engine(settings).remove(args.names, progress=render.Progress(sys.stderr))
    if args.json:
        print(json.dumps(change.to_json(), ensure_ascii=False))
    else:
        print("\n".join(f"removed   {name}" for name in change.removed))
        print(render.report_text(change.index))
    return 0


def cmd_list(args, settings) -> int:
    from ..engine import Engine
    listed = Engine.open(settings, progress=render.Progress(sys.stderr)).documents()
    if args.json:
        print(json.dumps([x.to_json() for x in listed], ensure_ascii=False))
        return 0
    for x in listed:
        d = x.document
        extra = [e for e in (d.title and f"title: {d.title}", d.author and f"author: {d.author}",
                             d.date and f"date: {d.date}", d.pages and f"{d.pages} pages",
                             d.original and d.original != d.file and f"added as: {d.original}") if e]
        print(f"{d.doc_id}  {x.passages:>3} passages  {d.label}  [{d.file}]")
        if extra:
            print("    " + " · ".join(extra))
    return 0


def cmd_verify(args, settings) -> int:
    got = _engine(settings).verify()
    print(json.dumps(got.to_json()) if args.json else
          f"{got.generation}: {got.files} files, {got.bytes:,} bytes, every checksum matches ({got.seconds:.1f} s)")
    return 0


COMMANDS = {"index": cmd_index, "verify": cmd_verify, "add": cmd_add, "remove": cmd_remove, "list": cmd_list}
