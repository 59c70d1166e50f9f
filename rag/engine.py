"""The library's front door: Engine wires the stages (build, load, search, ask, cite).

One Engine is shared by every CLI call or Streamlit session. It is thread-safe: the loaded index is
an immutable Snapshot swapped in one assignment, and the embedder serialises its own encoding.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import answer as A
from . import build as B
from . import cite as C
from . import filters as F
from . import library
from . import retrieve as R
from .config import READERS, Settings
from .embed import Embedder, load_embedder, onnx_dir_for
from .schema import (Answer, BadInput, BuildReport, Change, DocFilter, Document, Hit, IndexMismatch, IndexNotBuilt,
                     Listed, Lookup, Passage, RagError, Status, Upload)
from .snapshot import Snapshot
from .text import clean

log = logging.getLogger("rag")
EMBEDDER_LOADS = 0     # embedders loaded by this process: one per shared engine (the load test counts them)
_LOADS = threading.Lock()


def _loaded(emb: Embedder) -> Embedder:
    """Count and log (at INFO) one embedder load."""
    global EMBEDDER_LOADS
    with _LOADS:
        EMBEDDER_LOADS += 1
        n = EMBEDDER_LOADS
    log.info("loaded the %s embedder for %s (load %d in this process)", emb.backend, emb.name, n)
    return emb


class Engine:
    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None,
                 answer_params: A.AnswerParams | None = None):
        self.settings = settings or Settings.from_env()
        self.answer_params = answer_params or A.AnswerParams(threshold=self.settings.min_sentence_score,
                                                             max_sentences=self.settings.answer_sentences)
        self._embedder = embedder
        self._snap: Snapshot | None = None
        self._lock = threading.RLock()
        self.last_build: BuildReport | None = None    # what the most recent build in this process did
        self._current: tuple = (None, "")            # (stat stamp of CURRENT, the name it held)

    # -- index ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings | None = None, build_if_missing: bool = True, progress=None,
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

    def build(self, rebuild: bool = False, progress=None) -> BuildReport:
        """Index the documents folder (only what changed, unless rebuild) and serve the result."""
        with self._lock:
            try:
                previous = self._snapshot()
            except Exception:   # a missing or broken index is simply not reused
                previous = None
            report = B.build(self.settings, self._build_embedder, previous, rebuild, progress)
            if report.rebuilt:   # an unchanged corpus keeps the generation already loaded (no second load)
                self._snap = None
            self._snapshot()
            self.last_build = report
            return report

    def _snapshot(self) -> Snapshot:
        """The loaded index, reloaded when another process has published a newer generation."""
        snap = self._snap
        if snap is not None and self._live_generation() == snap.generation:
            return snap
        with self._lock:
            if self._snap is None or self._live_generation() != self._snap.generation:
                self._snap = Snapshot.load(self.settings.index_dir, self.settings.model)
            return self._snap

    def _live_generation(self) -> str:
        """The name in CURRENT. Publishing replaces CURRENT by rename, so while its inode, size and
        mtime are unchanged the name read last time still holds (one stat per query, no read)."""
        path = self.settings.index_dir / "CURRENT"
        try:
            st = os.stat(path)
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            if stamp != self._current[0]:
                self._current = (stamp, path.read_text(encoding="ascii").strip())
            return self._current[1]
        except OSError:
            return ""

    def embedder(self, quiet: bool = False) -> Embedder:
        """The query encoder: the verified ONNX export when there is one (no torch), else
        sentence-transformers, with a one-time notice saying so (unless `quiet`)."""
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    s = self.settings
                    emb = _loaded(load_embedder(s.model, s.backend, onnx_dir_for(s.index_dir, s.model),
                                                s.batch_size))
                    expected = self._manifest_onnx()
                    if emb.backend == "onnx" and expected and getattr(emb, "fingerprint", "") != expected:
                        emb = _loaded(load_embedder(s.model, "torch", None, s.batch_size))
                        log.warning("the ONNX export does not match the index manifest; using sentence-transformers")
                    elif emb.backend == "torch" and s.backend == "auto" and not quiet:
                        log.warning("no verified ONNX export of %s; using sentence-transformers (slower start). "
                                    "`rag index` creates the export", s.model)
                    self._embedder = emb
        return self._embedder

    def _manifest_onnx(self) -> str:
        """The sha256 of model.onnx that the loaded generation was built with ("" if none)."""
        return (self._snap.manifest.get("onnx") or {}).get("model.onnx", "") if self._snap else ""

    def _build_embedder(self) -> Embedder:
        """The encoder for a build. With backend auto and no export yet, the model is exported to
        ONNX first (checked against sentence-transformers), so this build and every later query
        run without torch."""
        emb = self.embedder(quiet=True)
        if emb.backend != "torch" or self.settings.backend != "auto":
            return emb
        from . import onnx_embed
        from .export import CHECK_TEXTS, export
        where = onnx_dir_for(self.settings.index_dir, self.settings.model)
        try:
            export(emb, where, CHECK_TEXTS)
        except (RuntimeError, ValueError, RagError) as exc:
            log.warning("ONNX export failed (%s); using sentence-transformers", exc)
            return emb
        fast = onnx_embed.try_load(where, self.settings.model)
        if fast is not None:
            self._embedder = _loaded(fast)
        return self._embedder

    # -- queries -------------------------------------------------------------------------------
    def search(self, question: str, *, k: int | None = None, mode: str | None = None,
               where: DocFilter | None = None, answers_only: bool = False) -> list[Hit]:
        """Ranked passages for a question, from the documents `where` allows. Raises BadInput for an
        empty question, an unknown mode or k, or a filter no document matches."""
        question, _ = self.check_question(question)
        return self._search(self._snapshot(), question, k=k, mode=mode, where=where, answers_only=answers_only)[0]

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
        question, notice = self.check_question(question)
        snap = self._snapshot()
        hits, qvec, qtokens = self._search(snap, question, k=k, mode=mode, where=where, answers_only=True)
        if qvec is None:    # keyword mode: the answer still needs the question's vector
            qvec = self._encode(snap, question)
        lex, sentences = snap.lexical, lambda h: snap.sentences_of(h.row)
        ans = A.compose(question, qvec, qtokens, hits, sentence_vectors=sentences,
                        tokenize=lex.tokenize, params=self.answer_params,
                        unknown=A.salient_unknown(question, lex.vocabulary(), lex.tokenize),
                        mode=mode or self.settings.mode, notice=notice)
        if reader == "llm":
            from .llm import client, reader as llm_reader     # lazily: the default path never loads them
            ans = llm_reader.read(question, hits, ans, endpoint=client.Endpoint.from_settings(self.settings),
                                  encode=self.embedder().encode_queries, sentence_vectors=sentences,
                                  on_text=on_text)
        return replace(ans, seconds=time.perf_counter() - t0, generation=snap.generation)

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
        if not isinstance(question, str):
            raise BadInput("the question must be text")
        question = clean(unicodedata.normalize("NFC", question.encode("utf-8", "ignore").decode("utf-8")))
        if not question:
            raise BadInput("empty question; type a question about the documents")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            return question[:limit], f"question truncated to its first {limit} characters"
        return question, ""

    def _search(self, snap: Snapshot, question: str, *, k, mode, where, answers_only):
        s = self.settings
        k, mode = k or s.k, mode or s.mode
        if mode != s.mode or k != s.k:
            s.with_(k=k, mode=mode)   # validates both
        allowed = self._allowed(snap, where, answers_only)
        qtokens = snap.lexical.tokenize(question)
        qvec = self._encode(snap, question) if mode != "keyword" else None
        ranked = R.rank(snap, qvec, qtokens, mode, k, s.candidates, s.fusion, s.rrf_k, s.dense_weight, allowed,
                        s.sentence_share, s.keyword_floor)
        hits = [_hit(snap, r, sc, i + 1, d, lx) for i, (r, sc, d, lx) in enumerate(zip(
                ranked.rows.tolist(), ranked.scores, ranked.dense, ranked.lexical))]
        return hits, qvec, qtokens

    def _encode(self, snap: Snapshot, question: str) -> np.ndarray:
        """The question's vector, refusing an encoder whose dimension differs from the index's."""
        emb = self.embedder()
        if emb.dim != int(snap.manifest.get("dim", emb.dim)):
            raise IndexMismatch(f"the question's vector has {emb.dim} dimensions but the index holds "
                                f"{snap.manifest.get('dim')}-d vectors (built with {snap.manifest.get('model')!r}, "
                                f"encoder {emb.name!r}); run: python -m rag index --rebuild")
        return emb.encode_queries([question])[0]

    def _allowed(self, snap: Snapshot, where: DocFilter | None, answers_only: bool) -> np.ndarray | None:
        """The rows a search may return (sorted), or None for every row."""
        ids = F.select(snap.documents, where)
        if ids is None:
            return snap.answer_rows if answers_only else None
        rows = np.concatenate([snap.doc_rows.get(i, np.zeros(0, np.int64)) for i in ids])
        if answers_only:
            rows = rows[~snap.passages.boilerplate[rows]]
        return np.sort(rows)

    # -- the collection ------------------------------------------------------------------------
    def status(self) -> Status:
        """What is loaded. Raises IndexNotBuilt when there is no index yet."""
        snap = self._snapshot()
        m = snap.manifest
        return Status(snap.generation, len(snap.documents), len(snap.passages), str(m.get("model", "")),
                      int(m.get("dim", 0)), str(m.get("built_at", "")),
                      self._embedder.backend if self._embedder else "not loaded", str(self.settings.index_dir))

    def documents(self) -> list[Listed]:
        """The indexed documents, in index order, with their passage counts."""
        snap = self._snapshot()
        return [Listed(d, len(snap.doc_rows.get(d.doc_id, ()))) for d in snap.documents]

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
        report = self.build(progress=progress) if changed or not self._has_index() else None
        return Change(files=tuple(files), index=report)

    def remove(self, names: Sequence[str], *, progress=None) -> Change:
        """Delete documents (by id, file name or original name) and update the index. Raises
        BadInput, changing nothing, when a name is unknown or ambiguous."""
        removed = library.remove(self.settings, list(names))
        return Change(removed=tuple(removed), index=self.build(progress=progress))

    def rebuild(self, *, progress=None) -> BuildReport:
        """Re-read and re-embed every document."""
        return self.build(rebuild=True, progress=progress)

    def _has_index(self) -> bool:
        return bool(self._live_generation())


def _hit(snap: Snapshot, row: int, score, rank: int, dense, lexical) -> Hit:
    p = snap.passages[row]
    return Hit(p, float(score), rank, _num(dense), _num(lexical), row, snap.labels.get(p.doc_id, ""))


def _num(x) -> float | None:
    return None if x is None or np.isnan(x) else float(x)

