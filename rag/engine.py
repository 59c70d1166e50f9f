"""The library's front door: Engine wires the stages (build, load, search, ask, cite) and is the whole
public API of the library; the app, the CLI, the servers and the benchmarks use nothing else.

One Engine is shared by every CLI call or Streamlit session. It is thread-safe: the loaded index is
an immutable Snapshot swapped in one assignment, and the embedder serialises its own encoding.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import answer as A
from . import build as B
from . import cite as C
from . import filters as F
from . import library
from . import query as Q
from . import retrieve as R
from .config import READERS, Settings
from .embed import choose as E
from .embed.protocol import Embedder
from .lexical import Lexical
from .query import Retrieval
from .schema import (Answer, BadInput, BuildReport, Change, DocFilter, Document, Hit, IndexNotBuilt, Listed, Lookup,
                     Passage, Status, Upload, Verified)
from .store import choose as stores
from .store import layout
from .store.interface import Store


class Engine:
    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None,
                 answer_params: A.AnswerParams | None = None):
        self.settings = settings or Settings.from_env()
        self.answer_params = answer_params or A.AnswerParams(threshold=self.settings.min_sentence_score,
                                                             max_sentences=self.settings.answer_sentences)
        self._embedder = embedder
        self._snap: Store | None = None
        self._lock = threading.RLock()
        self.last_build: BuildReport | None = None    # what the most recent build in this process did
        self._current = stores.pointer(self.settings)   # what names the live generation

    # -- index ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings | None = None, *, build_if_missing: bool = True, progress=None,
             embedder: Embedder | None = None) -> "Engine":
        """An engine with its index loaded, building it first when there is none."""
        engine = cls(settings, embedder)
        try:
            engine._snapshot()
        except IndexNotBuilt:
            if not build_if_missing:
                raise
            engine.build(progress=progress)
        return engine

    def build(self, rebuild: bool = False, progress=None, *, ray: str | None = None,
              compact: bool = False) -> BuildReport:
        """Index the documents folder (only what changed, unless rebuild) and serve the result. With `ray`
        (a cluster's HEAD:PORT) the new or changed documents are encoded on that Ray cluster. With
        `compact` the index is written whole, never as an update over the last one (rag.store.delta_write)."""
        with self._lock:
            previous = None
            if not rebuild:     # a rebuild re-reads everything: the old generation is not even loaded
                try:
                    previous = stores.staged(self.settings, self._snapshot)
                except Exception:   # a missing or broken index is simply not reused
                    previous = None
            with self._encoders(ray) as get_embedder:
                report = B.build(self.settings, get_embedder, previous=previous, rebuild=rebuild,
                                 compact=compact, progress=progress)
            previous = None      # not held while the new generation loads
            if not stores.is_local(self.settings):   # the staged generation goes to the remote store
                stores.publish(self.settings, fresh=rebuild)
            if report.rebuilt:   # an unchanged corpus keeps the generation already loaded (no second load)
                self._snap = None
            self._snapshot()
            self.last_build = report
            return report

    def _snapshot(self) -> Store:
        """The loaded index, reloaded when another process has published a newer generation."""
        snap = self._snap
        if snap is not None and self._current.name() == snap.generation:
            return snap
        with self._lock:
            if self._snap is None or self._current.name() != self._snap.generation:
                self._snap = stores.load(self.settings)
            return self._snap

    def embedder(self, quiet: bool = False) -> Embedder:
        """The query encoder, loaded once (rag.embed.choose picks it): the verified ONNX export when
        there is one (no torch), else sentence-transformers, with a notice saying so (unless `quiet`)."""
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    onnx = (self._snap.manifest.get("onnx") or {}) if self._snap else {}   # hashes and encoder
                    self._embedder = E.choose(self.settings, expected=onnx, quiet=quiet)
        return self._embedder

    def _build_embedder(self) -> Embedder:
        """The encoder for a build: the model is exported to ONNX first when that makes the build and
        later queries torch-free (rag.embed.choose.for_build)."""
        self._embedder = E.for_build(self.settings, self.embedder(quiet=True))
        return self._embedder

    def _encoders(self, ray: str | None):
        """A build's embedder maker, as a context: _build_embedder, or with `ray` its encoder fanned out
        to the Ray cluster at that address (rag.embed.ray_encode, the only importer of ray: only then)."""
        if ray is None:
            return contextlib.nullcontext(self._build_embedder)
        from .embed import ray_encode
        return ray_encode.Encoders(ray, self._build_embedder, self.settings)

    # -- queries -------------------------------------------------------------------------------
    def search(self, question: str, *, k: int | None = None, mode: str | None = None,
               where: DocFilter | None = None, answers_only: bool = False) -> list[Hit]:
        """Ranked passages for a question, from the documents `where` allows. Raises BadInput for an
        empty question, an unknown mode or k, or a filter no document matches."""
        return self.retrieve(question, k=k, mode=mode, where=where, answers_only=answers_only).hits

    def retrieve(self, question: str, *, k: int | None = None, mode: str | None = None,
                 where: DocFilter | None = None, answers_only: bool = True) -> Retrieval:
        """What `ask` composes its answer from: the hits (from passages answers may come from, unless
        not `answers_only`), the question's vector and tokens, and the generation searched. Raises
        BadInput like `search`."""
        question, notice = self.check_question(question)
        return Q.retrieve(self._snapshot(), self.settings, self._encode, question=question, notice=notice, k=k,
                          mode=mode, where=where, answers_only=answers_only)

    def compose(self, retrieval: Retrieval, params: A.AnswerParams | None = None) -> Answer:
        """The extractive answer to a retrieval (with `params`, default the engine's answer_params)."""
        ans = Q.compose(retrieval, self._encode, params or self.answer_params)
        return replace(ans, generation=retrieval.snapshot.generation)

    def ask(self, question: str, *, k: int | None = None, mode: str | None = None,
            where: DocFilter | None = None, reader: str | None = None,
            on_text: Callable[[str], None] | None = None) -> Answer:
        """A cited answer, or an abstention that still lists the nearest passages. Reader "llm" keeps
        only an LLM's sentences verified against the passage they cite, else the extractive answer with
        a note (rag.llm.reader); `on_text` gets the LLM's unverified words as they stream."""
        t0 = time.perf_counter()
        reader = reader or self.settings.reader
        if reader not in READERS:
            raise BadInput(f"reader must be one of {', '.join(READERS)}; got {reader!r}")
        r = self.retrieve(question, k=k, mode=mode, where=where)
        ans = self.compose(r)
        if reader == "llm":
            # lazily: the default path never loads them
            from .llm import client
            from .llm import reader as llm_reader
            snap = r.snapshot
            ans = llm_reader.read(r.question, r.hits, ans, endpoint=client.Endpoint.from_settings(self.settings),
                                  encode=self.embedder().encode_queries,
                                  sentence_vectors=lambda h: snap.sentences_of(h.row), on_text=on_text)
        return replace(ans, seconds=time.perf_counter() - t0)     # compose() set the generation

    def floor(self, question: str, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the question's vector searched in the loaded vector index, and nothing
        else: the least any search costs, which benchmarks compare `search` and `ask` against."""
        return self._snapshot().dense(self.embedder().encode_queries([question])[0], k)

    def candidates(self, question: str, *, pool: int = 200, qvec: np.ndarray | None = None,
                   lexical: Lexical | None = None) -> R.Candidates:
        """What fusion sees for a question before fusing (for tuning it): each retriever's top `pool`
        rows, scored by both. `qvec`: the question's vector if already encoded; `lexical`: another
        keyword index over the same passages (default the loaded one)."""
        snap = self._snapshot()
        qvec = self._encode(snap, question) if qvec is None else qvec
        return R.candidates(snap, qvec, (lexical or snap.lexical).tokenize(question), pool=pool, lexical=lexical)

    def passage_vectors(self) -> np.ndarray:
        """Every passage's vector, in row order (the order of documents() and their passages())."""
        return self._snapshot().all_vectors()

    def cite(self, ref: str) -> Lookup:
        """The passages a citation, passage id, document or author names, each with its neighbours;
        the closest matches when nothing resolves."""
        if not isinstance(ref, str) or not ref.strip():
            raise BadInput("empty reference; give a citation such as 'Monitor, Vol. 3, Issue 106, ¶2' or a passage id")
        snap = self._snapshot()
        return C.lookup(ref[:self.settings.max_question_chars], snap.documents, snap.passages.of_document)

    def matching(self, where: DocFilter | None) -> list[str] | None:
        """The ids of the documents a filter allows (None: every document). The one place a filter is
        resolved; raises BadInput naming the choices when it matches nothing."""
        return F.select(self._snapshot().documents, where)

    def check_question(self, question: str) -> tuple[str, str]:
        """(usable question, notice). Empty input is refused; over-long input is truncated. Like the
        documents, the question is NFC-normalised and loses soft hyphens and invisible characters."""
        return Q.check_question(question, self.settings.max_question_chars)

    def _encode(self, snap: Store, question: str) -> np.ndarray:
        """The question's vector, refusing an encoder whose dimension differs from the index's."""
        emb = self.embedder()
        Q.check_dim(snap, emb.dim, emb.name)
        return emb.encode_queries([question])[0]

    # -- the collection ------------------------------------------------------------------------
    def status(self) -> Status:
        """What is loaded. Raises IndexNotBuilt when there is no index yet."""
        snap = self._snapshot()
        m = snap.manifest
        return Status(snap.generation, len(snap.documents), snap.passages.live, str(m.get("model", "")),
                      int(m.get("dim", 0)), str(m.get("built_at", "")),
                      self._embedder.backend if self._embedder else "not loaded", stores.where(self.settings))

    def verify(self) -> Verified:
        """Hash every byte of the live generation in the index folder now (a load checks the large files
        block by block as queries first read them; with a Qdrant store this is the build's staged copy).
        Raises IndexMismatch naming the damaged file, IndexNotBuilt."""
        t0 = time.perf_counter()
        name, files, size = layout.verify(self.settings.index_dir)
        return Verified(name, files, size, round(time.perf_counter() - t0, 3))

    def documents(self) -> list[Listed]:
        """The indexed documents, by file name (a build's order; an update puts its documents after the
        base's), with their passage counts."""
        snap = self._snapshot()
        return [Listed(d, len(snap.doc_rows.get(d.doc_id, ()))) for d in sorted(snap.documents, key=lambda d: d.file)]

    def document(self, doc_id: str) -> Document | None:
        return self._snapshot().document(doc_id)

    def passages(self, doc_id: str) -> list[Passage]:
        """A document's passages in reading order ([] for an unknown id)."""
        return list(self._snapshot().passages.of_document(doc_id))

    def add(self, paths: Sequence[Path | str] = (), *, uploads: Sequence[Upload] = (),
            progress=None) -> Change:
        """Copy files (or the supported files in folders) into the documents folder, store uploaded
        bytes under server-chosen names (an upload with an earlier upload's name replaces it), then
        update the index. Refused files are reported, not raised."""
        files = library.add_files(self.settings, [Path(p) for p in paths]) if paths else []
        files += [library.store_bytes(self.settings, u.name, u.data, server_name=True, replace_same_name=True)
                  for u in uploads]
        changed = any(f.status in ("added", "updated") for f in files)
        report = self.build(progress=progress) if changed or not self._current.name() else None
        return Change(files=tuple(files), index=report)

    def remove(self, names: Sequence[str], *, progress=None) -> Change:
        """Delete documents (by id, file name or original name) and update the index. Raises
        BadInput, changing nothing, when a name is unknown or ambiguous."""
        removed = library.remove(self.settings, list(names))
        return Change(removed=tuple(removed), index=self.build(progress=progress))

    def rebuild(self, *, progress=None, ray: str | None = None) -> BuildReport:
        """Re-read and re-embed every document (on the Ray cluster at `ray`, if given)."""
        return self.build(rebuild=True, progress=progress, ray=ray)
