"""Plain-text rendering of answers, hits, lookups and build reports for the terminal. Pure."""
from __future__ import annotations

import sys
import textwrap
import time

from ..schema import Answer, BuildReport, Hit, Lookup

WIDTH = 100


def _wrap(text: str, indent: str = "     ", limit: int | None = None) -> str:
    if limit and len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " …"
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent)


def hits_text(hits: list[Hit], limit: int = 400) -> str:
    out = []
    for h in hits:
        out.append(f"[{h.rank}] {h.passage.citation}   ({h.passage.id}, score {h.score:.4f})")
        out.append(_wrap(h.passage.text, limit=limit))
    return "\n".join(out)


def answer_text(ans: Answer) -> str:
    if ans.supported:
        head = (f"Short answer: {ans.short}\n\n" if ans.short else "") + textwrap.fill(ans.answer, WIDTH)
        if ans.reader == "llm":
            head += "\n\n(an LLM's words; each sentence verified against the passage it cites)"
        return f"{head}{_rejected(ans)}\n\nSources:\n{hits_text(list(ans.hits))}"
    return f"{ans.answer}{_rejected(ans)}\n\nNearest passages (not an answer):\n{hits_text(list(ans.hits))}"


def _rejected(ans: Answer) -> str:
    if not ans.rejected:
        return ""
    lines = ["", "", "Not supported by the cited passage (not part of the answer):"]
    lines += [_wrap(f"✗ {r.text} — {r.reason}", "  ") for r in ans.rejected]
    return "\n".join(lines)


def lookup_text(res: Lookup) -> str:
    if not res.found:
        lines = [res.message or f"nothing matches {res.ref!r}"]
        lines += [f"  {p.citation}   ({p.id})" for p in res.suggestions]
        return "\n".join(lines)
    out = []
    for c in res.found:
        out.append(f"{c.passage.citation}   ({c.passage.id})")
        if c.before:
            out.append(_wrap(f"… {c.before.text}", "   ", 300))
        out.append(_wrap(c.passage.text, "  >"))
        if c.after:
            out.append(_wrap(f"{c.after.text} …", "   ", 300))
        out.append("")
    return "\n".join(out).rstrip()


def report_text(r: BuildReport) -> str:
    if not r.rebuilt:
        head = f"index up to date: {r.documents} documents, {r.passages} passages, nothing re-embedded"
    else:
        head = (f"indexed {r.documents} documents, {r.passages} passages ({len(r.new)} new or changed, "
                f"{len(r.unchanged)} unchanged, {len(r.removed)} removed; {r.embedded} passages embedded) "
                f"as {r.generation}" + (", written as an update over the last one" if r.written == "update" else ""))
    lines = ([f"note: {r.notice}"] if r.notice else []) + [f"{head} in {r.seconds:.1f} s"]
    lines += [f"skipped {f}: {why}" for f, why in r.skipped]
    return "\n".join(lines)


class Progress:
    """A one-line progress bar with an ETA on a terminal; a few plain lines otherwise."""

    def __init__(self, stream=sys.stderr):
        self.stream, self.tty = stream, stream.isatty()
        self.t0, self.stage, self.last = time.perf_counter(), "", 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage != self.stage:
            self.stage, self.t0 = stage, now
            if not self.tty:
                print(f"{stage}: {total} item(s)…", file=self.stream, flush=True)
        if self.tty and (now - self.last > 0.1 or done >= total):
            self.last = now
            frac = done / total if total else 1.0
            eta = (now - self.t0) / frac - (now - self.t0) if frac > 0 else 0
            bar = "#" * int(30 * frac)
            print(f"\r{stage:<6} [{bar:<30}] {done}/{total}  ETA {eta:4.0f} s", end="", file=self.stream, flush=True)
            if done >= total:
                print(file=self.stream, flush=True)


def beir_text(r: dict) -> str:
    return (f"{r['documents']} documents ({r['passages']} passages), {r['queries']} queries, split {r['split']}, "
            f"mode {r['mode']}\n"
            f"nDCG@10 {r['ndcg@10']:.4f}  Recall@10 {r['recall@10']:.4f}  Recall@100 {r['recall@100']:.4f}  "
            f"MRR@10 {r['mrr@10']:.4f}\n"
            f"index build {r['build_seconds']:.1f} s ({r['embedded']} passages embedded), "
            f"{r['queries_per_second']:.1f} queries/s")
