"""PDF text layer -> paragraphs, page by page. The only module that imports pypdf.

Parsing runs in a child process (`python -m rag.readers.pdf`) under a memory limit and a timeout, so a
decompression bomb or a pathological file costs that process, never the app or the build."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass

MEMORY = 1_000_000_000          # bytes of address space for the child (RLIMIT_AS)
_GAP = re.compile(r"\n[ \t]*\n")
_BAD_TITLE = re.compile(r"^(microsoft \w+ - |untitled)|\.(docx?|pdf|odt|rtf|txt)$", re.I)


class PdfRefused(Exception):
    """The PDF cannot be read; the message says why."""


@dataclass(frozen=True)
class PdfText:
    pages: tuple[str, ...]      # each page's paragraphs, separated by blank lines
    title: str = ""
    author: str = ""
    date: str = ""              # ISO date from /CreationDate, when present


def read(data: bytes, max_pages: int, seconds: float) -> PdfText:
    """The text layer of a PDF, read in a limited child process."""
    try:
        proc = subprocess.run([sys.executable, "-m", "rag.readers.pdf", str(max_pages)], input=data,
                              capture_output=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        raise PdfRefused(f"reading the PDF took over {seconds:g} s (the per-file time limit, "
                         "RAG_PARSE_SECONDS); it was stopped") from None
    out = _result(proc.stdout)
    if proc.returncode != 0 or out is None:
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["it crashed the reader"]
        if "LimitReached" in why[0] or "MemoryError" in why[0] or proc.returncode < 0:
            raise PdfRefused(f"the PDF inflates past the reader's limits ({MEMORY // 10**6} MB of memory; "
                             "a decompression bomb?); it was stopped")
        raise PdfRefused(f"unreadable PDF ({why[0][:200]})")
    if out.get("error"):
        raise PdfRefused(out["error"])
    return PdfText(tuple(out["pages"]), out.get("title", ""), out.get("author", ""), out.get("date", ""))


def _result(stdout: bytes) -> dict | None:
    try:
        return json.loads(stdout)
    except ValueError:
        return None


def paragraphs(layout: str) -> str:
    """A page in pypdf's layout mode -> its paragraphs, one per block: blank lines (vertical gaps)
    separate paragraphs, runs of spaces collapse, and a word hyphenated at a line end is rejoined."""
    out = []
    for block in _GAP.split(layout):
        lines = [" ".join(ln.split()) for ln in block.split("\n")]
        text = ""
        for ln in (x for x in lines if x):
            if text.endswith("-") and ln[:1].islower() and text[-2:-1].isalpha():
                text = text[:-1] + ln
            else:
                text = f"{text} {ln}" if text else ln
        if text:
            out.append(text)
    return "\n\n".join(out)


def title_of(raw: str) -> str:
    """A metadata title worth showing (not 'Microsoft Word - x.docx' or a file name)."""
    raw = " ".join(raw.split())
    return "" if _BAD_TITLE.search(raw) else raw


def _child(max_pages: int) -> None:
    """Runs as `python -m rag.readers.pdf N`: PDF bytes on stdin, JSON on stdout, under RLIMIT_AS."""
    import io
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    from pypdf import PdfReader
    reader = PdfReader(io.BytesIO(sys.stdin.buffer.read()))
    if reader.is_encrypted:
        print(json.dumps({"error": "the PDF is encrypted; save an unprotected copy and add that"}))
        return
    if len(reader.pages) > max_pages:
        print(json.dumps({"error": f"{len(reader.pages)} pages is over the {max_pages}-page limit "
                                   "(RAG_MAX_PAGES); split the PDF or raise the limit"}))
        return
    info = reader.metadata or {}
    pages = [paragraphs(page.extract_text(extraction_mode="layout") or "") for page in reader.pages]
    date = str(info.get("/CreationDate", "") or "")
    date = f"{date[2:6]}-{date[6:8]}-{date[8:10]}" if re.match(r"D:\d{8}", date) else ""
    print(json.dumps({"pages": pages, "title": title_of(str(info.get("/Title", "") or "")),
                      "author": " ".join(str(info.get("/Author", "") or "").split()), "date": date}))


if __name__ == "__main__":
    _child(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
