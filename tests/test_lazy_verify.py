"""Verified on first read (rag.store.blocks): the large files of a generation are checked block by
block as they are read, so a load hashes only what it reads, and damage is still never used."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag import cli
from rag.config import Settings
from rag.engine import Engine
from rag.schema import IndexMismatch
from rag.store import blocks, layout, sentences
from rag.store.layout import SELF, manifest_digest


def _flip(path, at: int) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x20]))


def _fresh(engine: Engine) -> Engine:
    """A new engine over the same folders (a fresh process would load the same way)."""
    return Engine(engine.settings, embedder=engine._embedder)


@given(st.binary(max_size=3 * blocks.BLOCK + 17), st.lists(st.integers(1, blocks.BLOCK + 5), max_size=8))
def test_block_sums_do_not_depend_on_how_the_stream_is_cut(data, cuts):
    h, at = blocks.Hasher(), 0
    for n in cuts:
        h.update(data[at:at + n])
        at += n
    h.update(data[at:])
    one = blocks.Hasher()
    one.update(data)
    assert h.digests() == one.digests()
    assert len(h.digests()) == -(-len(data) // blocks.BLOCK) * blocks.DIGEST


def test_a_build_writes_block_sums_for_the_large_files(fake_engine):
    gen = fake_engine._snapshot().folder
    files = json.loads((gen / "manifest.json").read_text())["files"]
    assert {"passages.jsonl", "sentences.npy", "vectors.faiss"} <= set(files) & set(blocks.LAZY)
    for name in set(files) & set(blocks.LAZY):   # (the bm25 forward arrays exist only with tantivy)
        assert files[name]["sums"] == name + blocks.SUFFIX and name + blocks.SUFFIX in files
        size = files[name]["bytes"]
        assert (gen / files[name]["sums"]).stat().st_size == -(-size // blocks.BLOCK) * blocks.DIGEST


def test_a_damaged_block_is_refused_when_read_and_the_rest_still_serves(tmp_path):
    path = tmp_path / "f.bin"
    data = np.random.default_rng(0).bytes(5 * blocks.BLOCK + 100)
    path.write_bytes(data)
    h = blocks.Hasher()
    h.update(data)
    sums = h.digests()
    _flip(path, 3 * blocks.BLOCK + 7)
    f = blocks.Checked(open(path, "rb"), sums, name="gen-000001/f.bin")
    assert f.pread(100, blocks.BLOCK - 50) == data[blocks.BLOCK - 50:blocks.BLOCK + 50]   # blocks 0 and 1
    assert f.pread(500, 5 * blocks.BLOCK) == data[5 * blocks.BLOCK:]                       # the short last one
    with pytest.raises(IndexMismatch, match=r"gen-000001/f.bin failed its checksum in bytes 49152-65536.*--rebuild"):
        f.pread(10, 3 * blocks.BLOCK + 1000)
    with pytest.raises(IndexMismatch):   # still refused: a block is marked good only once its sum matched
        f.read()
    buf = bytearray(blocks.BLOCK)
    f.readinto(memoryview(buf), 2 * blocks.BLOCK)
    assert bytes(buf) == data[2 * blocks.BLOCK:3 * blocks.BLOCK]
    longer = path.with_suffix(".longer")
    longer.write_bytes(data + bytes(blocks.BLOCK))       # sums made for another size of file
    with open(longer, "rb") as raw, pytest.raises(IndexMismatch, match="has 6 block sums for 7 blocks"):
        blocks.Checked(raw, sums, name="x")


def test_a_load_does_not_hash_the_passages_and_a_damaged_passage_is_refused_when_read(fake_engine):
    gen = fake_engine._snapshot().folder
    table = fake_engine._snapshot().passages
    last = len(table) - 1
    at = int(table.bounds[last]) + 5          # inside the last passage's row
    _flip(gen / "passages.jsonl", at)
    engine = _fresh(fake_engine)
    status = engine.status()                   # the load: passages.jsonl is not read, so not refused
    assert status.passages == len(table)
    doc = engine._snapshot().passages[0].doc_id
    assert int(table.bounds[last]) >= blocks.BLOCK > int(table.bounds[1])   # the damage is in another block
    assert engine.passages(doc)[0].text == table[0].text
    with pytest.raises(IndexMismatch, match=r"passages.jsonl failed its checksum.*--rebuild"):
        list(engine._snapshot().passages)
    with pytest.raises(IndexMismatch, match=r"passages.jsonl failed its checksum.*--rebuild"):
        engine.verify()


def test_sentence_vectors_on_disk_are_checked_as_queries_read_them(fake_engine, monkeypatch):
    monkeypatch.setattr(sentences, "IN_MEMORY_BYTES", 0)     # as in a large index: read per query
    gen = fake_engine._snapshot().folder
    size = (gen / "sentences.npy").stat().st_size
    _flip(gen / "sentences.npy", size - 3)     # the last sentence's vector
    engine = _fresh(fake_engine)
    snap = engine._snapshot()                  # loads: the file is only opened and its size checked
    assert snap.sentences.array is None
    first = snap.sentences.span(0, 1)
    assert first.shape == (1, snap.manifest["dim"])
    with pytest.raises(IndexMismatch, match=r"sentences.npy failed its checksum.*--rebuild"):
        snap.sentences.all()


def test_rag_verify_hashes_everything_and_names_the_damaged_file(fake_engine, capsys):
    settings: Settings = fake_engine.settings
    args = ["--docs", str(settings.docs_dir), "--index", str(settings.index_dir)]
    gen = fake_engine._snapshot().folder
    got = fake_engine.verify()
    listed = json.loads((gen / "manifest.json").read_text())["files"]
    assert got.generation == gen.name and got.files == len(listed) + 1
    assert got.bytes == sum(os.path.getsize(gen / n) for n in listed)
    capsys.readouterr()
    assert cli.main(["verify", *args]) == 0
    assert "every checksum matches" in capsys.readouterr().out
    _flip(gen / "vectors.faiss", (gen / "vectors.faiss").stat().st_size // 2)
    assert cli.main(["verify", *args]) == 1
    err = capsys.readouterr().err
    assert "vectors.faiss" in err and "--rebuild" in err and err.count("\n") == 1


def test_a_generation_without_block_sums_is_still_hashed_whole_at_load(fake_engine):
    gen = fake_engine._snapshot().folder
    path = gen / "manifest.json"
    m = json.loads(path.read_text())
    for name in set(m["files"]) & set(blocks.LAZY):   # as written before block sums existed
        del m["files"][name]["sums"], m["files"][name + blocks.SUFFIX]
        (gen / (name + blocks.SUFFIX)).unlink()
    m[SELF] = manifest_digest(m)
    path.write_text(json.dumps(m))
    engine = _fresh(fake_engine)
    assert engine.status().passages == len(fake_engine._snapshot().passages)
    _flip(gen / "passages.jsonl", 3)
    with pytest.raises(IndexMismatch, match=r"passages.jsonl failed its checksum.*--rebuild"):
        _fresh(fake_engine).status()           # refused at load, as before
    with pytest.raises(IndexMismatch):
        layout.verify(fake_engine.settings.index_dir)


def test_a_file_replaced_under_a_running_engine_is_never_used(fake_engine, tmp_path):
    gen = fake_engine._snapshot().folder
    engine = _fresh(fake_engine)
    snap = engine._snapshot()                  # loaded: passages.jsonl open at the inode it checked
    table = snap.passages
    first, last = table[0].text, len(table) - 1
    original = (gen / "passages.jsonl").read_bytes()
    swapped = tmp_path / "swapped.jsonl"       # another build's file, renamed over this one
    swapped.write_bytes(original.replace(b"Japan", b"Spain"))
    os.replace(swapped, gen / "passages.jsonl")
    assert "Spain" not in table[last].text and table[0].text == first   # the engine reads what it checked
    engine2 = _fresh(fake_engine)              # a new load sees the replaced file and refuses it on read
    with pytest.raises(IndexMismatch, match=r"passages.jsonl failed its checksum"):
        list(engine2._snapshot().passages)
    (gen / "passages.jsonl").write_bytes(original)
    engine3 = _fresh(fake_engine)
    table3 = engine3._snapshot().passages
    assert table3[0].text == first             # block 0 read and verified
    with open(gen / "passages.jsonl", "r+b") as f:   # the same inode written in place, in an unread block
        f.seek(int(table3.bounds[last]) + 5)
        f.write(b"#")
    with pytest.raises(IndexMismatch, match=r"passages.jsonl failed its checksum"):
        table3.rows(last, last + 1)


@pytest.mark.parametrize("damaged", [False, True])
def test_verify_ahead_checks_the_blocks_a_parser_reads_in_order(tmp_path, damaged):
    path = tmp_path / "vectors.bin"
    data = np.random.default_rng(1).bytes(300 * blocks.BLOCK + 5)
    path.write_bytes(data)
    h = blocks.Hasher()
    h.update(data)
    if damaged:
        _flip(path, 200 * blocks.BLOCK + 9)
    f = blocks.Checked(open(path, "rb"), h.digests(), name="gen-000001/vectors.bin")
    f.verify_ahead()
    got = bytearray()
    if damaged:
        with pytest.raises(IndexMismatch, match=f"bytes {200 * blocks.BLOCK}-{201 * blocks.BLOCK}"):
            while chunk := f.read(1 << 20):
                got += chunk
        assert len(got) <= 200 * blocks.BLOCK     # nothing from the bad block was returned
    else:
        while chunk := f.read(1 << 20):
            got += chunk
        assert bytes(got) == data and all(f._ok)
    f.close()


def test_the_large_keyword_index_forward_arrays_are_checked_as_queries_read_them(docs, tmp_path, fake):
    rng = np.random.default_rng(3)   # more rows of distinct words: terms.npy spans several blocks
    words = [f"term{i}" for i in range(5000)]
    (docs / "extra.txt").write_text("\n\n".join(" ".join(rng.choice(words, 60)) + "." for _ in range(200)),
                                    encoding="utf-8")
    settings = Settings(docs_dir=docs, index_dir=tmp_path / "big", model=fake.name, tantivy_min_rows=1)
    engine = Engine.open(settings, embedder=fake)
    gen = engine._snapshot().folder
    files = json.loads((gen / "manifest.json").read_text())["files"]
    assert all(files[f"bm25/{n}.npy"]["sums"] == f"bm25/{n}.npy.sums" for n in ("terms", "tfs"))
    question = "Which island did the first group of former inhabitants visit?"
    want = [(h.passage.id, round(h.score, 5)) for h in engine.search(question, k=5, mode="keyword")]
    again = _fresh(engine)
    assert [(h.passage.id, round(h.score, 5)) for h in again.search(question, k=5, mode="keyword")] == want
    assert len(again._snapshot().lexical.engine.checked) == 2
    assert (gen / "bm25" / "terms.npy").stat().st_size > 2 * blocks.BLOCK
    _flip(gen / "bm25" / "terms.npy", (gen / "bm25" / "terms.npy").stat().st_size - 2)   # the last rows' terms
    damaged = _fresh(engine)
    assert damaged.status().passages == len(engine._snapshot().passages)    # the load does not read it
    with pytest.raises(IndexMismatch, match=r"bm25/terms.npy failed its checksum.*--rebuild"):
        damaged._snapshot().lexical.scores(damaged._snapshot().lexical.tokenize(question))   # every row
    with pytest.raises(IndexMismatch, match=r"terms.npy"):
        damaged.verify()
