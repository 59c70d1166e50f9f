"""rag: ask questions of a document collection and get answers cited to the paragraph.

Public API: Engine, Settings and the records in rag.schema. Imports are lazy so that the CLI's
--help and the app's first paint do not wait for numpy, faiss or a model.
"""
from .config import Settings
from .schema import (Added, Answer, BadInput, BuildReport, Change, DocFilter, Document, Hit, IndexMismatch,
                     IndexNotBuilt, Listed, Lookup, Passage, RagError, Status, Upload)

__all__ = ["Engine", "Settings", "Answer", "Document", "Hit", "Lookup", "Passage", "DocFilter", "Upload",
           "Added", "Change", "Listed", "Status", "BuildReport",
           "RagError", "BadInput", "IndexNotBuilt", "IndexMismatch"]


def __getattr__(name: str):
    if name == "Engine":
        from .engine import Engine
        return Engine
    raise AttributeError(name)
