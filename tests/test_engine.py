"""Engine wiring with the fake embedder: builds, incremental updates, filters, errors."""
import json

import numpy as np
import pytest
from conftest import FakeEmbedder

from rag.config import Settings
from rag.engine import Engine
from rag.schema import BadInput, DocFilter, IndexMismatch


def test_build_reports_and_serves(fake_engine):
    st = fake_engine.status()
    assert st.documents == 5 and st.passages == 46 and st.to_json()["passages"] == 46
    hits = fake_engine.search("Admiral Panteleyev cruiser Yokosuka", k=3)
    assert len(hits) == 3 and hits[0].passage.doc_id == "004_d94f3f66138700a1"
    assert [h.rank for h in hits] == [1, 2, 3]


def test_rebuild_with_unchanged_documents_embeds_nothing(fake_engine, fake):
    before = len(fake.encoded)
    report = fake_engine.build()
    assert not report.rebuilt and report.embedded == 0 and len(fake.encoded) == before
    assert len(report.unchanged) == 5


def test_changed_and_added_documents_reembed_only_themselves(fake_engine, fake, docs):
    (docs / "002_cf8ccbf01953a6cc.txt").write_text("Publication: Monitor Volume: 4 Issue: 134\n\nA new text.\n")
    (docs / "new.md").write_text("# Notes\n\nThe Kuril Islands were discussed again.\n")
    fake.encoded.clear()
    report = fake_engine.build()
    assert set(report.new) == {"002_cf8ccbf01953a6cc.txt", "new.md"} and len(report.unchanged) == 4
    assert report.embedded == 2
    assert [t for t in fake.encoded if "Koptev" in t] == []      # unchanged docs were not re-encoded
    ids = {p.id for p in fake_engine._snapshot().passages}
    assert "new:1" in ids and "003_8f2f016433a13dad:7" in ids   # other ids unchanged


def test_an_index_from_an_older_reader_is_read_again_and_says_why(docs, tmp_path, fake, monkeypatch):
    from rag import ingest
    from rag.store import generation
    settings = Settings(docs_dir=docs, index_dir=tmp_path / "index", model=fake.name)
    monkeypatch.setattr(generation, "INGEST_VERSION", ingest.INGEST_VERSION - 1)
    Engine.open(settings, embedder=fake)
    monkeypatch.undo()
    engine = Engine(settings, embedder=fake)
    report = engine.build()
    assert report.rebuilt and report.embedded == report.passages == 46
    assert "older reader" in report.notice and f"now {ingest.INGEST_VERSION}" in report.notice
    again = engine.build()                      # the same version now: nothing to say, nothing re-embedded
    assert again.notice == "" and not again.rebuilt and again.embedded == 0


def test_removed_document_disappears(fake_engine, docs):
    (docs / "000_6114352f984fc0ab.txt").unlink()
    report = fake_engine.build()
    assert report.removed == ("000_6114352f984fc0ab.txt",)
    assert not any(p.doc_id.startswith("000_") for p in fake_engine._snapshot().passages)


def test_unreadable_files_are_skipped_with_reasons(fake_engine, docs):
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (docs / "empty.txt").write_bytes(b"")
    report = fake_engine.build()
    reasons = dict(report.skipped)
    assert "binary" in reasons["binary.txt"] and "empty" in reasons["empty.txt"]
    assert report.documents == 5


def test_empty_documents_folder_is_a_clear_error(tmp_path, fake):
    (tmp_path / "docs").mkdir()
    with pytest.raises(BadInput, match="no documents"):
        Engine.open(Settings(docs_dir=tmp_path / "docs", index_dir=tmp_path / "ix", model=fake.name), embedder=fake)


def test_filter_by_document(fake_engine):
    hits = fake_engine.search("Japan Russia", k=10, where=DocFilter(("002_cf8ccbf01953a6cc.txt",)))
    assert hits and {h.passage.doc_id for h in hits} == {"002_cf8ccbf01953a6cc"}
    with pytest.raises(BadInput, match="choose from"):
        fake_engine.search("Japan", where=DocFilter(("nope",)))


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_modes_and_k_larger_than_corpus(fake_engine, mode):
    hits = fake_engine.search("peace treaty islands", k=500, mode=mode)
    ids = [h.passage.id for h in hits]
    assert 0 < len(ids) <= 46 and len(set(ids)) == len(ids)


def test_bad_questions(fake_engine):
    for q in ["", "   \n\t", "\u200b\u200b"]:
        with pytest.raises(BadInput, match="empty question"):
            fake_engine.ask(q)
    ans = fake_engine.ask("Kuril " * 1000)
    assert "truncated" in ans.notice
    fake_engine.ask("lone \ud800 surrogate and NUL \x00 char")


def test_model_mismatch_is_refused_naming_both(fake_engine, tmp_path):
    other = Settings(docs_dir=fake_engine.settings.docs_dir, index_dir=fake_engine.settings.index_dir,
                     model="another-model")
    with pytest.raises(IndexMismatch, match="fake-hash-embedder.*another-model.*--rebuild"):
        Engine(other)._snapshot()


def test_count_mismatch_is_refused(fake_engine):
    gen = fake_engine._snapshot().folder
    m = json.loads((gen / "manifest.json").read_text())
    m["passages"] += 1
    (gen / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexMismatch):
        Engine(fake_engine.settings, embedder=FakeEmbedder())._snapshot()


def test_answers_never_use_boilerplate(fake_engine):
    ans = fake_engine.ask("Who researches and writes the Monitor for the Jamestown Foundation?", k=10)
    assert all(not h.passage.boilerplate for h in ans.hits)


def test_questions_are_nfc_and_lose_soft_hyphens_like_the_documents(fake_engine):
    q, _ = fake_engine.check_question("Cafe\u0301 nego\u00adtiations")
    assert q == "Caf\u00e9 negotiations"


def test_answer_sentences_setting_caps_the_quotes(docs, tmp_path, fake):
    settings = Settings(docs_dir=docs, index_dir=tmp_path / "index", model=fake.name, answer_sentences=1,
                        min_sentence_score=-1.0)
    ans = Engine.open(settings, embedder=fake).ask("Which Russian warship visited Yokosuka?")
    assert ans.supported and len(ans.sentences) == 1


def test_ask_composes_what_retrieve_returns(fake_engine):
    """ask = compose(retrieve(question)); the benchmarks re-compose one retrieval with other parameters."""
    from dataclasses import replace
    for mode in ("hybrid", "keyword"):
        r = fake_engine.retrieve("Who fled Japan?", mode=mode)
        assert [h.row for h in r.hits] == [h.row for h in fake_engine.search("Who fled Japan?", mode=mode,
                                                                             answers_only=True)]
        assert (r.qvec is None) == (mode == "keyword")
        asked = fake_engine.ask("Who fled Japan?", mode=mode)
        assert replace(fake_engine.compose(r), seconds=0.0) == replace(asked, seconds=0.0)


def test_the_measuring_views_are_public(fake_engine):
    """floor (encode + one vector search), candidates (fusion's inputs) and the passage vectors, in row order."""
    vecs = fake_engine.passage_vectors()
    rows = [p for d in fake_engine.documents() for p in fake_engine.passages(d.document.doc_id)]
    assert vecs.shape == (len(rows), 64) and np.allclose(np.linalg.norm(vecs, axis=1)[[0, -1]], 1.0)
    scores, top = fake_engine.floor("island talks", 3)
    assert len(top) == 3 and np.allclose(scores, vecs[top] @ fake_engine.embedder().encode_queries(["island talks"])[0])
    c = fake_engine.candidates("island talks", pool=5)
    assert set(c.rows.tolist()) == set(c.dense_rows.tolist()) | set(c.keyword_rows.tolist())
    assert top.tolist() == c.dense_rows[:3].tolist() and len(c.dense) == len(c.lexical) == len(c.rows)
