"""The Engine as the library's whole API: documents, add (paths and uploaded bytes), remove, rebuild,
status and one DocFilter, each returning a record whose to_json() is the shared JSON contract."""
from __future__ import annotations

import json

import pytest

from rag.schema import BadInput, Change, DocFilter, Listed, Status, Upload

NOTE = b"The Quokkavale accord on kelp surveys was signed by Omar Reyes in Tromso."


def test_documents_and_passages_match_the_status(fake_engine):
    listed, status = fake_engine.documents(), fake_engine.status()
    assert isinstance(status, Status) and all(isinstance(x, Listed) for x in listed)
    assert len(listed) == status.documents == 5
    assert sum(x.passages for x in listed) == status.passages
    for x in listed:
        ps = fake_engine.passages(x.document.doc_id)
        assert len(ps) == x.passages and [p.para for p in ps] == sorted(p.para for p in ps)
        assert fake_engine.document(x.document.doc_id) == x.document
    assert fake_engine.passages("no-such-doc") == [] and fake_engine.document("no-such-doc") is None
    assert json.loads(json.dumps(status.to_json()))["passages"] == status.passages
    assert {"doc_id", "label", "passages"} <= set(listed[0].to_json())


def test_a_filter_is_one_value_resolved_by_the_engine(fake_engine):
    first = fake_engine.documents()[0].document
    assert fake_engine.matching(DocFilter()) is None and not DocFilter()
    assert fake_engine.matching(DocFilter(documents=(first.file,))) == [first.doc_id]
    hits = fake_engine.search("Japan Russia", k=20, where=DocFilter(documents=(first.doc_id,)))
    assert hits and {h.passage.doc_id for h in hits} == {first.doc_id}
    assert all(h.doc_label == first.label and h.to_json()["doc_label"] == first.label for h in hits)
    with pytest.raises(BadInput, match="no document matches"):
        fake_engine.matching(DocFilter(authors=("Nobody At All",)))
    with pytest.raises(BadInput, match="not a date"):
        fake_engine.ask("Japan", where=DocFilter(since="yesterday"))


def test_uploads_are_stored_under_server_names_indexed_and_deduplicated(fake_engine):
    before = fake_engine.status()
    change = fake_engine.add(uploads=[Upload("../../etc/Kelp notes.txt", NOTE)])
    assert isinstance(change, Change) and [f.status for f in change.files] == ["added"]
    stored = change.files[0].file
    assert stored.startswith("upload-") and stored.endswith(".txt") and "/" not in stored
    assert (fake_engine.settings.docs_dir / stored).read_bytes() == NOTE
    assert change.index and change.index.rebuilt and change.index.embedded > 0
    assert fake_engine.status().documents == before.documents + 1
    top = fake_engine.search("Quokkavale accord kelp", k=1, mode="keyword")[0]
    assert top.passage.doc_id == stored.rsplit(".", 1)[0]
    assert fake_engine.ask("Quokkavale accord kelp").generation == fake_engine.status().generation
    again = fake_engine.add(uploads=[Upload("copy.txt", NOTE)])
    assert [f.status for f in again.files] == ["duplicate"] and again.index is None
    assert json.loads(json.dumps(again.to_json()))["files"][0]["status"] == "duplicate"


def test_bad_uploads_are_refused_with_the_reason_and_nothing_is_indexed(fake_engine):
    gen = fake_engine.status().generation
    big = fake_engine.settings.max_file_bytes + 1
    change = fake_engine.add(uploads=[Upload("huge.txt", b"a" * big), Upload("blob.txt", b"\x00\x01\x02" * 50),
                                      Upload("tool.exe", b"MZ binary")])
    assert [f.status for f in change.files] == ["refused"] * 3 and len(change.refused) == 3
    assert "RAG_MAX_FILE_BYTES" in change.files[0].detail and "unsupported" in change.files[2].detail
    assert change.index is None and fake_engine.status().generation == gen


def test_add_paths_then_remove_by_original_name(fake_engine, tmp_path):
    src = tmp_path / "outside" / "field-notes.txt"
    src.parent.mkdir()
    src.write_bytes(NOTE)
    added = fake_engine.add([src])
    assert [f.status for f in added.files] == ["added"] and added.index.rebuilt
    n = fake_engine.status().documents
    with pytest.raises(BadInput, match="no document named"):
        fake_engine.remove(["not-a-document"])
    assert fake_engine.status().documents == n                 # a refused remove changes nothing
    removed = fake_engine.remove(["field-notes.txt"])
    assert removed.removed == (added.files[0].file,) and removed.index.removed
    assert fake_engine.status().documents == n - 1 and src.exists()      # the original is never touched
    assert not any(h.passage.doc_id.startswith("field") for h in fake_engine.search("Quokkavale", mode="keyword"))


def test_rebuild_re_embeds_everything(fake_engine, fake):
    before = len(fake.encoded)
    report = fake_engine.rebuild()
    assert report.rebuilt and report.embedded == fake_engine.status().passages
    assert len(fake.encoded) > before


def test_cite_refuses_an_empty_reference(fake_engine):
    with pytest.raises(BadInput, match="empty reference"):
        fake_engine.cite("   ")
    p = fake_engine.passages(fake_engine.documents()[0].document.doc_id)[0]
    assert fake_engine.cite(p.id).found[0].passage == p
