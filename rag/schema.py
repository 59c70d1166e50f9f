"""The records that cross module lines: Document, Passage, Hit, Sentence, Answer, Lookup, and the
front door's DocFilter, Added, Change, Listed and Status. Each record's to_json() is the one JSON
contract, shared by the CLI's --json, the HTTP API and the MCP tools."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


class RagError(Exception):
    """A domain error whose message tells the user what to do. Exit code 1."""


class BadInput(RagError):
    """The user's input cannot be used (empty question, unknown reference…). Exit code 2."""


class IndexNotBuilt(RagError):
    """No index at the configured place."""


class IndexMismatch(RagError):
    """The index on disk does not match the settings, or failed verification."""


@dataclass(frozen=True)
class Document:
    doc_id: str            # file stem, made safe; the prefix of every passage id
    file: str              # file name inside the documents folder
    sha256: str
    title: str = ""
    author: str = ""
    publication: str = ""
    volume: str = ""
    issue: str = ""
    date: str = ""
    label: str = ""        # how citations name the document, e.g. "Monitor, Vol. 3, Issue 106"
    original: str = ""     # the name the file had when it was added (display only; never a path)
    pages: int = 0         # PDF: number of pages

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Passage:
    id: str                # "<doc_id>:<paragraph>" or "<doc_id>:<paragraph>.<part>" for split paragraphs
    doc_id: str
    para: int              # paragraph number within the document, 1-based, as cited with ¶
    part: int              # 0 when the paragraph is whole, else 1.. for token-length pieces
    text: str              # cleaned text (whitespace collapsed, markdown emphasis and escapes removed)
    start: int             # character offsets into the text read from the file (decoded, or extracted from HTML/PDF)
    end: int
    citation: str          # human label, e.g. "Monitor, Vol. 3, Issue 106, ¶2"
    section: str = ""
    boilerplate: bool = False
    sentences: tuple[tuple[int, int], ...] = ()   # sentence spans within `text`
    page: int = 0          # PDF: the page the paragraph starts on (cited as "p. 4, ¶2", ¶ counted on the page)

    def sentence_texts(self) -> list[str]:
        return [self.text[a:b] for a, b in self.sentences]

    def to_json(self) -> dict:
        d = asdict(self)
        d["sentences"] = [list(s) for s in self.sentences]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Passage":
        d = dict(d)
        d["sentences"] = tuple(tuple(s) for s in d.get("sentences", ()))
        return cls(**d)


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float           # fused score (or the single retriever's score)
    rank: int              # 1-based
    dense: float | None = None     # cosine similarity, when dense retrieval ran
    lexical: float | None = None   # BM25 score, when keyword retrieval ran
    row: int = -1                  # the passage's row in the index it came from (-1: not from an index)
    doc_label: str = ""            # how citations name the passage's document

    def to_json(self) -> dict:
        p = self.passage
        return {"id": p.id, "citation": p.citation, "doc": p.doc_id, "doc_label": self.doc_label,
                "score": round(float(self.score), 6), "rank": self.rank,
                "dense": _round(self.dense), "lexical": _round(self.lexical), "text": p.text}


@dataclass(frozen=True)
class Sentence:
    text: str
    citations: tuple[str, ...]     # passage ids; the sentence occurs verbatim in each
    marker: int                    # the [n] shown after the sentence: 1-based rank of the cited hit
    start: int = 0                 # span within the cited passage's text
    end: int = 0
    score: float = 0.0
    short: tuple[int, int] | None = None     # the short answer's span within `text` (a name, a date, a figure)
    verified: bool = True          # a quote is verified by construction; an LLM's sentence by rag.llm.verify
    # An LLM's sentence is its own words: `start`/`end` then give the supporting sentence in citations[0].

    def to_json(self) -> dict:
        return {"text": self.text, "citations": list(self.citations), "marker": self.marker,
                "score": round(self.score, 4), "short": list(self.short) if self.short else None,
                "verified": self.verified, "passage": self.citations[0] if self.citations else None,
                "span": [self.start, self.end]}


@dataclass(frozen=True)
class Rejected:
    """A generated sentence that failed verification: never shown as part of the answer."""
    text: str
    cited: tuple[str, ...]         # the passage ids it cited (may be empty)
    reason: str                    # e.g. "names 'Kawamura', not in [2]"


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    supported: bool
    sentences: tuple[Sentence, ...]
    hits: tuple[Hit, ...]
    notice: str = ""               # e.g. "question truncated to 2000 characters"
    mode: str = "hybrid"
    seconds: float = 0.0
    short: str = ""                # the short answer, verbatim from the first sentence that holds one
    reader: str = "extractive"     # "llm" when the sentences are an LLM's, each verified
    rejected: tuple[Rejected, ...] = ()   # the LLM's sentences that failed verification
    generation: str = ""           # the index generation every passage and sentence came from

    def to_json(self) -> dict:
        out = {"question": self.question, "answer": self.answer, "supported": self.supported,
               "short_answer": self.short, "reader": self.reader,
               "sentences": [s.to_json() for s in self.sentences],
               "rejected": [{"text": r.text, "cited": list(r.cited), "reason": r.reason} for r in self.rejected],
               "passages": [h.to_json() for h in self.hits],
               "mode": self.mode, "generation": self.generation}
        if self.notice:
            out["notice"] = self.notice
        return out


@dataclass(frozen=True)
class Context:
    passage: Passage
    before: Passage | None
    after: Passage | None

    def to_json(self) -> dict:
        p = self.passage
        return {"id": p.id, "citation": p.citation, "doc": p.doc_id, "text": p.text,
                "before": self.before.text if self.before else "",
                "after": self.after.text if self.after else ""}


@dataclass(frozen=True)
class Lookup:
    ref: str
    found: tuple[Context, ...]             # exact resolution of the reference
    suggestions: tuple[Passage, ...] = ()  # closest matches when nothing resolved
    message: str = ""

    def to_json(self) -> dict:
        return {"ref": self.ref, "passages": [c.to_json() for c in self.found],
                "suggestions": [{"id": p.id, "citation": p.citation, "doc": p.doc_id}
                                for p in self.suggestions],
                "message": self.message}


@dataclass(frozen=True)
class BuildReport:
    documents: int
    passages: int
    new: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()   # (file, reason)
    seconds: float = 0.0
    generation: str = ""
    rebuilt: bool = True                         # False when nothing changed and no new generation was written
    embedded: int = 0                            # passages sent to the model
    notice: str = ""                             # why nothing was reused, when an old index was set aside
    written: str = "whole"                       # "update": over the previous generation (rag.store.delta_write)
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"documents": self.documents, "passages": self.passages, "new": list(self.new),
                "unchanged": list(self.unchanged), "removed": list(self.removed),
                "skipped": [{"file": f, "reason": w} for f, w in self.skipped], "seconds": round(self.seconds, 3),
                "generation": self.generation, "rebuilt": self.rebuilt, "embedded": self.embedded,
                "written": self.written, **({"notice": self.notice} if self.notice else {})}


@dataclass(frozen=True)
class DocFilter:
    """Which documents a question may draw on; every given part must match. Empty: all documents.
    documents: id, file name, original name or its stem; authors: part of the name (any case);
    since/until: dates as written (1999, 1999-03, 1999-03-04), inclusive."""
    documents: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    since: str = ""
    until: str = ""

    def __bool__(self) -> bool:
        return bool(self.documents or self.authors or self.since or self.until)


@dataclass(frozen=True)
class Upload:
    """A file's bytes as a client sent them, with the name it had there (display only: the stored
    name is chosen by the server)."""
    name: str
    data: bytes


@dataclass(frozen=True)
class Added:
    """What became of one file offered to the collection."""
    original: str          # the name as given (display only)
    file: str = ""         # the stored name inside the documents folder ("" when not stored)
    status: str = "added"  # added | updated | duplicate | refused
    detail: str = ""       # the reason, for duplicate and refused

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Change:
    """A change to the collection: the files added or removed, and the index update that followed
    (None when nothing needed indexing)."""
    files: tuple[Added, ...] = ()
    removed: tuple[str, ...] = ()
    index: BuildReport | None = None

    @property
    def refused(self) -> tuple[Added, ...]:
        return tuple(f for f in self.files if f.status == "refused")

    def to_json(self) -> dict:
        return {"files": [f.to_json() for f in self.files], "removed": list(self.removed),
                "index": self.index.to_json() if self.index else None}


@dataclass(frozen=True)
class Listed:
    """A document of the loaded index and how many passages it has."""
    document: Document
    passages: int

    def to_json(self) -> dict:
        return {**self.document.to_json(), "passages": self.passages}


@dataclass(frozen=True)
class Status:
    generation: str
    documents: int
    passages: int
    model: str
    dim: int
    built_at: str
    backend: str           # the query encoder's runtime, or "not loaded"
    index_dir: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Verified:
    """`rag verify`: every file of a generation hashed whole and found as it was built."""
    generation: str
    files: int             # the manifest and the files it lists
    bytes: int
    seconds: float

    def to_json(self) -> dict:
        return asdict(self)


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)
