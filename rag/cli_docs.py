"""The document commands of the CLI: `rag index`, `rag add`, `rag remove`, `rag list`.

add/remove change the documents folder (rag.library), then update the index incrementally: only
new or changed documents are embedded and the new index is published atomically."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from . import render


def add_parsers(sub, common) -> None:
    p = sub.add_parser("index", parents=[common], help="build or update the index")
    p.add_argument("--rebuild", action="store_true", help="re-embed everything")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("add", parents=[common], help="copy files or folders into the documents folder and index them")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".txt .md .html .htm .pdf files, or folders (recursive)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("remove", parents=[common], help="remove documents (id, file or original name) and their passages")
    p.add_argument("names", nargs="+", metavar="DOC")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("list", parents=[common], help="documents in the index, with passage counts and metadata")
    p.add_argument("--json", action="store_true")


def _engine(settings):
    from .engine import Engine
    return Engine(settings)


def cmd_index(args, settings) -> int:
    report = _engine(settings).build(rebuild=args.rebuild, progress=render.Progress(sys.stderr))
    print(json.dumps(render.report_json(report)) if args.json else render.report_text(report))
    return 0


def cmd_add(args, settings) -> int:
    from . import library
    results = library.add_files(settings, [Path(p) for p in args.paths])
    report = None
    if any(r.status in ("added", "updated") for r in results) or not _index_exists(settings):
        report = _engine(settings).build(progress=render.Progress(sys.stderr))
    if args.json:
        print(json.dumps({"files": [r.__dict__ for r in results],
                          "index": render.report_json(report) if report else None}, ensure_ascii=False))
    else:
        for r in results:
            print(f"{r.status:9} {r.original}" + (f" -> {r.file}" if r.file and r.status != "duplicate" else "")
                  + (f"  ({r.detail})" if r.detail else ""))
        if report:
            print(render.report_text(report))
    refused = [r for r in results if r.status == "refused"]
    for r in refused:
        print(f"error: {r.detail}", file=sys.stderr)
    return 2 if refused or not results else 0


def cmd_remove(args, settings) -> int:
    from . import library
    removed = library.remove(settings, args.names)
    report = _engine(settings).build(progress=render.Progress(sys.stderr))
    if args.json:
        print(json.dumps({"removed": removed, "index": render.report_json(report)}, ensure_ascii=False))
    else:
        print("\n".join(f"removed   {name}" for name in removed))
        print(render.report_text(report))
    return 0


def cmd_list(args, settings) -> int:
    from .engine import Engine
    engine = Engine.open(settings, progress=render.Progress(sys.stderr))
    snap = engine.snapshot()
    counts = {d.doc_id: len(snap.doc_rows.get(d.doc_id, ())) for d in snap.documents}
    if args.json:
        print(json.dumps([{**d.to_json(), "passages": counts[d.doc_id]} for d in snap.documents], ensure_ascii=False))
        return 0
    for d in snap.documents:
        extra = [x for x in (d.title and f"title: {d.title}", d.author and f"author: {d.author}",
                             d.date and f"date: {d.date}", d.pages and f"{d.pages} pages",
                             d.original and d.original != d.file and f"added as: {d.original}") if x]
        print(f"{d.doc_id}  {counts[d.doc_id]:>3} passages  {d.label}  [{d.file}]")
        if extra:
            print("    " + " · ".join(extra))
    return 0


def _index_exists(settings) -> bool:
    return (settings.index_dir / "CURRENT").exists()


COMMANDS = {"index": cmd_index, "add": cmd_add, "remove": cmd_remove, "list": cmd_list}
