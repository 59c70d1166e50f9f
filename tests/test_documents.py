"""Bring your own documents (fast, fake embedder): each format through add -> index -> search ->
cite -> remove, incremental re-use, duplicates, safe names, refusals and limits, metadata filters."""
import io
import json
import shutil
from pathlib import Path

import pytest

from pdfmaker import make_bomb, make_pdf

from rag.schema import DocFilter
from rag import library, readers
from rag.cli import main
from rag.config import Settings
from rag.engine import Engine
from rag.filters import select
from rag.schema import BadInput

HTML = """<html><head><title>Harbour visit</title><meta name="author" content="Lena Park">
<meta name="date" content="1998-07-20"><style>.x{color:red}</style><script>alert("SCRIPTWORD")</script></head>
<body><nav>NAVWORD home about</nav><p>The destroyer Zebrafinch docked at Vladivostok for three days.</p>
<p style="display:none">HIDDENWORD</p><div hidden>HIDDENTOO</div><p>Crews played football.</p></body></html>"""
REPORT = [["The island commission met in Sapporo to discuss fisheries quotas near Shikotan.",
           "Delegates agreed on a joint survey of kelp beds."],
          ["On the second day the Quokkavale protocol was signed by both delegations.",
           "Observers called it a modest but real step."]]


@pytest.fixture
def incoming(tmp_path) -> Path:
    """One file of each kind, as a user would have them."""
    d = tmp_path / "incoming"
    (d / "sub").mkdir(parents=True)
    (d / "notes.txt").write_bytes("The minister’s “café” meeting with Ambassador Wexlar cost €2 million.".encode("cp1252"))
    (d / "memo.md").write_bytes("# Budget memo\n\nThe Trellisport budget rose by 4 percent in 1999.".encode("utf-16"))
    (d / "sub" / "visit.html").write_text(HTML, encoding="utf-8")
    (d / "sub" / "Report.pdf").write_bytes(make_pdf(REPORT, {"Title": "Island Commission Report",
                                                             "Author": "Omar Reyes", "CreationDate": "D:19990304"}))
    return d


@pytest.fixture
def engine(docs, tmp_path, fake):
    return Engine.open(Settings(docs_dir=docs, index_dir=tmp_path / "index", model=fake.name), embedder=fake)


def top(engine, q, **kw):
    return engine.search(q, k=1, mode="keyword", **kw)[0].passage


def test_each_format_round_trip_and_unchanged_documents_are_not_re_encoded(engine, incoming, fake):
    seed_texts = set(fake.encoded)
    fake.encoded.clear()
    added = library.add_files(engine.settings, [incoming])
    assert sorted(a.status for a in added) == ["added"] * 4
    report = engine.build()
    assert sorted(report.new) == ["Report.pdf", "memo.md", "notes.txt", "visit.html"] and len(report.unchanged) == 5
    assert fake.encoded and not seed_texts & set(fake.encoded)      # only the new documents were embedded
    snap = engine._snapshot()
    p = top(engine, "Wexlar café")
    assert "minister’s “café” meeting" in p.text and "\ufffd" not in p.text          # cp1252
    assert "Trellisport budget rose" in top(engine, "Trellisport").text            # UTF-16 markdown
    doc = snap.document(top(engine, "Zebrafinch").doc_id)
    assert (doc.title, doc.author, doc.date) == ("Harbour visit", "Lena Park", "1998-07-20")
    words = " ".join(p.text for p in snap.passages if p.doc_id == doc.doc_id)
    assert all(w not in words for w in ("SCRIPTWORD", "NAVWORD", "HIDDENWORD", "HIDDENTOO", "color"))
    p = top(engine, "Quokkavale protocol")
    assert p.page == 2 and p.citation == 'Reyes, "Island Commission Report", 1999-03-04, p. 2, ¶1'
    found = engine.cite(p.citation).found
    assert [c.passage.id for c in found] == [p.id]
    assert engine.cite("Report.pdf, p. 1, ¶2").found[0].passage.text.startswith("Delegates agreed")
    assert {c.passage.page for c in engine.cite("Report.pdf p. 2").found} == {2}
    assert "has no p. 9" in engine.cite("Report.pdf, p. 9").message
    fake.encoded.clear()
    assert library.remove(engine.settings, ["Report.pdf", "notes"]) == ["Report.pdf", "notes.txt"]
    report = engine.build()
    assert sorted(report.removed) == ["Report.pdf", "notes.txt"] and fake.encoded == []
    assert not engine.cite("Report.pdf").found and "Quokkavale" not in json.dumps(
        [h.passage.text for h in engine.search("Quokkavale protocol", mode="keyword")])


def test_duplicates_clashes_updates_and_safe_names(engine, incoming, tmp_path):
    s = engine.settings
    first = library.add_files(s, [incoming / "notes.txt"])[0]
    assert first.status == "added" and first.file == "notes.txt"
    again = library.add_files(s, [incoming / "notes.txt"])[0]
    assert again.status == "duplicate" and "same content as notes.txt" in again.detail
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "notes.txt").write_text("A different note about Kamchatka.", encoding="utf-8")
    assert library.add_files(s, [other / "notes.txt"])[0].file == "notes-2.txt"      # a clash gets a new name
    (incoming / "notes.txt").write_text("The note, revised: Ambassador Wexlar resigned.", encoding="utf-8")
    upd = library.add_files(s, [incoming / "notes.txt"])[0]
    assert (upd.status, upd.file) == ("updated", "notes.txt")                         # same source: replaced
    assert "resigned" in (s.docs_dir / "notes.txt").read_text(encoding="utf-8")
    for hostile, want in (("../../etc/passwd.txt", "passwd.txt"), ("con.md", "doc_con.md"),
                          (".hidden.txt", "hidden.txt"), ("a b<script>.MD", "a_b_script.md"),
                          ("C:\\Users\\x\\Évian eau.txt", "Evian_eau.txt"), ("…", "document")):
        assert library.safe_name(hostile) == want
    up = library.store_bytes(s, "../../../tmp/evil.pdf", make_pdf([["Uploaded words about Okhotsk."]]),
                             server_name=True)
    assert up.file.startswith("upload-") and up.file.endswith(".pdf") and (s.docs_dir / up.file).is_file()
    assert library.sources(s.docs_dir)[up.file]["original"] == "../../../tmp/evil.pdf"
    engine.build()
    d = engine._snapshot().document(top(engine, "Okhotsk").doc_id)
    assert d.original == "../../../tmp/evil.pdf" and d.label == "../../../tmp/evil.pdf"   # display only
    assert engine.cite("evil").found                                                       # by original stem
    assert sorted(p.name for p in s.docs_dir.iterdir() if p.name.startswith(".")) == [".rag-lock", ".sources.json"]


def test_identical_files_in_the_folder_are_indexed_once(engine):
    folder = engine.settings.docs_dir
    (folder / "copy.txt").write_bytes((folder / sorted(p.name for p in folder.glob("*.txt"))[0]).read_bytes())
    report = engine.build()
    assert any(f == "copy.txt" and "same content as" in why for f, why in report.skipped)
    assert "copy" not in {d.doc_id for d in engine._snapshot().documents}


def test_refusals_name_the_reason_and_store_nothing(engine, tmp_path):
    from pypdf import PdfReader, PdfWriter
    s = engine.settings
    w = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(REPORT))))
    w.encrypt("pw")
    locked = io.BytesIO()
    w.write(locked)
    blank = PdfWriter()
    blank.add_blank_page(612, 792)
    scan = io.BytesIO()
    blank.write(scan)
    cases = {"locked.pdf": (locked.getvalue(), "encrypted"), "scan.pdf": (scan.getvalue(), "no text layer"),
             "bomb.pdf": (make_bomb(256), "decompression bomb"), "sheet.xlsx": (b"PK\x03\x04", "unsupported file type"),
             "blob.txt": (bytes(range(256)) * 8, "binary"), "big.txt": (b"word " * 300_000, "over the 1,000,000-byte limit")}
    before = sorted(p.name for p in s.docs_dir.iterdir())
    small = s.with_(max_file_bytes=1_000_000)
    for name, (data, why) in cases.items():
        got = library.store_bytes(small, name, data, server_name=True)
        assert got.status == "refused" and why in got.detail and got.file == "", (name, got)
    slow = library.store_bytes(s.with_(parse_seconds=0.001), "r.pdf", make_pdf(REPORT))
    assert slow.status == "refused" and "time limit" in slow.detail
    many = library.store_bytes(s.with_(max_pages=1), "r.pdf", make_pdf(REPORT))
    assert many.status == "refused" and "over the 1-page limit" in many.detail
    assert sorted(p.name for p in s.docs_dir.iterdir() if p.name != ".rag-lock") == before


def test_metadata_filters(engine, incoming):
    library.add_files(engine.settings, [incoming])
    engine.build()
    docs = engine._snapshot().documents
    assert len(select(docs, DocFilter(authors=("reyes",)))) == 1
    assert {d.doc_id for d in docs if d.doc_id in select(docs, DocFilter(since="1998-07", until="1998-12"))} == \
        {d.doc_id for d in docs if d.author == "Lena Park"}
    assert len(select(docs, DocFilter(since="1998"))) == 2 and select(docs, DocFilter()) is None
    with pytest.raises(BadInput, match="no document matches"):
        select(docs, DocFilter(authors=("Nobody",)))
    with pytest.raises(BadInput, match="not a date"):
        select(docs, DocFilter(since="yesterday"))
    hits = engine.search("protocol delegations", where=DocFilter(authors=("Reyes",)))
    assert hits and {h.passage.doc_id for h in hits} == set(select(docs, DocFilter(authors=("Reyes",))))


def test_cli_add_ask_cite_remove_with_the_real_model(docs, tmp_path, incoming, capsys, real_index):
    """The seed index (real model) copied; adding embeds only the new files, through the CLI."""
    shutil.copytree(real_index, tmp_path / "index")
    common = ["--docs", str(docs), "--index", str(tmp_path / "index")]
    assert main(["add", str(incoming / "sub" / "visit.html"), str(tmp_path / "missing.txt"), *common]) == 2
    assert "missing.txt does not exist" in capsys.readouterr().err
    (incoming / "bad.docx").write_bytes(b"PK")
    code = main(["add", str(incoming), str(incoming / "bad.docx"), *common, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and {f["status"] for f in out["files"]} == {"added", "refused"}
    assert out["index"]["embedded"] > 0 and sorted(out["index"]["new"]) == ["Report.pdf", "memo.md", "notes.txt",
                                                                           "visit.html"]
    assert main(["list", *common]) == 0
    listing = capsys.readouterr().out
    assert "author: Omar Reyes" in listing and "2 pages" in listing and "date: 1998-07-20" in listing
    assert main(["search", "protocol", "--author", "Reyes", "--json", *common]) == 0
    hits = json.loads(capsys.readouterr().out)["passages"]
    assert hits and {h["doc"] for h in hits} == {"Report"}
    assert main(["ask", "What was signed on the second day of the commission?", "--json", *common]) == 0
    ans = json.loads(capsys.readouterr().out)
    assert ans["supported"] and "Quokkavale protocol" in ans["answer"]
    cited = next(p for p in ans["passages"] if p["id"] == ans["sentences"][0]["citations"][0])
    assert cited["citation"].endswith("p. 2, ¶1")
    assert main(["cite", cited["citation"], "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out)["passages"][0]["text"].startswith("On the second day")
    assert main(["remove", "visit.html", "Report", *common, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["removed"] == ["visit.html", "Report.pdf"] and out["index"]["embedded"] == 0
    assert main(["remove", "nothing-like-this", *common]) == 2
    assert "rag list" in capsys.readouterr().err


def test_readers_paragraphs_from_layout_text():
    from rag.readers.pdf import paragraphs, title_of
    layout = "  First line of a para-\n  graph goes on here.\n\n\n   Next    paragraph.  \n"
    assert paragraphs(layout) == "First line of a paragraph goes on here.\n\nNext paragraph."
    assert title_of("Microsoft Word - draft.docx") == "" and title_of(" Island  Report ") == "Island Report"
    ex = readers.read("r.pdf", make_pdf(REPORT))
    assert ex.text.split("\n\n")[2] == REPORT[1][0] and ex.pages == (0, ex.text.index(REPORT[1][0]))


def test_default_documents_folder_starts_as_a_copy_of_the_seeds(tmp_path, monkeypatch, fake):
    """Added documents go to documents/, never into seeds/, which stays the verbatim default corpus."""
    from conftest import SEEDS
    monkeypatch.chdir(tmp_path)
    shutil.copytree(SEEDS, tmp_path / "seeds")
    before = {p.name: p.read_bytes() for p in (tmp_path / "seeds").iterdir()}
    engine = Engine(Settings(model=fake.name), embedder=fake)
    assert engine.build().documents == 5
    assert sorted(p.name for p in Path("documents").iterdir()) == sorted(before)
    assert library.store_bytes(engine.settings, "extra.txt", b"An extra note about Sakhalin.").status == "added"
    assert engine.build().new == ("extra.txt",)
    assert {p.name: p.read_bytes() for p in (tmp_path / "seeds").iterdir()} == before
