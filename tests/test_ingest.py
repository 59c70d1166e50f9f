from pathlib import Path

import pytest

from rag import ingest
from rag.text import clean, normalize_newlines

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def parse(name):
    return ingest.parse(name, (SEEDS / name).read_text(encoding="utf-8"))


def test_monitor_header_gives_publication_volume_issue():
    doc, passages = parse("000_6114352f984fc0ab.txt")
    assert (doc.publication, doc.volume, doc.issue) == ("Monitor", "3", "106")
    assert doc.label == "Monitor, Vol. 3, Issue 106"
    assert passages[1].citation == "Monitor, Vol. 3, Issue 106, ¶2"
    assert not any("Publication:" in p.text for p in passages)


def test_boilerplate_is_kept_and_flagged():
    _, passages = parse("000_6114352f984fc0ab.txt")
    flagged = [p for p in passages if p.boilerplate]
    assert len(flagged) == 1 and flagged[0].text.startswith("The Monitor is a publication of the Jamestown")
    assert flagged[0] is passages[-1]


def test_snyder_title_author_markdown_and_escapes():
    doc, passages = parse("004_d94f3f66138700a1.txt")
    assert doc.title == "Japan-Russia Relations: Moving Ahead on Military Ties, Diplomacy on Back Burner"
    assert doc.author == "Janet Snyder"
    assert passages[4].citation == 'Snyder, "Japan-Russia Relations…", ¶5'
    text = " ".join(p.text for p in passages)
    assert "**" not in text and "\\$" not in text and "$1.1 billion" in text


def test_page_break_paragraph_is_rejoined():
    _, passages = parse("004_d94f3f66138700a1.txt")
    joined = [p for p in passages if "(on handing the islands back).”" in p.text]
    assert len(joined) == 1
    assert joined[0].text.endswith("pin down a date for Yeltsin’s visit to Japan.")
    assert not any(p.text.startswith("back)") for p in passages)


def test_each_chronology_entry_is_its_own_passage():
    _, passages = parse("004_d94f3f66138700a1.txt")
    dated = [p for p in passages if p.section.startswith("Chronology")]
    assert len(dated) == 8
    assert all(p.text[:3] in ("Aug", "Sep") and p.text.count("1999:") == 1 for p in dated)


def test_headings_become_sections_not_passages():
    _, passages = parse("004_d94f3f66138700a1.txt")
    assert not any(p.text in ("Military-to-Military Contacts", "Policy Implications for the U.S.") for p in passages)
    assert {p.section for p in passages} >= {"Military-to-Military Contacts", "Economic Support Continues",
                                             "Policy Implications for the U.S."}


@pytest.mark.parametrize("name", sorted(p.name for p in SEEDS.glob("*.txt")))
def test_offsets_slice_the_source(name):
    source = normalize_newlines((SEEDS / name).read_text(encoding="utf-8"))
    _, passages = ingest.parse(name, source)
    assert passages
    for p in passages:
        assert p.text and clean(source[p.start:p.end]) == p.text
        for a, b in p.sentences:
            assert p.text[a:b].strip() == p.text[a:b] != ""


def test_ids_are_stable_and_per_document():
    _, a = parse("001_352b1d4192656aa0.txt")
    assert [p.id for p in a][:2] == ["001_352b1d4192656aa0:1", "001_352b1d4192656aa0:2"]
    assert len({p.id for p in a}) == len(a)


def test_long_paragraph_is_split_without_losing_text():
    source = "Title Line Here\n\n" + " ".join(f"Fact {i} is stated here." for i in range(60)) + "\n"
    count = lambda s: len(s.split()) + 2  # noqa: E731
    _, passages = ingest.parse("long.txt", source, count=count, limit=40)
    assert len(passages) > 1 and all(count(p.text) <= 40 for p in passages)
    assert [p.id for p in passages][:2] == ["long:1.1", "long:1.2"]
    assert " ".join(p.text for p in passages) == clean(source.split("\n\n", 1)[1])
    for p in passages:
        assert clean(source[p.start:p.end]) == p.text
    assert passages[1].citation.endswith("¶1 (part 2)")


def test_crlf_and_lf_give_the_same_passages():
    raw = (SEEDS / "004_d94f3f66138700a1.txt").read_text(encoding="utf-8")
    _, lf = ingest.parse("x.txt", raw)
    _, crlf = ingest.parse("x.txt", raw.replace("\n", "\r\n"))
    assert [(p.text, p.start, p.end) for p in lf] == [(p.text, p.start, p.end) for p in crlf]


def test_decode_handles_bom_utf16_cp1252_and_refuses_binary():
    assert ingest.decode("\ufeffcafé".encode("utf-8"), "a.txt") == "café"
    assert ingest.decode("café “quoted”".encode("utf-16"), "a.txt") == "café “quoted”"
    assert ingest.decode("café “quoted”".encode("cp1252"), "a.txt") == "café “quoted”"
    with pytest.raises(ingest.UnsupportedDocument, match="binary"):
        ingest.decode(bytes(range(256)) * 4, "a.txt")


def test_title_room_keeps_title_plus_piece_within_the_window():
    title = "A Fairly Long Title About Bone Density And Vitamin D"
    source = f"Title: {title}\n\n" + " ".join(f"Finding {i} was observed here." for i in range(40)) + "\n"
    count = lambda s: len(s.split()) + 2  # noqa: E731
    _, plain = ingest.parse("a.txt", source, count=count, limit=40)
    _, roomy = ingest.parse("a.txt", source, count=count, limit=40, title_room="lead")
    assert len(roomy) > len(plain)
    assert all(count(f"{title}. {p.text}") <= 40 for p in roomy)
