from rag import text as T


def test_blocks_trim_and_skip_blank_runs():
    src = "\n\n  first line\nsecond\n\n\n third \n"
    spans = T.blocks(src)
    assert [src[a:b] for a, b in spans] == ["first line\nsecond", "third"]


def test_clean_removes_emphasis_escapes_and_invisibles():
    assert T.clean("Japan: **Moving Ahead**  on\nties") == "Japan: Moving Ahead on ties"
    assert T.clean(r"This translates into \$1.1 billion") == "This translates into $1.1 billion"
    assert T.clean("a\u200bb\U000e0041c") == "abc"
    assert T.clean("nego\u00adtiations") == "negotiations"      # a soft hyphen would split the word for search


def test_clean_map_points_back_into_the_source():
    src = "Say **bold**  \\$5\n now"
    out, where = T.clean_map(src)
    assert out == T.clean(src) == "Say bold $5 now"
    for i, ch in enumerate(out):
        assert ch == " " and src[where[i]].isspace() or src[where[i]] == ch


def test_sentences_respect_abbreviations_quotes_and_source_notes():
    text = ("The U.S. NASA joined. Gen. Ivashov spoke in Tokyo. He said “it will end.” Then he left. "
            "(Itar-Tass, May 29)")
    got = [text[a:b] for a, b in T.split_sentences(text)]
    assert got == ["The U.S. NASA joined.", "Gen. Ivashov spoke in Tokyo.", "He said “it will end.”",
                   "Then he left. (Itar-Tass, May 29)"]


def test_headings():
    assert T.is_heading("Peace Treaty Prospects Remain Dim")
    assert T.is_heading("Policy Implications for the U.S.")
    assert T.is_heading("## Notes")
    assert not T.is_heading("It was the first visit by a Russian naval vessel into a Japanese military port.")
    assert not T.is_heading("back).” To this end")


def test_dated_lines():
    assert T.dated_lines("Aug 16, 1999: one thing.\nSept 2, 1999: another.")
    assert not T.dated_lines("Aug 16, 1999: one thing.")


def test_pieces_cover_text_within_limit():
    words = lambda s: len(s.split())  # noqa: E731
    text = " ".join(f"Sentence number {i} has some words in it." for i in range(30))
    spans = T.pieces(text, words, 25)
    assert len(spans) > 1
    assert all(words(text[a:b]) <= 25 for a, b in spans)
    assert " ".join(text[a:b] for a, b in spans) == text


def test_pieces_cut_an_overlong_sentence_at_words():
    words = lambda s: len(s.split())  # noqa: E731
    text = "word " * 99 + "end."
    spans = T.pieces(text.strip(), words, 10)
    assert all(words(text[a:b]) <= 10 for a, b in spans) and len(spans) == 10
