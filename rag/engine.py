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
from typing import Callable

import numpy as np

from . import answer as A
from . import build as B
from . import cite as C
from . import filters as F
from . import retrieve as R
from .config import READERS, Settings
from .embed import Embedder, load_embedder, onnx_dir_for
from .schema import Answer, BadInput, BuildReport, Hit, IndexMismatch, IndexNotBuilt, Lookup, RagError
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
            engine.snapshot()
        except IndexNotBuilt:
            if not build_if_missing:
                raise
            engine.build(progress=progress)
        return engine

    def build(self, rebuild: bool = False, progress=None) -> BuildReport:
        """Index the documents folder (only what changed, unless rebuild) and serve the result."""
        with self._lock:
            try:
                previous = self.snapshot()
            except Exception:   # a missing or broken index is simply not reused
                previous = None
            report = B.build(self.settings, self._build_embedder, previous, rebuild, progress)
            if report.rebuilt:   # an unchanged corpus keeps the generation already loaded (no second load)
                self._snap = None
            self.snapshot()
            self.last_build = report
            return report

    def snapshot(self) -> Snapshot:
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
    def search(self, question: str, k: int | None = None, mode: str | None = None,
               docs: list[str] | None = None, answers_only: bool = False) -> list[Hit]:
        """Ranked passages for a question. Raises BadInput for an empty question or unknown docs."""
        question, _ = self.check_question(question)
        return self._search(self.snapshot(), question, k, mode, docs, answers_only)[0]

    def ask(self, question: str, k: int | None = None, mode: str | None = None,
            docs: list[str] | None = None, reader: str | None = None,
            on_text: Callable[[str], None] | None = None) -> Answer:
        """A cited answer, or an abstention that still lists the nearest passages. Reader "llm" keeps
        only an LLM's sentences verified against the passage they cite, else the extractive answer with
        a note (rag.llm.reader); `on_text` gets the LLM's unverified words as they stream."""
        t0 = time.perf_counter()
        reader = reader or self.settings.reader
        if reader not in READERS:
            raise BadInput(f"reader must be one of {', '.join(READERS)}; got {reader!r}")
        question, notice = self.check_question(question)
        snap = self.snapshot()
        hits, qvec, qtokens = self._search(snap, question, k, mode, docs, answers_only=True)
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
        return _with_time(ans, time.perf_counter() - t0)

    def cite(self, ref: str) -> Lookup:
        snap = self.snapshot()
        return C.lookup(ref, snap.documents, snap.passages.of_document)

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

    def _search(self, snap: Snapshot, question: str, k, mode, docs, answers_only):
        s = self.settings
        k, mode = k or s.k, mode or s.mode
        if mode != s.mode or k != s.k:
            s.with_(k=k, mode=mode)   # validates both
        allowed = self._allowed(snap, docs, answers_only)
        qtokens = snap.lexical.tokenize(question)
        qvec = self._encode(snap, question) if mode != "keyword" else None
        ranked = R.rank(snap, qvec, qtokens, mode, k, s.candidates, s.fusion, s.rrf_k, s.dense_weight, allowed,
                        s.sentence_share, s.keyword_floor)
        hits = [Hit(snap.passages[r], float(sc), i + 1, _num(d), _num(lx), r)
                for i, (r, sc, d, lx) in enumerate(zip(ranked.rows.tolist(), ranked.scores, ranked.dense,
                                                       ranked.lexical))]
        return hits, qvec, qtokens

    def _encode(self, snap: Snapshot, question: str) -> np.ndarray:
        """The question's vector, refusing an encoder whose dimension differs from the index's."""
        emb = self.embedder()
        if emb.dim != int(snap.manifest.get("dim", emb.dim)):
            raise IndexMismatch(f"the question's vector has {emb.dim} dimensions but the index holds "
                                f"{snap.manifest.get('dim')}-d vectors (built with {snap.manifest.get('model')!r}, "
                                f"encoder {emb.name!r}); run: python -m rag index --rebuild")
        return emb.encode_queries([question])[0]

    def _allowed(self, snap: Snapshot, docs, answers_only: bool) -> np.ndarray | None:
        """The rows a search may return (sorted), or None for every row."""
        if not docs:
            return snap.answer_rows if answers_only else None
        ids = F.select(snap.documents, names=docs)
        rows = np.concatenate([snap.doc_rows.get(i, np.zeros(0, np.int64)) for i in ids])
        if answers_only:
            rows = rows[~snap.passages.boilerplate[rows]]
        return np.sort(rows)

    def status(self) -> dict:
        snap = self.snapshot()
        m = snap.manifest
        return {"generation": snap.generation, "documents": len(snap.documents), "passages": len(snap.passages),
                "model": m.get("model"), "dim": m.get("dim"), "built_at": m.get("built_at"),
                "backend": self._embedder.backend if self._embedder else "not loaded",
                "index_dir": str(self.settings.index_dir)}


def _num(x) -> float | None:
    return None if x is None or np.isnan(x) else float(x)


def _with_time(ans: Answer, seconds: float) -> Answer:
    return replace(ans, seconds=seconds)

