"""The passage table (rag.store.passages): passages stay on disk and are parsed per row; the row table
answers ids, documents, sentences and boilerplate; verification streams files; sentence vectors
are read from disk in large indexes; old generations without rows.npy still load."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag import cite, files, ingest, query
from rag.engine import Engine
from rag.schema import DocFilter, IndexMismatch, Passage
from rag.store import layout, publish, sentences
from rag.store import passages as T
from rag.store.snapshot import Snapshot
from rag.store.blocks import Checked

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


@pytest.fixture(scope="module")
def seed_corpus():
    docs, passages = [], []
    for f in sorted(SEEDS.glob("*.txt")):
        d, ps = ingest.parse(f.name, f.read_text(encoding="utf-8"))
        docs.append(d)
        passages += ps
    return docs, passages


def open_table(tmp_path, docs, passages) -> T.PassageTable:
    text, rows = T.encode(passages, docs)
    (tmp_path / "passages.jsonl").write_bytes(text)
    (tmp_path / "rows.npy").write_bytes(rows)
    return T.PassageTable(Checked(open(tmp_path / "passages.jsonl", "rb"), None, name="passages.jsonl"), np.load(tmp_path / "rows.npy"), docs)


def test_table_reads_back_every_passage_and_row_fact(tmp_path, seed_corpus, monkeypatch):
    docs, passages = seed_corpus
    table = open_table(tmp_path, docs, passages)
    assert len(table) == len(passages) and list(table) == passages
    from rag.store import passage_lines
    monkeypatch.setattr(passage_lines, "BLOCK_ROWS", 7)      # iteration reads blocks of rows
    assert list(table) == passages
    assert [table[i] for i in range(len(passages))] == passages and table[-1] == passages[-1]
    assert table[3:6] == passages[3:6]
    with pytest.raises(IndexError):
        table[len(passages)]
    assert [table.by_id[p.id] for p in passages] == list(range(len(passages)))
    assert table.sentence_start.tolist() == np.cumsum([0] + [len(p.sentences) for p in passages]).tolist()
    assert table.boilerplate.tolist() == [p.boilerplate for p in passages]
    for d in docs:
        want = [i for i, p in enumerate(passages) if p.doc_id == d.doc_id]
        assert table.doc_rows[d.doc_id].tolist() == want
        assert table.of_document(d.doc_id) == [passages[i] for i in want]
    assert set(table.doc_rows) == {d.doc_id for d in docs} and table.of_document("nope") == []


def test_a_builds_spilled_lines_and_a_tables_lines_copy_byte_for_byte(tmp_path, seed_corpus, monkeypatch):
    """What a build holds of each document (rag.store.passage_lines): its lines in a work file, or in
    the old table for a re-used one; either reads back as the passages and makes the same table."""
    from rag.store import passage_lines
    docs, passages = seed_corpus
    spill = passage_lines.Spill(tmp_path / "work.jsonl", lambda sizes, ps: T.row_table(sizes, ps, ()))
    parts = [spill.add([p for p in passages if p.doc_id == d.doc_id]) for d in docs]
    monkeypatch.setattr(passage_lines, "BLOCK_ROWS", 3)
    assert [p for part in parts for p in part] == passages and parts[1][-1] == parts[1][len(parts[1]) - 1]
    text, rows = T.encode(passages, docs)
    assert b"".join(part.raw() for part in parts) == text
    table = open_table(tmp_path, docs, passages)
    again = [table.lines(*table.document_rows(d.doc_id)) for d in docs]
    assert [p for part in again for p in part] == passages
    for k, made in enumerate((parts, again)):
        with publish.Writer(tmp_path / f"index{k}") as writer:
            T.write(writer, made)
            assert (writer.tmp / "passages.jsonl").read_bytes() == text
            assert (writer.tmp / "rows.npy").read_bytes() == rows
    spill.close()


def test_a_builds_work_file_of_texts_reads_back_every_text(tmp_path):
    from rag.store import passage_lines
    texts = passage_lines.Texts(tmp_path / "texts")
    want = ["", "plain", "line\nbreak", "Koptev’s “space” – ¶ 東京", "x" * 70_000]
    texts.add(want[:2])
    texts.add(iter(want[2:]))
    assert len(texts) == 5 and texts.read(0, 5) == want and texts.read(2, 4) == want[2:4] and texts.read(3, 3) == []
    assert [t for block in texts.blocks(2) for t in block] == want and [len(b) for b in texts.blocks(2)] == [2, 2, 1]
    texts.close()


def test_by_id_refuses_what_is_not_a_passage_id(tmp_path, seed_corpus):
    docs, passages = seed_corpus
    by_id = open_table(tmp_path, docs, passages).by_id
    doc = docs[0].doc_id
    for bad in ("", "x", f"{doc}:", f"{doc}:abc", f"{doc}:999", f"{doc}:1.7", "nodoc:1", f"{doc}:1:1",
                f"{doc}:²", f"{doc}:1.²", f"{doc}:-1", 5):
        assert bad not in by_id and by_id.get(bad) is None


def test_old_passages_file_without_row_table_reads_the_same(tmp_path, seed_corpus):
    docs, passages = seed_corpus
    table = open_table(tmp_path, docs, passages)
    old = T.PassageTable.parse(Checked(open(tmp_path / "passages.jsonl", "rb"), None, name="passages.jsonl"), docs)
    assert list(old) == passages and old.sentence_start.tolist() == table.sentence_start.tolist()
    assert [old.by_id[p.id] for p in passages] == list(range(len(passages)))


def test_load_parses_no_passage(fake_engine, monkeypatch):
    parsed = []
    real = Passage.from_json
    monkeypatch.setattr(Passage, "from_json", classmethod(lambda cls, d: parsed.append(d) or real(d)))
    snap = Snapshot.load(fake_engine.settings.index_dir, fake_engine.settings.model)
    assert parsed == [] and len(snap.passages) == snap.manifest["passages"]
    assert snap.passages[0].id and len(parsed) == 1


def test_sentence_vectors_read_from_disk_equal_those_in_memory(fake_engine, monkeypatch):
    small = fake_engine._snapshot()
    assert small.sentences.array is not None
    monkeypatch.setattr(sentences, "IN_MEMORY_BYTES", 0)
    big = Snapshot.load(fake_engine.settings.index_dir, fake_engine.settings.model)
    assert big.sentences.array is None and np.array_equal(big.sentence_vectors, small.sentence_vectors)
    for r in range(len(small.passages)):
        assert np.array_equal(big.sentences_of(r), small.sentences_of(r))
    q = small.sentence_vectors[5]
    rows = np.array([4, 0, len(small.passages) - 1, 9])
    assert np.array_equal(big.best_sentence(rows, q), small.best_sentence(rows, q))
    on_disk = Engine(fake_engine.settings, embedder=fake_engine.embedder())
    assert on_disk._snapshot().sentences.array is None
    for q in ("Who fled Japan?", "What did the commission sign?"):
        assert on_disk.ask(q).answer == fake_engine.ask(q).answer


def test_a_loaded_generation_serves_after_its_folder_is_removed(fake_engine):
    before = [h.passage.id for h in fake_engine.search("Kuril Islands", k=5)]
    answer = fake_engine.ask("Who fled Japan?").answer
    snap = fake_engine._snapshot()
    snap.passages.cache_clear()
    shutil.rmtree(snap.folder)   # as a writer does two generations later; CURRENT still names it
    assert [h.passage.id for h in fake_engine.search("Kuril Islands", k=5)] == before
    assert fake_engine.ask("Who fled Japan?").answer == answer
    assert fake_engine.cite("Monitor 5/107 ¶3").found[0].passage.id == "001_352b1d4192656aa0:3"


def test_generation_without_row_table_still_loads_and_answers_the_same(fake_engine):
    want = [(h.passage.id, h.score) for h in fake_engine.search("Kuril Islands peace treaty", k=8)]
    gen = fake_engine._snapshot().folder
    (gen / "rows.npy").unlink()
    m = json.loads((gen / "manifest.json").read_text())
    del m["files"]["rows.npy"]
    m[layout.SELF] = layout.manifest_digest(m)
    (gen / "manifest.json").write_text(json.dumps(m))
    old = Engine(fake_engine.settings, embedder=fake_engine.embedder())
    assert [(h.passage.id, h.score) for h in old.search("Kuril Islands peace treaty", k=8)] == want


def test_answers_only_allows_every_row_when_none_is_boilerplate(fake_engine):
    snap = fake_engine._snapshot()
    rows = query.allowed(snap, None, answers_only=True)
    assert rows is None if not snap.passages.boilerplate.any() else not snap.passages.boilerplate[rows].any()
    doc = snap.documents[0].doc_id
    mine = query.allowed(snap, DocFilter(documents=(doc,)), answers_only=True)
    assert set(mine.tolist()) == {r for r in snap.doc_rows[doc].tolist() if not snap.passages[r].boilerplate}


@pytest.mark.parametrize("damage", ["flip", "truncate", "append", "delete"])
def test_streamed_verification_rejects_damage_in_any_chunk(fake_engine, monkeypatch, damage):
    monkeypatch.setattr(files, "CHUNK", 97)     # many chunks even for a small file
    gen = fake_engine._snapshot().folder
    f = gen / "sentences.npy"
    data = bytearray(f.read_bytes())
    if damage == "flip":
        data[len(data) * 2 // 3] ^= 1
    f.write_bytes(bytes(data[:-10] if damage == "truncate" else data + b"x" if damage == "append" else data))
    if damage == "delete":
        f.unlink()
    with pytest.raises(IndexMismatch, match="sentences.npy .*--rebuild"):
        layout.read_verified(gen, read=(), keep_open=("passages.jsonl",))


def test_read_verified_returns_only_what_is_asked(fake_engine):
    gen = fake_engine._snapshot().folder
    manifest, files = layout.read_verified(gen, read=("documents.json",), keep_open=("passages.jsonl",))
    assert set(files) == {"documents.json", "passages.jsonl"} and set(manifest["files"]) > set(files)
    with files["passages.jsonl"] as f:
        assert f.read() == (gen / "passages.jsonl").read_bytes()


def test_cite_reads_only_the_documents_a_reference_names(seed_corpus):
    docs, passages = seed_corpus
    read = []

    def passages_of(doc_id):
        read.append(doc_id)
        return [p for p in passages if p.doc_id == doc_id]
    assert cite.lookup("Monitor 5/107 ¶3", docs, passages_of).found[0].passage.id == "001_352b1d4192656aa0:3"
    assert read == ["001_352b1d4192656aa0"]
    read.clear()
    assert cite.lookup("001_352b1d4192656aa0:2", docs, passages_of).found[0].after.id == "001_352b1d4192656aa0:3"
    assert read == ["001_352b1d4192656aa0"]
    read.clear()
    miss = cite.lookup("Monitor, Vol. 5, Issue 170, ¶3", docs, passages_of)
    assert miss.suggestions and len(set(read)) <= cite.SUGGEST_DOCS
