"""Pure text functions: blocks, cleaning, sentence spans, token-bounded pieces. No I/O."""
from __future__ import annotations

import re
from typing import Callable

from .segment import split_sentences  # noqa: F401  (re-exported: pieces cut at its spans)

_BLOCK = re.compile(r"(?:[^\n]*\S[^\n]*(?:\n|$))+")
_INVISIBLE = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u00ad\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u2064\u2066-\u2069\ufeff\ufffe\U000e0000-\U000e007f]")
# The markup clean() drops, found in ONE pass so that clean and clean_map agree by construction:
# a markdown escape (the backslash goes, the character stays), an invisible character, or a ** / __
# emphasis marker that opens a word (after a space, an opening bracket or quote) or closes one
# (before a space, punctuation or a closing bracket or quote); `window.__x` and `a**b` stay as they
# are. Markers are judged by their neighbours, not paired: then cleaning any slice cut at whitespace
# gives the same text as cutting the cleaned whole, which keeps the offsets of a split paragraph's
# pieces exact (a pair straddling a cut would otherwise survive in the slice).
_MARKUP = re.compile(r"\\([\\$*_`#\[\](){}.!+\-])|" + _INVISIBLE.pattern
                     + r"|(?<![^\s(\[{\"'“‘])(?:\*\*|__)(?=[^\s*_])"
                     + r"|(?<=[^\s*_])(?:\*\*|__)(?![^\s)\]}\"'”’.,;:!?…])")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\S+")
_TERMINAL = ".!?:;\"”’)]…'"
_DATED = re.compile(r"^\s*(?:(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2}\b"
                    r"|\d{4}-\d{2}-\d{2}\b)[^:\n]{0,40}:\s")

def normalize_newlines(text: str) -> str:
    """The canonical source text: BOM dropped, CRLF and CR turned into LF. Offsets index into this."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def blocks(text: str) -> list[tuple[int, int]]:
    """Spans of maximal runs of non-blank lines, trimmed of surrounding whitespace."""
    spans = []
    for m in _BLOCK.finditer(text):
        a, b = m.start(), m.end()
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            spans.append((a, b))
    return spans


def clean(s: str) -> str:
    """Displayed text: invisible characters, markdown emphasis and escapes removed, whitespace collapsed."""
    s = _MARKUP.sub(lambda m: m.group(1) or "", s)
    return _SPACE.sub(" ", s).strip()


def clean_map(s: str) -> tuple[str, list[int]]:
    """clean(s) together with, for each output character, its index in s (plus len(s) as sentinel)."""
    if _MARKUP.search(s) is None:     # plain text: whole words are kept, so map them a word at a time
        words = [m.span() for m in _WORD.finditer(s)]
        where: list[int] = []
        for a, b in words:
            where += range(a, b)
            where.append(b)           # the space after the word: the first whitespace character
        return " ".join(s[a:b] for a, b in words), where[:-1] + [len(s)]
    return _clean_map_chars(s)


def _clean_map_chars(s: str) -> tuple[str, list[int]]:
    """clean_map for any text, a character at a time."""
    drop = bytearray(len(s))
    for m in _MARKUP.finditer(s):
        end = m.start() + 1 if m.group(1) else m.end()     # an escape keeps its character
        drop[m.start():end] = b"\x01" * (end - m.start())
    out, where, prev_space = [], [], True
    for i, ch in enumerate(s):
        if drop[i]:
            continue
        if ch.isspace():
            if not prev_space:
                out.append(" ")
                where.append(i)
            prev_space = True
            continue
        out.append(ch)
        where.append(i)
        prev_space = False
    if out and out[-1] == " ":
        out.pop()
        where.pop()
    return "".join(out), where + [len(s)]


def source_span(s: str, where: list[int], *, x: int, y: int) -> tuple[int, int]:
    """The span of s whose clean() is clean(s)[x:y], for x and y at word boundaries of the cleaned text
    (where = clean_map(s)[1]): widened from the first and last kept characters to the whitespace
    around them, so markup attached to the edge words (a **, an escape's backslash) goes with them."""
    a, b = where[x], where[y - 1] + 1
    while a > 0 and not _gap(s[a - 1]):
        a -= 1
    while b < len(s) and not _gap(s[b]):
        b += 1
    return a, b


def _gap(ch: str) -> bool:
    """Whitespace that clean() keeps (as a space): the only place a cleaned text can be cut."""
    return ch.isspace() and not _INVISIBLE.match(ch)


def is_terminal(s: str) -> bool:
    return bool(s) and s.rstrip()[-1:] in _TERMINAL


def is_heading(block: str) -> bool:
    """A short single line without closing punctuation, e.g. 'Peace Treaty Prospects Remain Dim'."""
    line = block.strip()
    if "\n" in line or not line:
        return False
    if line.startswith("#"):
        return True
    line = re.sub(r"(?:[A-Z]\.){2,}$", "", clean(line)).rstrip()   # 'Policy Implications for the U.S.'
    return (len(line) <= 90 and len(line.split()) <= 12 and not is_terminal(line)
            and not line.endswith(",") and line[:1].isupper())


def dated_lines(block: str) -> bool:
    """True when every line of a multi-line block starts a dated entry ('Aug 16, 1999: …')."""
    lines = [ln for ln in block.split("\n") if ln.strip()]
    return len(lines) >= 2 and all(_DATED.match(ln) for ln in lines)


Count = Callable[[str], int]                 # tokens in a text, the model's special tokens included
Counts = Callable[[list[str]], list[int]]    # the same for many texts in one (batched) tokenizer call


def batched(count: Count, counts: Counts | None = None) -> Counts:
    """`counts` when the tokenizer has a batched call, else `count` applied to each text."""
    return counts or (lambda texts: [count(t) for t in texts])


def pieces(text: str, count: Count, limit: int, *, counts: Counts | None = None,
           total: int | None = None, adds_up: bool = False) -> list[tuple[int, int]]:
    """Spans of `text` covering it in order, each within `limit` tokens, cut at sentence boundaries
    (or, for a single over-long sentence, at word boundaries). `counts` batches the counting; `total`
    is count(text) when the caller has it already; `adds_up` says that counts add up over text cut
    at spaces, count(a + " " + b) == count(a) + count(b) - count(""), as the tokenizer guarantees."""
    counts = batched(count, counts)
    if (count(text) if total is None else total) <= limit:
        return [(0, len(text))]
    spans = split_sentences(text)
    special, *sizes = counts([""] + [text[a:b] for a, b in spans])
    units: list[tuple[int, int]] = []
    unit_sizes: list[int] = []
    for (a, b), n in zip(spans, sizes):
        if n > limit:    # an over-long sentence: its words packed first, as whole units for the cut below
            cut = _pack(text, [(m.start() + a, m.end() + a) for m in re.finditer(r"\S+", text[a:b])], count,
                        limit=limit)
            units += cut
            unit_sizes += counts([text[x:y] for x, y in cut])
        else:
            units.append((a, b))
            unit_sizes.append(n)
    return _pack_sized(text, units, unit_sizes, special=special, count=count, counts=counts, limit=limit,
                       check=not adds_up)


def _pack_sized(text: str, units, sizes: list[int], *, special: int, count, counts, limit: int, check: bool):
    """_pack for units whose counts are known: the cuts are planned by adding the units' counts (less
    the `special` tokens each count includes), then checked with real counts in one batch: each span
    fits (or is one unit) and would not fit with the next unit. For a count that does not shrink when
    text is added, that is exactly the cut _pack makes: two counts a span, in one call, instead of a
    gallop's several single calls. When a tokenizer's counts do not add up the check fails and _pack
    does the work; when they are known to add up (`check` off) the plan is exact as it stands."""
    plan, i = [], 0
    while i < len(units):
        j, n = i, sizes[i]
        while j + 1 < len(units) and n + sizes[j + 1] - special <= limit:
            j, n = j + 1, n + sizes[j + 1] - special
        plan.append((i, j))
        i = j + 1
    if not check:
        return [(units[i][0], units[j][1]) for i, j in plan]
    fits = [text[units[i][0]:units[j][1]] for i, j in plan if j > i]
    over = [text[units[i][0]:units[j + 1][1]] for i, j in plan if j + 1 < len(units)]
    got = counts(fits + over)
    if all(n <= limit for n in got[:len(fits)]) and all(n > limit for n in got[len(fits):]):
        return [(units[i][0], units[j][1]) for i, j in plan]
    return _pack(text, units, count, limit=limit)


def _pack(text: str, units: list[tuple[int, int]], count, *, limit: int) -> list[tuple[int, int]]:
    """Consecutive units joined greedily into spans of at most `limit` tokens; a single unit over the
    limit (one huge word) stays whole, and the model truncates it. Each span's end is found by
    galloping then bisecting, so a span costs O(log n) counts instead of one per unit: counting word
    by word made a 1 MB line take about 45 s of tokenizer calls. Taking the longest prefix that fits
    is the same greedy cut as before for any count that does not shrink when text is added."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        a = units[i][0]
        lo, hi, step = i, len(units), 1      # units i..lo fit together; i..hi do not (or hi is the end)
        while lo + step < hi:
            if count(text[a:units[lo + step][1]]) <= limit:
                lo, step = lo + step, step * 2
            else:
                hi = lo + step
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if count(text[a:units[mid][1]]) <= limit:
                lo = mid
            else:
                hi = mid
        out.append((a, units[lo][1]))
        i = lo + 1
    return out
