"""HTML main text on trafilatura's evaluation set, scored exactly as trafilatura scores it.

    python benchmarks/html_eval.py TRAFILATURA_CHECKOUT [--before REV] [--rows NAME ...]
    python benchmarks/html_eval.py --large       # time rag.readers.read on large synthetic pages

TRAFILATURA_CHECKOUT is a checkout (or snapshot) of github:adbar/trafilatura; its tests/evaldata.json
lists 990 pages (in tests/eval/ and tests/cache/), each with strings that must and must not be
extracted. Scoring is its own tests/eval_common.py (imported from the checkout): whitespace-normalised
substring matches, a crash counts as a miss. Rows run page by page, each first in turn, so that
machine load and a page's first reading cost all alike:

    rag          rag.readers.read on the page's bytes (decoding, main text, metadata: what ingest gets)
    rag-fast     the same with trafilatura's fast mode on every page (not only on large ones)
    plain        rag.readers.html_plain, the reader for pages too large for trafilatura
    before       rag.readers.read as of git revision REV (default a2b2fe6, the reader before trafilatura)
    trafilatura  trafilatura.extract, default mode, with the checkout's benchmark options
    fast         the same in fast mode

"boilerplate kept out" is the share of must-not strings absent (true negatives / all negatives);
"empty" counts pages with no text; times are per page, extraction only.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import readers  # noqa: E402
from rag.readers import decoding, html_plain  # noqa: E402


def previous_reader(rev: str):
    """rag/readers.py as of `rev`, loaded as a module of the rag package (its relative imports work)."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:rag/readers.py"], check=True,
                            capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("rag._readers_before", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "rag"
    sys.modules[spec.name] = module                    # dataclasses look their module up there
    exec(compile(source, f"{rev}:rag/readers.py", "exec"), module.__dict__)
    return module


def fast_mode_reader(html: bytes) -> str:
    """rag.readers.read with rag.readers.html_main.CAREFUL_UP_TO at 0: fast mode on every page."""
    from rag.readers import html_main
    careful, html_main.CAREFUL_UP_TO = html_main.CAREFUL_UP_TO, -1
    try:
        return readers.read("page.html", html).text
    finally:
        html_main.CAREFUL_UP_TO = careful


def runners(names: list[str], rev: str, eval_common) -> dict:
    out = {}
    for name in names:
        if name == "rag":
            out["rag.readers (trafilatura + fallback)"] = lambda b: readers.read("page.html", b).text
        elif name == "rag-fast":
            out["rag.readers, trafilatura's fast mode throughout"] = fast_mode_reader
        elif name == "plain":
            out["rag.readers.html_plain (all visible text)"] = lambda b: html_plain.read(decoding.decode(b, "p", True)).text
        elif name == "before":
            old = previous_reader(rev)
            out[f"rag.readers at {rev} (before)"] = lambda b, old=old: old.read("page.html", b).text
        elif name == "trafilatura":
            out[f"trafilatura {version('trafilatura')}"] = eval_common.RUNNERS["fallback"]
        elif name == "fast":
            out[f"trafilatura {version('trafilatura')}, fast"] = eval_common.RUNNERS["fast"]
        else:
            raise SystemExit(f"unknown row {name!r}; choose from rag, rag-fast, plain, before, trafilatura, fast")
    return out


def large_pages() -> None:
    """rag.readers.read on pages at and past rag.readers.html_main's limits: which reader, how long."""
    from rag.readers import html_main
    readers.read("w.html", b"<html><body><p>warm up</p></body></html>")
    words = "the delegation from Tokyo met officials in Moscow to discuss the Kuril Islands"

    def page(n: int, extra: str = "") -> bytes:
        body = "".join(f"<p>Paragraph {i}: {words}{extra}.</p>\n" for i in range(n))
        return f"<html><head><title>Big</title></head><body><article>{body}</article></body></html>".encode()

    def nested(depth: int, blocks: int) -> bytes:
        block = "<div>" + "<div>n " * depth + "</div>" * (depth + 1)
        return f"<html><body>{block * blocks}</body></html>".encode()
    cases = [("at the size limit", page(160_000, " again and again")),
             ("just under the element limit", page(html_main.MAX_ELEMENTS - 10)),
             ("just under the text limit", page(html_main.MAX_CHARS // 125, " " + "x" * 22)),
             ("24 blocks of divs 60 deep (default mode's worst)", nested(60, 24)),
             ("64 blocks of divs 60 deep", nested(60, 64)), ("78 blocks of divs 250 deep", nested(250, 78)),
             ("2,040 levels deep", ("<html><body>" + "<div>nested " * 2040 + "end</body></html>").encode())]
    print("| page | size | paragraphs | read by | time |\n|---|---|---|---|---|")
    for label, data in cases:
        source = decoding.decode(data, "big.html", markup=True)
        t0 = time.perf_counter()
        ex = readers.read("big.html", data)
        took = time.perf_counter() - t0
        reader = "rag.readers.html_main (trafilatura)" if html_main.read(source) else "rag.readers.html_plain"
        print(f"| {label} | {len(data) / 1e6:.1f} MB | {len(ex.text.split(chr(10) * 2)):,} | {reader} | {took:.1f} s |",
              flush=True)


def timed(fn, ms: list[float]):
    """fn, appending its time in ms to `ms` (the extraction only, not the scoring)."""
    def run(html: bytes):
        t0 = time.perf_counter()
        try:
            return fn(html)
        finally:
            ms.append(1000 * (time.perf_counter() - t0))
    return run


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkout", type=Path, nargs="?", help="a checkout of github:adbar/trafilatura")
    ap.add_argument("--large", action="store_true", help="time large synthetic pages instead")
    ap.add_argument("--before", default="a2b2fe6", help="git revision of the previous reader")
    ap.add_argument("--rows", nargs="+", default=["rag", "plain", "before", "trafilatura", "fast"])
    ap.add_argument("--limit", type=int, default=0, help="only the first N pages (a quick look)")
    args = ap.parse_args(argv)
    if args.large:
        return large_pages()
    tests = (args.checkout or Path(".")) / "tests"
    if not (tests / "eval_common.py").is_file():
        raise SystemExit(f"{tests / 'eval_common.py'} not found: give the path of a trafilatura checkout")
    sys.path.insert(0, str(tests))
    import eval_common
    import logging
    logging.disable(logging.CRITICAL)                  # trafilatura logs every short page
    data = eval_common.load_evaldata(str(tests))
    eval_common.validate(data)
    pages = eval_common.read_corpus(str(tests), data)
    items = list(data.items())[:args.limit or None]
    fns = runners(args.rows, args.before, eval_common)
    stats = {n: {"cm": eval_common.ConfusionMatrix(), "ms": [], "empty": 0, "crash": 0, "first": ""} for n in fns}
    for fn in fns.values():                            # imports and one-time set-up are not timed
        try:
            fn(b"<html><body><p>warm up</p></body></html>")
        except Exception:                              # noqa: BLE001  (a crash is counted per page below)
            pass
    names = list(fns)
    for i, (url, item) in enumerate(items, 1):
        html = pages[url][1]
        for name in names[i % len(names):] + names[:i % len(names)]:    # each row goes first in turn
            s = stats[name]
            result, counts, err = eval_common.run_and_count(timed(fns[name], s["ms"]), html, item)
            s["cm"].add(counts)
            s["empty"] += not result
            if err is not None:
                s["crash"] += 1
                s["first"] = s["first"] or f"{item['file']}: {type(err).__name__}: {err}"
        if i % 200 == 0:
            print(f"{i}/{len(items)} pages", file=sys.stderr, flush=True)
    print(f"\n{len(items)} pages of {tests / 'evaldata.json'}\n")
    print("| extractor | recall | boilerplate kept out | precision | F1 | empty | crashes | median ms/page | mean ms/page |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, s in stats.items():
        cm = s["cm"]
        precision, recall, _, f1 = cm.scores()
        kept_out = cm.tn / (cm.tn + cm.fp) if cm.tn + cm.fp else 0.0
        print(f"| {name} | {recall:.3f} | {kept_out:.3f} | {precision:.3f} | {f1:.3f} | {s['empty']} | {s['crash']} "
              f"| {statistics.median(s['ms']):.1f} | {statistics.mean(s['ms']):.1f} |")
    for name, s in stats.items():
        if s["first"]:
            print(f"first crash of {name}: {s['first']}")


if __name__ == "__main__":
    main()
