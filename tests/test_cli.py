"""The CLI, called in-process through main(argv), against the real seed index."""
import io
import json
import subprocess
import sys

import pytest

from rag.cli import main

from conftest import ROOT, SEEDS


@pytest.fixture
def rag(real_index, capsys):
    def run(*argv, stdin=None):
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        try:
            code = main([*argv, "--docs", str(SEEDS), "--index", str(real_index)])
        finally:
            sys.stdin = sys.__stdin__
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_ask_json(rag):
    code, out, _ = rag("ask", "Who fled Japan?", "--json")
    data = json.loads(out)
    assert code == 0 and data["supported"] and data["sentences"][0]["citations"][0] == "003_8f2f016433a13dad:1"


def test_ask_text_shows_markers_and_sources(rag):
    code, out, _ = rag("ask", "Which Russian warship visited Yokosuka?")
    assert code == 0 and "[1]" in out and "Sources:" in out and "¶" in out


def test_search_json_shape(rag):
    code, out, _ = rag("search", "Kuril Islands dispute", "-k", "3", "--mode", "keyword", "--json")
    data = json.loads(out)
    assert code == 0 and data["question"] == "Kuril Islands dispute" and len(data["passages"]) == 3
    assert set(data["passages"][0]) >= {"id", "citation", "doc", "score", "text"}


def test_batch_from_stdin(rag):
    code, out, _ = rag("ask", "--batch", "-", "--json", stdin="Who fled Japan?\n\nWhat is photosynthesis?\n")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["supported"] for r in rows] == [True, False]


def test_cite_text_and_json(rag):
    code, out, _ = rag("cite", "Monitor, Vol. 5, Issue 107, ¶3")
    assert code == 0 and "Monitor, Vol. 5, Issue 107, ¶3" in out
    code, out, _ = rag("cite", "Monitor 5/107", "--json")
    data = json.loads(out)
    assert code == 0 and data["ref"] == "Monitor 5/107" and len(data["passages"]) == 5
    assert set(data["passages"][1]) >= {"id", "citation", "doc", "text", "before", "after"}


def test_unknown_citation_exits_2_with_suggestions(rag):
    code, out, _ = rag("cite", "Monitor 9/999")
    assert code == 2 and "closest" in out


def test_empty_question_exits_2_without_traceback(rag):
    code, out, err = rag("ask", "   ")
    assert code == 2 and err.startswith("error: empty question") and "Traceback" not in err


def test_bad_mode_exits_2(rag):
    with pytest.raises(SystemExit) as exc:
        rag("search", "x", "--mode", "nope")
    assert exc.value.code == 2


def test_list_and_index_up_to_date(rag):
    code, out, _ = rag("list")
    heads = [ln for ln in out.splitlines() if not ln.startswith(" ")]
    assert code == 0 and len(heads) == 5 and "author: Janet Snyder" in out
    code, out, _ = rag("index", "--json")
    assert code == 0 and json.loads(out)["rebuilt"] is False


def test_missing_docs_folder_is_exit_2(tmp_path, capsys):
    code = main(["index", "--docs", str(tmp_path / "nope"), "--index", str(tmp_path / "ix")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_help_is_fast_and_imports_nothing_heavy():
    code = ("import sys, rag.cli; rag.cli.parser(); "
            "print(sorted(m for m in ('numpy','faiss','torch','sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_console_script_and_module_entry(real_index):
    out = subprocess.run([sys.executable, "-m", "rag", "ask", "Who fled Japan?", "--json", "--docs", str(SEEDS),
                          "--index", str(real_index)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and json.loads(out.stdout)["supported"]


NO_TORCH = ("import sys, json; from rag.cli import main; code = main(sys.argv[1:]); "
            "print(json.dumps({'code': code, 'torch': 'torch' in sys.modules, "
            "'st': 'sentence_transformers' in sys.modules}), file=sys.stderr)")


def _ask_in_fresh_process(index):
    out = subprocess.run([sys.executable, "-c", NO_TORCH, "ask", "Who fled Japan?", "--json", "--docs", str(SEEDS),
                          "--index", str(index)], capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout), json.loads(out.stderr.strip().splitlines()[-1]), out.stderr


def test_query_path_imports_neither_torch_nor_sentence_transformers(real_index):
    answer, mods, _ = _ask_in_fresh_process(real_index)
    assert answer["supported"] and mods == {"code": 0, "torch": False, "st": False}


def test_missing_or_tampered_export_falls_back_to_torch_and_says_so(real_index, tmp_path):
    import shutil
    index = tmp_path / "index"
    shutil.copytree(real_index, index)
    onnx = next((index / "onnx").iterdir()) / "model.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    answer, mods, err = _ask_in_fresh_process(index)
    assert answer["supported"] and answer["sentences"][0]["citations"][0] == "003_8f2f016433a13dad:1"
    assert mods["torch"] and err.count("using sentence-transformers") == 1


def test_rag_console_script_is_installed():
    from pathlib import Path
    script = Path(sys.executable).parent / "rag"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "cite" in out.stdout


def test_first_command_builds_the_index_and_reports_skipped_files(tmp_path, capsys):
    import shutil
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    (docs / "bad.txt").write_bytes(bytes(range(256)) * 8)
    code = main(["search", "Kuril", "-k", "2", "--mode", "keyword", "--docs", str(docs), "--index",
                 str(tmp_path / "ix")])
    out, err = capsys.readouterr()
    assert code == 0 and "indexed 5 documents" in err and "skipped bad.txt" in err and "binary" in err
