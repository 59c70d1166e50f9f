"""The product index of benchmarks/scale_product.py: n passages written in the format rag/build.py
writes (documents.json, passages.jsonl + rows.npy, vectors.faiss, sentences.npy, bm25/, manifest)
through rag.store.publish.Writer, into .cache/scale/product-N/.

Passages: the texts of scale_data.documents (real SciFact passages, then ~80-word synthetic ones, cut
into sentences of ~20 words), 1,000 per document. Vectors: .cache/scale/vectors.npy through
rag.index.build; keyword index: rag.lexical.Lexical.build over the passage texts (context "none").
Both are taken from benchmarks/scale.py's index of the same size when it exists: the same functions
built them from the same vectors and texts (tokens ignore the capitals and full stops added here).
Sentence vectors: the passage's vector plus Gaussian noise (cosine about 0.8), normalised.
"""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scale_data as D

from rag import index as vindex
from rag import text as T
from rag.config import Settings
from rag.ingest import INGEST_VERSION
from rag.lexical import Lexical
from rag.schema import Document, Passage
from rag.store import generation, layout, publish
from rag.store import passages as passage_table

S = Settings()
PER_DOC, SENTENCE_WORDS = 1000, 20
NOISE = 0.038    # per dimension: cosine to the passage about 1 / sqrt(1 + 384 * NOISE^2) = 0.8
ONNX = Path(__file__).resolve().parent.parent / "index" / "onnx"    # the seed index's export


def folder(n: int) -> Path:
    return D.CACHE / f"product-{n}"


def sentences(text: str) -> str:
    """A real passage as it is; a synthetic run of words cut into capitalised sentences."""
    if "." in text:
        return text
    words = text.split()
    cuts = np.linspace(0, len(words), max(1, round(len(words) / SENTENCE_WORDS)) + 1).astype(int)
    return " ".join(" ".join(words[a:b]).capitalize() + "." for a, b in zip(cuts[:-1], cuts[1:]))


def corpus(n: int) -> tuple[list[Document], list[Passage]]:
    """n passages in documents of PER_DOC, with ids, citation labels and sentence spans as ingest makes."""
    texts, docs, passages = D.documents(n), [], []
    for i in range(0, n, PER_DOC):
        d = Document(doc_id=f"doc{i // PER_DOC:05d}", file=f"doc{i // PER_DOC:05d}.txt", sha256=f"{i:064x}",
                     title=f"Document {i // PER_DOC}", label=f"Doc {i // PER_DOC}")
        docs.append(d)
        for para, raw in enumerate(texts[i:i + PER_DOC], start=1):
            t = sentences(raw)
            passages.append(Passage(f"{d.doc_id}:{para}", d.doc_id, para, 0, t, 0, len(t), f"{d.label}, ¶{para}",
                                    sentences=tuple(T.split_sentences(t))))
    return docs, passages


def write_sentences(w: publish.Writer, x: np.ndarray, counts: np.ndarray) -> int:
    """sentences.npy written in chunks (constant memory): each passage's vector + noise, normalised."""
    owner, rng = np.repeat(np.arange(len(counts)), counts), np.random.default_rng(0)

    def blocks():
        for a in range(0, len(owner), 250_000):
            rows = owner[a:a + 250_000]
            v = x[rows] + NOISE * rng.standard_normal((len(rows), x.shape[1]), dtype=np.float32)
            yield v / np.linalg.norm(v, axis=1, keepdims=True)
    return generation.write_npy(w, "sentences.npy", blocks(), rows=len(owner), dim=x.shape[1])


def build(n: int) -> dict:
    """Write the size-n product index as a new generation of .cache/scale/product-N/."""
    t0 = time.perf_counter()
    docs, passages = corpus(n)
    x = np.load(D.CACHE / "vectors.npy", mmap_mode="r")[:n]
    cached = D.CACHE / f"index-{n}"
    cached = layout.current(cached) if (cached / "CURRENT").exists() else None
    with publish.Writer(folder(n)) as w:
        w.write("documents.json", json.dumps([d.to_json() for d in docs], ensure_ascii=False).encode("utf-8"))
        passage_table.write(w, passages, docs)
        if cached is not None:   # hard links: generations are immutable
            for f in [cached / "vectors.faiss", *(cached / "bm25").rglob("*")]:
                dst = w.tmp / f.relative_to(cached)
                if f.is_dir():
                    dst.mkdir(parents=True, exist_ok=True)
                else:
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    os.link(f, dst)
            w.add_file("vectors.faiss")
        else:
            w.write("vectors.faiss", vindex.to_bytes(vindex.build(np.ascontiguousarray(x))))
            Lexical.build([p.text for p in passages], S.bm25_k1, S.bm25_b, stopwords=S.stopwords).save(w.tmp / "bm25")
        w.add_folder("bm25")   # scale.py builds with the same Settings().bm25_k1 and bm25_b
        total = write_sentences(w, x, np.array([len(p.sentences) for p in passages]))
        export = json.loads(next(ONNX.glob("*/export.json")).read_text())
        name = w.publish({"model": S.model, "dim": int(x.shape[1]), "normalized": True, "metric": "inner_product",
                          "context": "none",
                          "bm25": {"k1": S.bm25_k1, "b": S.bm25_b, "stopwords": S.stopwords},
                          "answer_vectors": True, "onnx": export["sha256"],
                          "faiss_version": vindex.FAISS_VERSION, "ingest_version": INGEST_VERSION,
                          "passages": n, "sentences": total,
                          "documents": {d.doc_id: {"file": d.file, "sha256": d.sha256, "passages": PER_DOC}
                                        for d in docs},
                          "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return {"passages": n, "sentences": total, "generation": name, "reused": cached is not None,
            "build_s": time.perf_counter() - t0}
