"""Subprocess helper for tests/test_reliability_store.py: the real build, load and CLI code paths with
the fake embedder (the store is under test, not the model), plus hooks that pause a build at a
chosen point so the test can SIGKILL it there, and fault injection for a full or read-only disk.

    python tests/reliability_driver.py build DOCS INDEX [--pause POINT --marker FILE [--go FILE]]
    python tests/reliability_driver.py load INDEX...         one JSON line per index folder
    python tests/reliability_driver.py cli ARGS...           `rag ARGS`, RAG_TEST_FAULT=enospc|erofs|eacces
    python tests/reliability_driver.py audit INDEX DOCS      files opened and pickles touched by load+queries
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import FakeEmbedder

from rag import index as vindex
from rag.config import Settings
from rag.engine import Engine
from rag.schema import RagError
from rag.store import publish
from rag.store.generation import indexed_text

# Where a build can be paused: lock taken; inside each data write (half the bytes on disk, not
# fsynced); with the BM25 files written but not yet checksummed; just before and after the folder
# rename; with CURRENT.tmp written, before and after it replaces CURRENT; half-way through removing
# an old generation.
POINTS = ("lock", "write:documents.json", "write:passages.jsonl", "write:vectors.faiss",
          "write:sentences.npy", "bm25", "write:manifest.json", "rename", "after-rename",
          "current-tmp", "after-replace", "drop-old")
# Where an update (rag.store.delta_write) can be paused besides: after the first shared file is linked,
# and inside the writes of its own files.
UPDATE_POINTS = ("link", "write:rows.npy", "write:delta/passages.jsonl", "write:delta/vectors.faiss",
                 "write:delta/removed.npy", "write:delta/sentences.npy", "write:delta/bm25/df.npy",
                 "write:delta/bm25s/data.csc.index.npy")
QUERIES = ("Who fled Japan?", "Kuril Islands peace treaty", "Russian warship Yokosuka")
_GEN = re.compile(r"^gen-\d{6}$")


def settings(index: Path, docs: Path | None = None) -> Settings:
    """With RAG_TEST_UPDATES=1 every build after the first is written as an update (rag.store.delta_write)."""
    updates = dict(update_min_rows=1, compact_share=1.0) if os.environ.get("RAG_TEST_UPDATES") == "1" else {}
    return Settings(docs_dir=docs or index.parent / "docs", index_dir=index, model=FakeEmbedder.name, **updates)


# -- pausing a build ---------------------------------------------------------------------------
def install_pause(point: str, marker: Path, go: Path | None) -> None:
    """Patch the store so the build stops at `point`: write `marker`, then wait for `go` (forever
    when there is none: the test kills the process)."""
    if point not in POINTS + UPDATE_POINTS:
        raise SystemExit(f"unknown pause point {point!r}; choose from {', '.join(POINTS + UPDATE_POINTS)}")

    def pause() -> None:
        part = marker.with_name(marker.name + ".part")
        part.write_text(f"{os.getpid()} {point}")
        os.replace(part, marker)
        while not (go and go.exists()):
            time.sleep(0.005)

    W, real_rename, real_replace, real_rmtree = publish.Writer, os.rename, os.replace, shutil.rmtree
    init, write_chunks, add_folder, link, add_file = W.__init__, W.write_chunks, W.add_folder, W.link, W.add_file

    def init_then_pause(self, *a, **k):
        init(self, *a, **k)
        if point == "lock":
            pause()

    def torn_write(self, name, chunks):    # every data file is written through write_chunks
        if point == f"write:{name}":
            data = b"".join(bytes(c) for c in chunks)
            (self.tmp / name).parent.mkdir(parents=True, exist_ok=True)
            with open(self.tmp / name, "wb") as f:    # half the bytes reach the file, then the kill
                f.write(data[: len(data) // 2])
                f.flush()
            pause()
            chunks = [data]
        write_chunks(self, name, chunks)

    def torn_file(self, name):          # a file a library wrote itself (vectors.faiss): torn the same way
        if point == f"write:{name}":
            data = (self.tmp / name).read_bytes()
            os.truncate(self.tmp / name, len(data) // 2)
            pause()
            (self.tmp / name).write_bytes(data)
        add_file(self, name)

    def pause_in_folder(self, sub):
        if point == "bm25":
            pause()
        add_folder(self, sub)

    def rename(src, dst, *a, **k):
        before, after = point == "rename", point == "after-rename"
        ours = Path(src).name.startswith(".tmp-gen-")
        if ours and before:
            pause()
        real_rename(src, dst, *a, **k)
        if ours and after:
            pause()

    def replace(src, dst, *a, **k):
        ours = Path(src).name == "CURRENT.tmp"
        if ours and point == "current-tmp":
            pause()
        real_replace(src, dst, *a, **k)
        if ours and point == "after-replace":
            pause()

    def rmtree(path, *a, **k):
        if point == "drop-old" and _GEN.match(Path(path).name):
            files = sorted(p for p in Path(path).rglob("*") if p.is_file())
            for f in files[: max(1, len(files) // 2)]:    # half-deleted, as if killed mid-rmtree
                f.unlink()
            pause()
        real_rmtree(path, *a, **k)

    def link_then_pause(self, *a, **k):
        link(self, *a, **k)
        if point == "link":
            pause()

    W.__init__, W.write_chunks, W.add_folder, W.link = init_then_pause, torn_write, pause_in_folder, link_then_pause
    W.add_file = torn_file
    os.rename, os.replace, shutil.rmtree = rename, replace, rmtree


# -- inspecting an index -----------------------------------------------------------------------
def problems(snap) -> list[str]:
    """Ways a loaded generation is not one consistent build: counts, vectors that are not the
    passages' own embeddings, BM25 rows that do not match, documents without passages. An update's
    removed rows keep their place (rag.store.delta) and are left out of the per-row checks."""
    out: list[str] = []
    n, m, vectors = len(snap.passages), snap.manifest, snap.all_vectors()
    if not (len(vectors) == m["passages"] == snap.lexical.n == n):
        out.append(f"counts differ: passages {n}, vectors {len(vectors)}, manifest {m['passages']}")
        return out
    fake, docs = FakeEmbedder(), {d.doc_id: d for d in snap.documents}
    live = list(snap.passages.live_rows())
    rows = np.array([r for r, _ in live], dtype=np.int64)
    texts = [indexed_text(p, m["context"], docs.get(p.doc_id)) for _, p in live]
    if not np.allclose(fake.encode_passages(texts), vectors[rows], atol=1e-6):
        out.append("vectors are not the embeddings of these passages")
    sents = [s for p in snap.passages for s in p.sentence_texts()]
    if not np.allclose(fake.encode_passages(sents).reshape(-1, fake.dim), snap.sentence_vectors, atol=1e-6):
        out.append("sentence vectors are not the embeddings of these passages' sentences")
    for i, t in zip(rows.tolist(), texts):
        tokens = snap.lexical.tokenize(t)
        if tokens and snap.lexical.scores(tokens)[i] <= 0:
            out.append(f"BM25 row {i} does not match passage {snap.passages[i].id}")
            break
    counts = {d: len(snap.doc_rows.get(d, ())) for d in docs}
    listed = {k: (v["file"], v["sha256"], v["passages"]) for k, v in m["documents"].items()}
    if listed != {d.doc_id: (d.file, d.sha256, counts[d.doc_id]) for d in snap.documents}:
        out.append("manifest documents differ from documents.json")
    if {p.doc_id for _, p in live} != set(docs) or 0 in counts.values() or len(live) != snap.passages.live:
        out.append("passages and documents do not match")
    return out


def digest(engine: Engine, snap) -> str:
    """A fingerprint of everything a user can get from the index: manifest, documents, passages,
    vectors, BM25 results and answers."""
    h = hashlib.sha256()
    h.update(json.dumps(snap.manifest, sort_keys=True).encode())
    h.update(json.dumps([d.to_json() for d in snap.documents]).encode())
    h.update(json.dumps([p.to_json() for p in snap.passages]).encode())
    h.update(snap.all_vectors().tobytes() + snap.sentence_vectors.tobytes())
    for q in QUERIES:
        for mode in ("hybrid", "dense", "keyword"):
            h.update(json.dumps([(x.passage.id, round(x.score, 5)) for x in engine.search(q, k=5, mode=mode)]).encode())
        h.update(json.dumps([s.text for s in engine.ask(q).sentences]).encode())
    return h.hexdigest()


def inspect(index: Path, docs: Path | None = None) -> dict:
    """Load an index as a fresh engine would and describe the outcome (never raises)."""
    engine = Engine(settings(index, docs), embedder=FakeEmbedder())
    try:
        snap = engine._snapshot()
        found = problems(snap)
        return {"ok": True, "generation": snap.generation, "problems": found,
                "documents": {d.file: d.sha256 for d in snap.documents},
                "digest": digest(engine, snap) if not found else ""}
    except RagError as exc:
        return {"ok": False, "error": type(exc).__name__, "message": str(exc)}
    except Exception as exc:   # noqa: BLE001 - any other exception is what the tests look for
        return {"ok": False, "error": type(exc).__name__, "message": str(exc), "unexpected": True}


# -- modes -------------------------------------------------------------------------------------
def cmd_build(argv: list[str]) -> int:
    docs, index, opts = Path(argv[0]), Path(argv[1]), dict(zip(argv[2::2], argv[3::2]))
    if "--pause" in opts:
        install_pause(opts["--pause"], Path(opts["--marker"]), Path(opts["--go"]) if "--go" in opts else None)
    if "--start" in opts:
        Path(opts["--start"]).write_text(str(os.getpid()))
    try:
        report = Engine(settings(index, docs), embedder=FakeEmbedder()).build(rebuild=opts.get("--rebuild") == "1")
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"generation": report.generation, "rebuilt": report.rebuilt}))
    return 0


def cmd_load(argv: list[str]) -> int:
    """Load each index folder; the faiss parser's inputs are recorded, to show that only bytes that
    passed their checksum ever reach it."""
    parsed: list[str] = []
    real = vindex.from_file

    def recording(file, dim, count):
        parsed.append(hashlib.sha256(file.read()).hexdigest())
        file.seek(0)
        return real(file, dim, count)
    vindex.from_file = recording
    for index in argv:
        parsed.clear()
        print(json.dumps({"index": index, "start": True}), flush=True)   # names the culprit of a crash
        print(json.dumps({"index": index, **inspect(Path(index)), "faiss_parsed": list(parsed)}), flush=True)
    return 0


def inject_fault(kind: str) -> None:
    """Make the store's writes fail the way a full (at the first data file), read-only or
    forbidden (at the lock file) disk does."""
    code = {"enospc": errno.ENOSPC, "erofs": errno.EROFS, "eacces": errno.EACCES}[kind]
    real_open = open

    def failing_open(file, mode="r", *a, **k):
        if kind == "enospc" and "w" in mode and ".tmp-gen-" in str(file) or kind != "enospc" and str(file).endswith(".lock"):
            raise OSError(code, os.strerror(code), str(file))
        return real_open(file, mode, *a, **k)
    publish.open = failing_open


def cmd_cli(argv: list[str]) -> int:
    import rag.embed.choose
    from rag.cli import main
    rag.embed.choose.choose = lambda *a, **k: FakeEmbedder()
    if os.environ.get("RAG_TEST_FAULT"):
        inject_fault(os.environ["RAG_TEST_FAULT"])
    return main(argv)


def cmd_audit(argv: list[str]) -> int:
    """Load, query, cite, run the CLI and rebuild, recording every file opened and every pickle
    class lookup (an unpickler resolving a class is how a pickle payload runs code)."""
    index, docs = Path(argv[0]), Path(argv[1])
    opened: list[str] = []
    pickles: list[str] = []

    def hook(event, args):
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            opened.append(os.fsdecode(args[0]))
        elif event == "pickle.find_class":
            pickles.append(repr(args))
    sys.addaudithook(hook)
    engine = Engine(settings(index, docs), embedder=FakeEmbedder())
    engine._snapshot()
    for q in QUERIES:
        for mode in ("hybrid", "dense", "keyword"):
            engine.search(q, mode=mode)
        engine.ask(q)
    engine.cite("Monitor 5/107")
    engine.status()
    code = cmd_cli(["ask", QUERIES[0], "--json", "--index", str(index), "--docs", str(docs), "--model", FakeEmbedder.name])
    (docs / "added.txt").write_text("A new article.\n\nIt mentions the Kuril Islands once more.\n")
    engine.build()
    engine.search("Kuril Islands")
    print(json.dumps({"opened": opened, "pickles": pickles, "cli": code}))
    return 0


if __name__ == "__main__":
    mode, rest = sys.argv[1], sys.argv[2:]
    sys.exit({"build": cmd_build, "load": cmd_load, "cli": cmd_cli, "audit": cmd_audit}[mode](rest))
