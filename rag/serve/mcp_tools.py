"""What the MCP tools say: their descriptions, and the text an assistant reads beside each result's
structured content (the record's to_json()). Pure: records in, strings out."""
from __future__ import annotations

import base64
import binascii

from ..schema import (
    Answer,
    BadInput,
    Change,
    DocFilter,
    Hit,
    Listed,
    Lookup,
    Status,
    Upload,
)

QUOTE_LIMIT = 1500      # characters of a passage shown in the text rendering (the structured content has all)

SEARCH = ("Find the passages of the document collection that best match a question, best first. Each result "
          "has its citation label (e.g. 'Monitor, Vol. 3, Issue 106, ¶2'), its passage id (pass it to `cite` "
          "for the surrounding paragraphs), its score and its full text. Use it to gather evidence; use `ask` "
          "for a cited answer.")
ASK = ("Answer a question from the document collection. Every answer sentence is quoted verbatim from a "
       "passage and followed by a [n] marker naming its source; the sources list each passage's citation "
       "label, passage id and text. When `supported` is false the documents do not answer the question and "
       "the passages listed are only the nearest ones. Quote the sentences and cite their labels; do not add "
       "facts that are not in them.")
CITE = ("Look up a citation label ('Monitor, Vol. 3, Issue 106, ¶2' or 'Monitor 3/106'), a passage id "
        "('000_6114352f984fc0ab:2'), a document's file name or an author, and read the passage with the "
        "paragraphs before and after it. An unknown reference is an error that lists the closest matches.")
LIST = ("List the documents in the collection: id, file, title, author, date, citation label and number of "
        "passages, and the index they are served from. Use the ids or file names in the `documents` filter "
        "of `search` and `ask`.")
ADD = ("Add one document (.txt, .md, .html, .htm or .pdf) to the collection and index it. Give its file name "
       "(the extension sets the format) and its content: plain text with encoding 'text', or the file's bytes "
       "in base64 with encoding 'base64' (needed for PDF). The server chooses the stored name; a file it "
       "refuses comes back as an error with the reason.")
REMOVE = ("Remove documents from the collection by document id, file name or original name, with their "
          "passages, and update the index. An unknown or ambiguous name changes nothing and is an error.")


def doc_filter(documents: tuple[str, ...], authors: tuple[str, ...], *, since: str, until: str) -> DocFilter:
    return DocFilter(tuple(d for d in documents if d.strip()), tuple(a for a in authors if a.strip()),
                     since.strip(), until.strip())


def upload(name: str, content: str, encoding: str) -> Upload:
    """The bytes a client sent: text as UTF-8, or base64. Raises BadInput naming the fix."""
    if not name.strip():
        raise BadInput("give the document's file name, e.g. 'report.pdf' or 'notes.md'")
    if encoding == "text":
        return Upload(name, content.encode("utf-8"))
    try:
        return Upload(name, base64.b64decode(content, validate=True))
    except (binascii.Error, ValueError):
        raise BadInput("content is not valid base64; send the file's bytes base64-encoded, or plain text "
                       "with encoding 'text'") from None


def _quote(text: str) -> str:
    text = text if len(text) <= QUOTE_LIMIT else text[:QUOTE_LIMIT].rsplit(" ", 1)[0] + " …"
    return "    " + text


def hits_text(hits: list[Hit] | tuple[Hit, ...]) -> str:
    lines = []
    for h in hits:
        lines += [f"[{h.rank}] {h.passage.citation} (passage id {h.passage.id}, score {h.score:.3f})",
                  _quote(h.passage.text)]
    return "\n".join(lines) or "No passage matches."


def answer_text(ans: Answer) -> str:
    if not ans.supported:
        return f"{ans.answer}\n\nNearest passages (not an answer):\n{hits_text(ans.hits)}"
    head = ans.answer + (f"\n\nShort answer: {ans.short}" if ans.short else "")
    by_rank = {h.rank: h for h in ans.hits}
    quotes = [f"[{s.marker}] \"{s.text}\" (verified: {'yes' if s.verified else 'no'}) — "
              f"{by_rank[s.marker].passage.citation if s.marker in by_rank else ''}, passage id {pid}"
              for s in ans.sentences for pid in s.citations[:1]]
    notice = f"\n\nNote: {ans.notice}" if ans.notice else ""
    return f"{head}{notice}\n\nQuoted sentences:\n" + "\n".join(quotes) + f"\n\nSources:\n{hits_text(ans.hits)}"


def lookup_text(res: Lookup) -> str:
    if not res.found:
        lines = [res.message or f"Nothing matches {res.ref!r}."]
        if res.suggestions:
            lines.append("Closest matches (pass one of these passage ids or labels to cite):")
            lines += [f"  {p.citation} (passage id {p.id})" for p in res.suggestions]
        else:
            lines.append("Give a citation such as 'Monitor, Vol. 3, Issue 106, ¶2', a passage id from "
                         "search or ask, a file name from list_documents, or an author.")
        return "\n".join(lines)
    out = []
    for c in res.found:
        out.append(f"{c.passage.citation} (passage id {c.passage.id})")
        if c.before:
            out.append(f"  before: {c.before.text}")
        out.append(_quote(c.passage.text))
        if c.after:
            out.append(f"  after: {c.after.text}")
    return "\n".join(out)


def documents_text(listed: list[Listed], status: Status) -> str:
    lines = [f"{status.documents} documents, {status.passages} passages (index {status.generation})"]
    for x in listed:
        d = x.document
        extra = ", ".join(e for e in (d.title and f"title: {d.title}", d.author and f"author: {d.author}",
                                      d.date and f"date: {d.date}") if e)
        lines.append(f"- {d.doc_id} [{d.file}] {d.label}: {x.passages} passages" + (f"; {extra}" if extra else ""))
    return "\n".join(lines)


def change_text(change: Change) -> str:
    lines = [f"{f.status}: {f.original}" + (f" -> {f.file}" if f.file else "") + (f" ({f.detail})" if f.detail else "")
             for f in change.files]
    lines += [f"removed: {name}" for name in change.removed]
    if change.index:
        r = change.index
        lines.append(f"index: {r.documents} documents, {r.passages} passages (generation {r.generation})")
    return "\n".join(lines)
