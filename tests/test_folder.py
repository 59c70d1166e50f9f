"""Adding many files at once: the documents folder is listed, hashed and its sidecar written once
per batch (rag/folder.py), with the same outcomes as adding them one by one."""
import json
from pathlib import Path

from rag import folder, library
from rag.config import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(docs_dir=tmp_path / "docs", seed_dir=tmp_path / "no-seeds")


def test_a_batch_adds_renames_skips_duplicates_and_records_every_file(tmp_path, monkeypatch):
    monkeypatch.setattr(folder.Folder, "SAVE_EVERY", 3)      # several interim sidecar writes in one batch
    src = tmp_path / "in"
    (src / "z").mkdir(parents=True)
    for i in range(7):
        (src / f"note{i}.txt").write_text(f"Paragraph number {i} about the fishing talks.\n", encoding="utf-8")
    (src / "z" / "note1.txt").write_text("Another file that is also called note1.\n", encoding="utf-8")
    (src / "z" / "copy.txt").write_text("Paragraph number 3 about the fishing talks.\n", encoding="utf-8")
    (src / "z" / "empty.txt").write_text("   \n", encoding="utf-8")
    s = _settings(tmp_path)
    out = library.add_files(s, [src])
    status = {(a.original, a.status) for a in out}
    assert ("copy.txt", "duplicate") in status and ("empty.txt", "refused") in status
    dup = next(a for a in out if a.original == "copy.txt")
    assert dup.file == "note3.txt" and "same content as note3.txt" in dup.detail
    stored = sorted(p.name for p in s.docs_dir.iterdir() if not p.name.startswith("."))
    assert stored == ["note0.txt", "note1-2.txt", "note1.txt", "note2.txt", "note3.txt", "note4.txt",
                      "note5.txt", "note6.txt"]
    known = json.loads((s.docs_dir / library.SIDECAR).read_text(encoding="utf-8"))
    assert sorted(known) == stored and known["note1-2.txt"]["original"] == "note1.txt"
    assert known["note1-2.txt"]["source"] == str((src / "z" / "note1.txt").resolve())
    # the same batch again: every file is a duplicate of itself, nothing new is written
    again = library.add_files(s, [src])
    assert {a.status for a in again} == {"duplicate", "refused"}
    assert sorted(p.name for p in s.docs_dir.iterdir() if not p.name.startswith(".")) == stored
    # a changed file re-added from the same place replaces its copy, in a batch with a new file
    (src / "note0.txt").write_text("Paragraph zero, revised after the talks ended.\n", encoding="utf-8")
    (src / "new.txt").write_text("A new file with new words entirely.\n", encoding="utf-8")
    third = {a.original: a for a in library.add_files(s, [src / "note0.txt", src / "new.txt"])}
    assert third["note0.txt"].status == "updated" and third["note0.txt"].file == "note0.txt"
    assert third["new.txt"].status == "added"
    assert "revised" in (s.docs_dir / "note0.txt").read_text(encoding="utf-8")
    assert "new.txt" in json.loads((s.docs_dir / library.SIDECAR).read_text(encoding="utf-8"))


def test_a_failed_batch_still_records_the_files_it_stored(tmp_path, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}.txt").write_text(f"Text of file {i} for the record.\n", encoding="utf-8")
    real_put, calls = folder.Folder.put, []

    def put(self, name, data, sha):
        calls.append(name)
        if len(calls) == 3:
            raise OSError("disk full")
        real_put(self, name, data, sha)
    monkeypatch.setattr(folder.Folder, "put", put)
    s = _settings(tmp_path)
    try:
        library.add_files(s, [src])
    except OSError:
        pass
    known = json.loads((s.docs_dir / library.SIDECAR).read_text(encoding="utf-8"))
    assert sorted(known) == ["f0.txt", "f1.txt"] == sorted(p.name for p in s.docs_dir.glob("*.txt"))
