"""Keyword search for large corpora: tantivy finds the candidates (block-max WAND skips postings
that cannot reach the top k), then exact BM25 with our k1, b and bm25s's formula scores them from a forward index, so
scores match the small-corpus engine (bm25s) and fusion sees the same numbers. The only module that
imports tantivy.

Tantivy's own BM25 has fixed k1 1.2, b 0.75 and lossy length norms, so it only proposes: it returns
OVERFETCH times the wanted rows and the exact scores choose among them.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tantivy

from . import lexical_forward as F
from .lexical_forward import bm25

# Candidates asked of tantivy per wanted row. Over the 1,109 SciFact queries, the exact top 100
# shares 94.2% / 98.3% / 99.3% / 99.7% of its rows with bm25s's at 1x / 2x / 3x / 4x (the rest
# differ near rank 100); SciFact nDCG@10 is the same to four decimals from 2x on.
OVERFETCH = 3
DENSE_FILTER = 0.25    # an allowed set above this share of rows is applied after search, not inside it
HEAP_BYTES = 512_000_000


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("t", tokenizer_name="whitespace", index_option="freq")   # tokens are ours, pre-made
    sb.add_unsigned_field("row", fast=True, indexed=True)
    return sb.build()


def _mapped(file) -> tuple[np.ndarray, Callable[[np.ndarray, np.ndarray], None]]:
    """A 1-d .npy file opened as a blocks.Checked: the array, mapped, and check(lo, hi), which verifies
    the blocks under elements lo[i]:hi[i] before they are read."""
    fmt = np.lib.format
    read_header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}[fmt.read_magic(file)]
    shape, fortran, dtype = read_header(file)
    if len(shape) != 1 or fortran:
        raise ValueError(f"{file.name} holds {dtype} {shape}, not a 1-d array")
    offset, size = file.tell(), dtype.itemsize
    array = np.frombuffer(file.mapped(), dtype=dtype, count=shape[0], offset=offset)
    return array, lambda lo, hi: file.verify_spans(offset + lo * size, offset + hi * size)


class TantivyEngine:
    """Rows are passage rows; `row` is a fast field, so hits map to rows without reading documents."""

    def __init__(self, path: Path, fwd: dict, vocab: list[str], *, k1: float, b: float, df: np.ndarray | None = None,
                 checks: tuple = ()):
        self.path, self.fwd, self.k1, self.b = Path(path), fwd, k1, b
        self.terms = {t: i for i, t in enumerate(vocab)}
        self.n = len(fwd["lengths"])
        # document frequencies: saved at build (counting them again read 226 MB and took 2 s at 1M rows)
        self.df = np.bincount(fwd["terms"], minlength=len(vocab)) if df is None else df
        if self.df.shape != (len(vocab),):
            raise ValueError(f"df.npy has {self.df.shape} entries for {len(vocab)} terms")
        df = self.df
        self.idf = F.idf(df, self.n)
        self.dead: np.ndarray | None = None   # rows an update took out (rag.lexical_delta), never returned
        self.index = tantivy.Index.open(str(path))
        self.checked = checks        # check(lo, hi) of each block-checked forward array (load)
        self.searcher, self.schema = self.index.searcher(), _schema()

    @classmethod
    def build(cls, tokens, k1: float, b: float) -> "TantivyEngine":
        """From an iterable of each row's tokens, consumed once (tantivy and the forward arrays are fed
        a row at a time: no list of every row's tokens is held)."""
        tmp = Path(tempfile.mkdtemp(prefix="rag-tantivy-"))
        (tmp / "tantivy").mkdir()
        index = tantivy.Index(_schema(), path=str(tmp / "tantivy"))
        writer = index.writer(heap_size=HEAP_BYTES, num_threads=1)
        forward = F.Forward()
        for row, doc in enumerate(tokens):
            d = tantivy.Document()
            d.add_text("t", " ".join(doc))
            d.add_unsigned("row", row)
            writer.add_document(d)
            forward.add(doc)
        writer.commit()
        writer.wait_merging_threads()
        del writer
        vocab, lengths, indptr, terms, tfs = forward.arrays()
        fwd = {"lengths": lengths, "indptr": indptr, "terms": terms, "tfs": tfs,
               "avglen": float(lengths.mean()) if len(lengths) else 1.0}
        engine = cls(tmp / "tantivy", fwd, list(vocab), k1=k1, b=b)
        weakref.finalize(engine, shutil.rmtree, tmp, True)
        return engine

    def save(self, folder: Path) -> None:
        (folder / "tantivy").mkdir(parents=True, exist_ok=True)
        for f in self.path.iterdir():
            if f.is_file() and not f.name.endswith(".lock"):
                shutil.copyfile(f, folder / "tantivy" / f.name)
        F.save(folder, self.fwd, self.df, sorted(self.terms, key=self.terms.get))
        (folder / "params.json").write_text(json.dumps({"k1": self.k1, "b": self.b}), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, *, opened: dict | None = None) -> "TantivyEngine":
        """`opened`: "terms" and "tfs" as files checked block by block (rag.store.blocks.Checked), mapped
        here and verified per query for the rows scored; without them the arrays are mapped by path."""
        fwd = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
               for name in ("lengths", "indptr") + tuple(n for n in ("terms", "tfs") if n not in (opened or {}))}
        checked = {name: _mapped(f) for name, f in (opened or {}).items() if name in ("terms", "tfs")}
        fwd.update({name: array for name, (array, _) in checked.items()})
        fwd["avglen"] = float(np.mean(fwd["lengths"])) if len(fwd["lengths"]) else 1.0
        vocab = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
        params = json.loads((folder / "params.json").read_text(encoding="utf-8"))
        df = np.load(folder / "df.npy", allow_pickle=False) if (folder / "df.npy").exists() else None
        return cls(folder / "tantivy", fwd, vocab, k1=float(params["k1"]), b=float(params["b"]), df=df,
                   checks=tuple(check for _, check in checked.values()))

    def ids(self, tokens: list[str]) -> list[int]:
        return [self.terms[t] for t in tokens if t in self.terms]

    def ceiling(self, tokens: list[str]) -> float:
        return float(self.idfs(tokens).sum())

    def idfs(self, tokens: list[str]) -> np.ndarray:
        ids = np.array([self.terms.get(t, -1) if t else -1 for t in tokens], dtype=np.int64)
        known = ids >= 0
        out = np.zeros(len(ids))
        out[known] = np.where(self.df[ids[known]] > 0, self.idf[ids[known]], 0.0)   # an update may leave a term no row
        return out

    def score_rows(self, tokens: list[str], rows: np.ndarray) -> np.ndarray:
        qids = np.asarray(self.ids([t for t in tokens if t]), dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        if len(qids) == 0 or len(rows) == 0:
            return np.zeros(len(rows), dtype=np.float32)
        indptr = self.fwd["indptr"]
        for check in self.checked:   # the rows' spans of the forward arrays, verified before they are read
            check(np.asarray(indptr[rows]), np.asarray(indptr[rows + 1]))
        return bm25(qids, rows, self.fwd, idf=self.idf, k1=self.k1, b=self.b)

    def top(self, tokens: list[str], n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The n best rows with a positive score (ties by row), and their exact scores."""
        known = [t for t in tokens if t and t in self.terms]
        if not known or n <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        query = tantivy.Query.boolean_query([(tantivy.Occur.Should, tantivy.Query.term_query(
            self.schema, "t", t, index_option="freq")) for t in dict.fromkeys(known)])
        mask = None
        if allowed is not None and self.dead is not None and len(allowed) < DENSE_FILTER * self.n:
            allowed = allowed[~self.dead[allowed]]
        if allowed is not None and len(allowed) < DENSE_FILTER * self.n:   # few rows: filter inside tantivy
            keep = tantivy.Query.term_set_query(self.schema, "row", [int(r) for r in allowed])
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must,
                                                 tantivy.Query.const_score_query(keep, 0.0))])
        elif allowed is not None:                                           # most rows: filter after
            mask = np.zeros(self.n, dtype=bool)
            mask[allowed] = True
            if self.dead is not None:
                mask &= ~self.dead
        elif self.dead is not None:                                         # every row an update kept
            mask = ~self.dead
        limit = max(n * OVERFETCH, n + 20)
        while True:
            hits = self.searcher.search(query, limit, count=False).hits
            rows = np.asarray(self.searcher.fast_field_values("row", [a for _, a in hits]), dtype=np.int64)
            kept = rows if mask is None else rows[mask[rows]]
            if mask is None or len(kept) >= limit // OVERFETCH or len(hits) < limit:
                break
            limit *= 4
        scores = self.score_rows(known, kept)
        order = np.lexsort((kept, -scores))[:n]
        return kept[order], scores[order]

    def vocabulary(self) -> frozenset[str]:
        return frozenset(self.terms)
