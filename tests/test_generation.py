"""Writing a generation (rag.store.generation): sentence vectors streamed block by block give the bytes
np.save gives; an incremental build re-uses unchanged documents' vectors from disk exactly as a
from-scratch build makes them, whether the old sentence vectors were in memory or on disk."""
from __future__ import annotations

import io
import shutil

import numpy as np
import pytest

from rag.engine import Engine
from rag.store import generation, layout, publish, sentences
from rag.store.snapshot import Snapshot


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


@pytest.mark.parametrize("rows, cuts", [(0, []), (7, [0, 3, 3, 7]), (1000, [0, 1, 500, 999, 1000])])
def test_streamed_npy_is_what_np_save_writes(tmp_path, rows, cuts):
    x = np.random.default_rng(rows).standard_normal((rows, 24)).astype(np.float32)
    blocks = [x[a:b] for a, b in zip(cuts, cuts[1:])] or [x]
    with publish.Writer(tmp_path / "index") as w:
        assert generation.write_npy(w, "s.npy", iter(blocks), rows=rows, dim=24) == rows
        data = (w.tmp / "s.npy").read_bytes()
        assert data == _npy(x)
        assert w.files["s.npy"] == {"bytes": len(data), "sha256": layout.sha256(data)}
        assert np.array_equal(np.load(w.tmp / "s.npy"), x)


def test_streamed_npy_refuses_a_wrong_row_count(tmp_path):
    with publish.Writer(tmp_path / "index") as w:
        with pytest.raises(ValueError, match="3 rows written, 4 announced"):
            generation.write_npy(w, "s.npy", [np.zeros((3, 8), np.float32)], rows=4, dim=8)
        assert "s.npy" not in w.files


def _state(snap: Snapshot) -> dict:
    """Each passage's id -> (its vector, its sentence vectors), from a loaded generation."""
    vecs = snap.vectors.reconstruct_n(0, snap.vectors.ntotal)
    return {p.id: (vecs[r], snap.sentences_of(r)) for r, p in enumerate(snap.passages)}


@pytest.mark.parametrize("on_disk", [False, True])
def test_incremental_build_reuses_vectors_exactly(docs, tmp_path, fake, monkeypatch, on_disk):
    from rag.config import Settings
    if on_disk:   # the old generation's sentence vectors are read from its file, as above 256 MB
        monkeypatch.setattr(sentences, "IN_MEMORY_BYTES", 0)
    settings = Settings(docs_dir=docs, index_dir=tmp_path / "index", model=fake.name)
    engine = Engine.open(settings, embedder=fake)
    first = sorted(docs.iterdir())[0]
    first.write_text(first.read_text(encoding="utf-8") + "\n\nA closing paragraph added later.\n",
                     encoding="utf-8")
    fake.encoded.clear()
    report = engine.build()
    assert report.rebuilt and report.new == (first.name,)
    incremental = engine._snapshot()
    changed = [p for p in incremental.passages if p.doc_id == incremental.documents[0].doc_id]
    assert incremental.documents[0].file == first.name and "A closing paragraph added later." in fake.encoded
    assert report.embedded == len(changed) < len(incremental.passages)   # only the changed document embedded
    assert (engine._snapshot().sentences.array is None) == on_disk
    scratch_docs = tmp_path / "scratch_docs"
    shutil.copytree(docs, scratch_docs)
    scratch = Engine.open(Settings(docs_dir=scratch_docs, index_dir=tmp_path / "scratch", model=fake.name),
                          embedder=fake)._snapshot()
    got, want = _state(incremental), _state(scratch)
    assert got.keys() == want.keys() and len(got) == incremental.manifest["passages"]
    for pid, (vec, sents) in want.items():
        assert np.array_equal(got[pid][0], vec) and np.array_equal(got[pid][1], sents), pid
    assert incremental.manifest["sentences"] == scratch.manifest["sentences"] == len(scratch.sentences)


def test_sentence_vectors_encoded_in_chunks_equal_one_call(docs, tmp_path, fake, monkeypatch):
    from rag import build_fresh
    from rag.config import Settings
    whole = Engine.open(Settings(docs_dir=docs, index_dir=tmp_path / "whole", model=fake.name), embedder=fake)
    monkeypatch.setattr(build_fresh, "SPILL_ROWS", 7)
    calls = []
    real = fake.encode_passages
    monkeypatch.setattr(fake, "encode_passages", lambda texts, progress=None: calls.append(len(texts))
                        or real(texts, progress))
    ticks = []
    chunked = Engine(Settings(docs_dir=docs, index_dir=tmp_path / "chunked", model=fake.name), embedder=fake)
    chunked.build(progress=lambda *t: ticks.append(t))
    a, b = whole._snapshot(), chunked._snapshot()
    assert max(calls) == 7 and sum(calls) == len(b.passages) + len(b.sentences)    # passages, sentences 7 at a time
    assert np.array_equal(a.sentence_vectors, b.sentence_vectors)
    assert np.array_equal(a.all_vectors(), b.all_vectors())
    for stage, total in (("embed", len(b.passages)), ("embed sentences", len(b.sentences))):
        done = [d for s, d, _ in ticks if s == stage]
        assert done == sorted(done) and done[-1] == total
    index = tmp_path / "chunked"
    assert sorted(p.name for p in index.iterdir() if p.name.startswith(".tmp")) == []   # the work file is gone
    assert not any(p.suffix == ".f32" or ".tmp-work" in str(p) for p in b.folder.rglob("*"))
