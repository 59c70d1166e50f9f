"""What a reader returns: a document's text and the metadata found in the file itself."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Extracted:
    text: str                           # paragraphs separated by blank lines, normalized (rag.readers.decoding.normalize)
    title: str = ""
    author: str = ""
    date: str = ""
    pages: tuple[int, ...] = ()         # PDF: offset in `text` where each page starts
    publication: str = ""               # HTML: the site's name
