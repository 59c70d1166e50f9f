import json
import os

import pytest

from rag.schema import IndexMismatch, IndexNotBuilt, RagError
from rag.store import layout
from rag.store.publish import Writer


def publish(root, payload=b"hello"):
    with Writer(root) as w:
        w.write("data.bin", payload)
        return w.publish({"model": "m", "dim": 1, "passages": 0})


def test_publish_then_read_verified(tmp_path):
    name = publish(tmp_path)
    gen = layout.current(tmp_path)
    assert gen.name == name == "gen-000001"
    manifest, files = layout.read_verified(gen)
    assert files == {"data.bin": b"hello"} and manifest["files"]["data.bin"]["bytes"] == 5


def test_generations_advance_and_old_ones_are_pruned(tmp_path):
    for i in range(4):
        publish(tmp_path, bytes([i]))
    gens = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("gen-"))
    assert gens == ["gen-000003", "gen-000004"] and layout.current(tmp_path).name == "gen-000004"


def test_missing_index_says_how_to_build(tmp_path):
    with pytest.raises(IndexNotBuilt, match="python -m rag index"):
        layout.current(tmp_path)


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "manifest"])
def test_damage_is_rejected_by_checksum(tmp_path, damage):
    publish(tmp_path, b"0123456789")
    gen = layout.current(tmp_path)
    f = gen / "data.bin"
    if damage == "flip":
        f.write_bytes(b"0123456788")
    elif damage == "truncate":
        f.write_bytes(b"01234")
    elif damage == "delete":
        f.unlink()
    else:
        (gen / "manifest.json").write_text("{not json")
    with pytest.raises(IndexMismatch, match="--rebuild"):
        layout.read_verified(gen)


def test_newer_format_is_refused(tmp_path):
    publish(tmp_path)
    gen = layout.current(tmp_path)
    m = json.loads((gen / "manifest.json").read_text())
    m["version"] = layout.VERSION + 1
    (gen / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexMismatch, match="newer"):
        layout.read_verified(gen)


def test_current_pointing_nowhere_is_an_error_not_a_crash(tmp_path):
    (tmp_path / "CURRENT").write_text("../../etc\n")
    with pytest.raises(IndexMismatch):
        layout.current(tmp_path)


def test_second_writer_fails_fast_naming_the_pid(tmp_path):
    with Writer(tmp_path):
        with pytest.raises(RagError, match=f"pid {os.getpid()}"):
            Writer(tmp_path)


def test_abandoned_build_leaves_previous_index_and_is_cleaned(tmp_path):
    publish(tmp_path, b"old")
    w = Writer(tmp_path)
    w.write("data.bin", b"half")
    w._lock.close()                      # the build "dies" without publishing or cleaning up
    assert layout.read_verified(layout.current(tmp_path))[1]["data.bin"] == b"old"
    publish(tmp_path, b"new")
    assert not list(tmp_path.glob(".tmp-*"))


def test_unlisted_files_are_never_read(tmp_path):
    publish(tmp_path)
    gen = layout.current(tmp_path)
    (gen / "evil.pkl").write_bytes(b"\x80\x04K\x01.")
    _, files = layout.read_verified(gen)
    assert "evil.pkl" not in files
