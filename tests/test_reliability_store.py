"""Reliability of the index folder (issue 5), each with the figure docs/RELIABILITY.md records:
SIGKILL during builds, damaged indexes, model and format mismatch, no pickle, two writers, and a
full or read-only disk. Builds run the real code path with the fake embedder (tests/
reliability_driver.py), in subprocesses wherever a process must die. `pytest -s` prints the figures."""
from __future__ import annotations

import ast
import errno
import hashlib
import io
import itertools
import json
import os
import pickle
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import bm25s
import pytest
import reliability_driver as rd
from conftest import ROOT, SEEDS, FakeEmbedder

from rag.cli import main as cli_main
from rag.config import Settings
from rag.engine import Engine
from rag.schema import IndexMismatch, RagError
from rag.store import layout, passage_lines, publish

DRIVER = str(Path(rd.__file__))
_ids = itertools.count()


def figure(name: str, text: str) -> None:
    print(f"\nFIGURE {name}: {text}")


def driver(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, DRIVER, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def run(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = driver(*args, env=env)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> bool:
    """True once `path` exists; False if the process ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            return True
        if proc.poll() is not None:
            return path.exists()
        time.sleep(0.003)
    proc.kill()
    raise TimeoutError(f"{path.name} did not appear within {timeout} s")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree(folder: Path) -> dict[str, str]:
    """Every file under a folder and its sha256 (but .lock, which names the last builder's pid)."""
    return {str(p.relative_to(folder)): sha(p.read_bytes()) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


class Corpus:
    """A documents folder that changes before every build (add, edit or remove a document), so
    consecutive generations always differ."""

    def __init__(self, root: Path, seeds: int = 5, tag: str = ""):
        root.mkdir(parents=True)
        for p in sorted(SEEDS.glob("*.txt"))[:seeds]:
            shutil.copy(p, root / p.name)
        self.root, self.n, self.tag = root, 0, tag

    def change(self) -> dict[str, str]:
        self.n += 1
        i, extras = self.n, sorted(self.root.glob("extra-*.txt"))
        if i % 3 == 2 and len(extras) > 1:    # never back to an earlier set of documents
            extras[0].unlink()
        elif i % 3 == 1 and extras:
            extras[-1].write_text(extras[-1].read_text() + f"\nRevision {i} adds the word zq{i}x.\n")
        else:
            (self.root / f"extra-{self.tag}{i:03d}.txt").write_text(
                f"Extra article {self.tag}{i}\n\nA paragraph about topic zq{i}y{self.tag} and the Kuril Islands.\n\n"
                f"A second paragraph, number {i}, about Japan and Russia.\n")
        return self.state()

    def state(self) -> dict[str, str]:
        return {p.name: sha(p.read_bytes()) for p in sorted(self.root.glob("*.txt"))}


# -- 1. SIGKILL during a build ---------------------------------------------------------------------
def judge(index: Path, prev: tuple | None, attempted: dict) -> tuple[str, dict]:
    """What a fresh loader gets: 'previous' (the last published generation, intact), 'new' (the
    attempted build, complete), 'not built' (first build), or 'broken'."""
    r = rd.inspect(index, index.parent / "docs")
    sound = r["ok"] and not r["problems"]
    if prev is None and not r["ok"] and r["error"] == "IndexNotBuilt":
        return "not built", r
    if prev is not None and sound and r["generation"] == prev[0] and r["documents"] == prev[1]:
        return "previous", r
    if sound and (prev is None or r["generation"] > prev[0]) and r["documents"] == attempted:
        return "new", r
    return "broken", r


def kill_at(index: Path, docs: Path, point: str, tmp: Path, prev, attempted,
            env: dict | None = None) -> tuple[bool, list[str]]:
    """Start a build, SIGKILL it at `point`; meanwhile check what readers get and that the
    previous build's leftovers are gone. Returns (reached the point, problems seen while paused)."""
    marker = tmp / f"marker-{next(_ids)}"
    proc = driver("build", docs, index, "--pause", point, "--marker", marker, env=env)
    if not wait_for(marker, proc):
        proc.communicate()
        return False, []
    seen, _ = judge(index, prev, attempted)
    want = {"new"} if point in ("after-replace", "drop-old") else {"previous", "not built"}
    bad = [] if seen in want else [f"{point}: while paused, readers got {seen!r}"]
    stale = [p.name for p in index.glob(".tmp-*") if not p.name.endswith(f"-{proc.pid}")]
    stale += ["CURRENT.tmp"] if point in rd.POINTS[:9] and (index / "CURRENT.tmp").exists() else []
    bad += [f"{point}: leftovers of an earlier build not cleaned: {stale}"] if stale else []
    proc.kill()
    proc.communicate()
    return True, bad


def kill_after(index: Path, docs: Path, delay: float, tmp: Path) -> bool:
    """Start a build and SIGKILL it `delay` s after its build began; False if it finished first."""
    start = tmp / f"start-{next(_ids)}"
    proc = driver("build", docs, index, "--start", start)
    wait_for(start, proc)
    time.sleep(delay)
    alive = proc.poll() is None
    proc.kill()
    proc.communicate()
    return alive


def test_sigkill_during_build_never_breaks_or_loses_the_index(tmp_path):
    t0, outcomes, failures, kills = time.monotonic(), [], [], 0

    def check(index, prev, attempted, label):
        outcome, r = judge(index, prev, attempted)
        outcomes.append(outcome)
        if outcome == "broken":
            failures.append(f"{label}: {r}")
        if outcome == "new" and prev is not None:
            try:
                layout.read_verified(index / prev[0])
            except RagError as exc:
                failures.append(f"{label}: previous generation {prev[0]} not kept: {exc}")
        return (r["generation"], attempted) if outcome == "new" else prev

    # First builds: nothing published yet, so the loader must say "no index" (or serve the new one).
    corpus = Corpus(tmp_path / "docs")
    for point in ("lock", "write:vectors.faiss", "write:manifest.json", "rename", "after-rename",
                  "current-tmp", "after-replace"):
        index = tmp_path / f"first-{point.replace(':', '-')}"
        reached, bad = kill_at(index, corpus.root, point, tmp_path, None, corpus.state())
        kills, failures = kills + reached, failures + bad + ([] if reached else [f"first {point}: not reached"])
        check(index, None, corpus.state(), f"first build, {point}")

    # A chain of builds over one index, killed at every point, twice, then at random moments.
    index = tmp_path / "index"
    start = tmp_path / "start-calibrate"
    proc = driver("build", corpus.root, index, "--start", start)
    wait_for(start, proc)
    t_build = time.monotonic()
    proc.communicate()
    t_build = time.monotonic() - t_build
    prev = check(index, None, corpus.state(), "initial build")
    for rnd in range(2):
        for point in rd.POINTS:
            attempted = corpus.change()
            reached, bad = kill_at(index, corpus.root, point, tmp_path, prev, attempted)
            kills, failures = kills + reached, failures + bad + ([] if reached else [f"{point}: not reached"])
            prev = check(index, prev, attempted, f"round {rnd}, {point}")
            if point == "after-rename":     # an orphaned complete generation must not push out the live one
                attempted = corpus.change()
                assert run("build", corpus.root, index).returncode == 0
                prev = check(index, prev, attempted, f"clean build after an orphan, round {rnd}")
        attempted = corpus.change()
        assert run("build", corpus.root, index).returncode == 0
        prev = check(index, prev, attempted, f"clean build after round {rnd}")
    rng, random_kills = random.Random(20240905), 0
    for _ in range(40):
        if random_kills == 12:
            break
        attempted = corpus.change()
        killed = kill_after(index, corpus.root, rng.uniform(0, t_build), tmp_path)
        random_kills, kills = random_kills + killed, kills + killed
        prev = check(index, prev, attempted, "random kill" if killed else "unkilled build")
    attempted = corpus.change()
    assert run("build", corpus.root, index).returncode == 0
    prev = check(index, prev, attempted, "final build")
    left = sorted(p.name for p in index.iterdir() if p.name.startswith((".tmp-", "CURRENT.tmp")))
    gens = sorted(p.name for p in index.iterdir() if p.name.startswith("gen-"))
    tally = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    figure("kill-during-build", f"{kills} SIGKILLs ({kills - random_kills} at chosen points, {random_kills} at "
           f"random moments; build ≈ {t_build:.2f} s): broken or lost indexes {sum(o == 'broken' for o in outcomes)}"
           f"/{kills}; outcomes {tally}; after the final build: "
           f"leftovers {left}, generations {gens}; {time.monotonic() - t0:.0f} s")
    assert not failures, "\n".join(failures)
    assert kills >= 30 and random_kills >= 10 and not left and len(gens) == 2


def test_sigkill_during_an_update_never_breaks_or_loses_the_index(tmp_path):
    """Builds written as updates over the live generation (its files hard-linked, rag.store.delta_write),
    killed after a link, inside each file of their own and at every publish point: readers get the
    previous generation or the new one, whole, and the generation before keeps every shared file."""
    env, failures, kills, outcomes = {"RAG_TEST_UPDATES": "1"}, [], 0, []
    corpus, index = Corpus(tmp_path / "docs"), tmp_path / "index"
    for _ in range(3):
        corpus.change()
    assert run("build", corpus.root, index, env=env).returncode == 0
    r = rd.inspect(index, corpus.root)
    prev = (r["generation"], corpus.state())
    points = rd.UPDATE_POINTS + ("write:manifest.json", "rename", "after-rename", "current-tmp",
                                 "after-replace", "drop-old")
    for rnd in range(2):
        for point in points:
            if point == "write:delta/bm25s/data.csc.index.npy" or rnd == 0 or point in rd.UPDATE_POINTS[:3]:
                attempted = corpus.change()
                reached, bad = kill_at(index, corpus.root, point, tmp_path, prev, attempted, env=env)
                kills, failures = kills + reached, failures + bad + ([] if reached else [f"{point}: not reached"])
                outcome, r = judge(index, prev, attempted)
                outcomes.append(outcome)
                if outcome == "broken":
                    failures.append(f"round {rnd}, {point}: {r}")
                if outcome == "new":
                    try:
                        layout.read_verified(index / prev[0])   # the generation it replaced, shared files and all
                    except RagError as exc:
                        failures.append(f"{point}: previous generation {prev[0]} not kept: {exc}")
                    prev = (r["generation"], attempted)
        attempted = corpus.change()
        assert run("build", corpus.root, index, env=env).returncode == 0
        outcome, r = judge(index, prev, attempted)
        assert outcome == "new", r
        prev = (r["generation"], attempted)
        manifest = json.loads((index / prev[0] / "manifest.json").read_text())
        assert "delta" in manifest, "the clean build was not written as an update"
    figure("kill-during-update", f"{kills} SIGKILLs during updates: broken or lost indexes "
           f"{outcomes.count('broken')}/{kills}; outcomes { {o: outcomes.count(o) for o in sorted(set(outcomes))} }")
    assert not failures, "\n".join(failures)
    assert kills >= 15


# -- 2. Verified load of damaged indexes --------------------------------------------------------
@pytest.fixture(scope="module")
def two_generations(tmp_path_factory) -> Path:
    """An index with two generations (different documents); gen-000002 is live."""
    where = tmp_path_factory.mktemp("twogen")
    corpus = Corpus(where / "docs", seeds=4)
    settings = Settings(docs_dir=corpus.root, index_dir=where / "index", model=FakeEmbedder.name)
    Engine(settings, embedder=FakeEmbedder()).build()
    corpus.change(), (corpus.root / min(corpus.state())).write_text("Edited\n\nA changed text.\n")
    assert Engine(settings, embedder=FakeEmbedder()).build().generation == "gen-000002"
    return settings.index_dir


@pytest.fixture(scope="module")
def updated_generations(tmp_path_factory) -> Path:
    """The same, with gen-000002 written as an update over gen-000001 (shared files, delta/)."""
    where = tmp_path_factory.mktemp("updgen")
    corpus = Corpus(where / "docs", seeds=4)
    settings = Settings(docs_dir=corpus.root, index_dir=where / "index", model=FakeEmbedder.name,
                        update_min_rows=1, compact_share=1.0)
    Engine(settings, embedder=FakeEmbedder()).build()
    corpus.change(), (corpus.root / min(corpus.state())).write_text("Edited\n\nA changed text.\n")
    report = Engine(settings, embedder=FakeEmbedder()).build()
    assert (report.generation, report.written) == ("gen-000002", "update")
    return settings.index_dir


def mutants(index: Path, out: Path) -> list[tuple[str, Path]]:
    """(description, folder) of damaged copies of `index`: truncations, deletions, byte flips,
    files swapped in from the previous generation, and a few hand-made ones."""
    g2, g1 = index / "gen-000002", index / "gen-000001"
    names = [str(p.relative_to(g2)) for p in sorted(g2.rglob("*")) if p.is_file()]
    targets = [(n, Path("gen-000002") / n) for n in names] + [("CURRENT", Path("CURRENT"))]
    made, rng = [], random.Random(7)

    def make(desc, change):
        folder = out / f"m{len(made):03d}"
        shutil.copytree(index, folder, symlinks=True)
        change(folder)
        made.append((desc, folder))

    for name, rel in targets:
        size = (index / rel).stat().st_size
        for n in sorted({0, 1, size // 2, size - 1}):
            make(f"truncate {name} to {n} B", lambda f, rel=rel, n=n: os.truncate(f / rel, n))
        make(f"delete {name}", lambda f, rel=rel: (f / rel).unlink())
        for _ in range(12 if name == "manifest.json" else 6):
            at, x = rng.randrange(size), rng.randrange(1, 256)
            make(f"flip byte {at} of {name} (xor {x:#04x})", lambda f, rel=rel, at=at, x=x: _xor(f / rel, at, x))
    for name in names:
        if (g1 / name).exists() and (g1 / name).read_bytes() != (g2 / name).read_bytes():
            make(f"swap in gen-000001's {name}", lambda f, n=name: shutil.copy(f / "gen-000001" / n, f / "gen-000002" / n))
    make("swap in gen-000001's vectors.faiss and manifest.json", lambda f: [
        shutil.copy(f / "gen-000001" / n, f / "gen-000002" / n) for n in ("vectors.faiss", "manifest.json")])
    make("vectors.faiss a symlink to gen-000001's", lambda f: ((f / "gen-000002/vectors.faiss").unlink(),
         (f / "gen-000002/vectors.faiss").symlink_to(f / "gen-000001/vectors.faiss")))
    make("CURRENT names a generation without manifest", lambda f: (f / "gen-000002/manifest.json").unlink()
         or (f / "gen-000003").mkdir() or (f / "CURRENT").write_text("gen-000003\n"))
    return made


def _xor(path: Path, at: int, x: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= x
    path.write_bytes(bytes(data))


def load_in_subprocesses(folders: list[Path], batches: int = 4) -> tuple[dict, list[str]]:
    """Load every folder through the driver, a batch per process; a death by signal is reported
    with the folder it was loading."""
    results, deaths = {}, []
    for part in (folders[i::batches] for i in range(batches)):
        done = run("load", *part, timeout=120)
        last = None
        for line in done.stdout.splitlines():
            r = json.loads(line)
            if r.get("start"):
                last = r["index"]
            else:
                results[r["index"]] = r
        if done.returncode != 0:
            deaths.append(f"exit {done.returncode} while loading {last}: {done.stderr[-500:]}")
    return results, deaths


@pytest.mark.parametrize("which", ["two_generations", "updated_generations"])
def test_damaged_indexes_are_rejected_before_faiss_parses_them(which, request, tmp_path):
    index = request.getfixturevalue(which)
    made = mutants(index, tmp_path)
    control1 = tmp_path / "control-gen1"
    shutil.copytree(index, control1)
    (control1 / "CURRENT").write_text("gen-000001\n")
    results, deaths = load_in_subprocesses([index, control1] + [f for _, f in made])
    good = {"gen-000002": results[str(index)]["digest"], "gen-000001": results[str(control1)]["digest"]}
    genuine = {sha(f.read_bytes()) for g in good for f in (index / g / "vectors.faiss", index / g / "delta/vectors.faiss")
               if f.exists()}
    counts, wrong, reached = {"rejected": 0, "identical": 0, "previous generation": 0}, [], 0
    kinds, same = {}, []
    for desc, folder in made:
        kind = kinds.setdefault(w if (w := desc.split()[0]) in ("truncate", "delete", "flip", "swap") else "other", [0, 0])
        kind[1] += 1
        r = results.get(str(folder), {"ok": False, "error": "died", "message": ""})
        reached += any(h not in genuine for h in r.get("faiss_parsed", []))
        if not r["ok"] and not r.get("unexpected") and (
                r["error"] == "IndexMismatch" and "--rebuild" in r["message"]
                or r["error"] == "IndexNotBuilt" and "python -m rag index" in r["message"]):
            counts["rejected"] += 1
            kind[0] += 1
        elif r["ok"] and r["digest"] == good["gen-000002"] and r["generation"] == "gen-000002":
            counts["identical"] += 1
            same.append(desc)
        elif r["ok"] and r["digest"] == good["gen-000001"] and r["generation"] == "gen-000001":
            counts["previous generation"] += 1    # CURRENT flipped to name the (complete) older one
        else:
            wrong.append(f"{desc}: {r}")
    figure("verified-load", f"{counts['rejected']}/{len(made)} mutants rejected with IndexMismatch/IndexNotBuilt "
           f"naming the fix ({', '.join(f'{k} {a}/{b}' for k, (a, b) in kinds.items())}); "
           f"{counts['identical']} loaded an identical index {same}; "
           f"{counts['previous generation']} loaded the previous complete generation "
           f"(CURRENT flipped to its name); wrong or unclear {len(wrong)}; deaths by signal {len(deaths)}; "
           f"damaged vectors bytes reaching faiss {reached}")
    assert len(made) >= 100 and not deaths and not wrong and reached == 0, "\n".join(deaths + wrong)
    assert counts["rejected"] >= 0.9 * len(made)


@pytest.mark.parametrize("damage", ["truncate vectors.faiss", "flip manifest.json", "swap passages.jsonl",
                                    "garbage CURRENT"])
def test_cli_reports_a_damaged_index_in_one_line(two_generations, tmp_path, damage):
    index = tmp_path / "index"
    shutil.copytree(two_generations, index)
    g = index / "gen-000002"
    if damage.startswith("truncate"):
        os.truncate(g / "vectors.faiss", 100)
    elif damage.startswith("flip"):
        m = json.loads((g / "manifest.json").read_text())
        m["dim"] = 32    # still valid JSON: only the manifest's own checksum catches it
        (g / "manifest.json").write_text(json.dumps(m))
    elif damage.startswith("swap"):
        shutil.copy(index / "gen-000001/passages.jsonl", g / "passages.jsonl")
    else:
        (index / "CURRENT").write_bytes(b"\xff\xfe\x00gen")
    done = run("cli", "search", "Kuril Islands", "--index", index, "--docs", two_generations.parent / "docs")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "--rebuild" in lines[0] and "Traceback" not in done.stderr and not done.stdout


# -- 3. Model, dimension or format mismatch ------------------------------------------------------
class FakeEmbedder32(FakeEmbedder):
    dim = 32     # same name, another dimension: a model folder replaced in place


def test_other_model_is_refused_at_start_naming_both_and_the_fix(fake_engine, capsys, monkeypatch):
    s = fake_engine.settings
    with pytest.raises(IndexMismatch) as exc:
        Engine(s.with_(model="other-model"))._snapshot()
    msg = str(exc.value)
    for part in ("'fake-hash-embedder' (64-d)", "'other-model'", "--rebuild", "--model fake-hash-embedder"):
        assert part in msg
    monkeypatch.setattr("rag.embed.choose.choose", lambda *a, **k: FakeEmbedder())
    code = cli_main(["search", "Japan", "--index", str(s.index_dir), "--docs", str(s.docs_dir), "--model", "other-model"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "other-model" in err[0] and "fake-hash-embedder" in err[0]


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_other_dimension_is_refused_naming_both_dimensions(fake_engine, mode):
    engine = Engine(fake_engine.settings, embedder=FakeEmbedder32())
    with pytest.raises(IndexMismatch, match=r"32 dimensions but the index holds 64-d.*--rebuild"):
        engine.search("Kuril Islands", mode=mode)


def test_other_dimension_is_refused_at_start_even_for_keyword_answers(fake_engine):
    engine = Engine(fake_engine.settings, embedder=FakeEmbedder32())
    with pytest.raises(IndexMismatch, match=r"32.*64|64.*32"):
        engine.ask("Who fled Japan?", mode="keyword")


@pytest.mark.parametrize("field,value,expect", [
    ("version", layout.VERSION + 1, f"index format v{layout.VERSION + 1} is newer than this program's v{layout.VERSION}"),
    ("format", "other-index", "is not a rag index")])
def test_newer_or_foreign_format_is_refused_naming_both(fake_engine, field, value, expect):
    gen = fake_engine._snapshot().folder
    m = json.loads((gen / "manifest.json").read_text())
    m[field] = value
    (gen / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexMismatch) as exc:
        Engine(fake_engine.settings, embedder=FakeEmbedder())._snapshot()
    assert expect in str(exc.value) and "--rebuild" in str(exc.value)


def test_version_1_index_without_its_own_checksum_still_loads(fake_engine):
    gen = fake_engine._snapshot().folder
    m = json.loads((gen / "manifest.json").read_text())
    m["version"] = 1
    del m[layout.SELF]
    (gen / "manifest.json").write_text(json.dumps(m))
    assert Engine(fake_engine.settings, embedder=FakeEmbedder())._snapshot().generation == gen.name


# -- 4. No pickle ----------------------------------------------------------------------------------
UNPICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def unsafe_loads(source: str) -> list[str]:
    """Calls that can run code from a data file: pickle-family loads, torch.load without
    weights_only=True, allow_pickle=True, allow_dangerous_deserialization, pandas read_pickle."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f, kw = node.func, {k.arg: k.value for k in node.keywords}
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")

            def true(k, kw=kw):
                return isinstance(kw.get(k), ast.Constant) and kw[k].value is True
            if (owner in UNPICKLERS and name in ("load", "loads", "Unpickler", "open")
                    or name in ("Unpickler", "read_pickle")
                    or owner == "torch" and name == "load" and not true("weights_only")
                    or true("allow_pickle") or "allow_dangerous_deserialization" in kw):
                found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            found += [f"line {node.lineno}: import {m}" for m in mods if m and m.split(".")[0] in UNPICKLERS - {"joblib"}]
    return found + (["allow_dangerous_deserialization"] if "allow_dangerous_deserialization" in source else [])


def test_no_unsafe_deserialization_in_the_project():
    files = sorted([*ROOT.glob("rag/**/*.py"), ROOT / "app.py", *ROOT.glob("benchmarks/**/*.py")])
    hits = {str(p.relative_to(ROOT)): h for p in files if (h := unsafe_loads(p.read_text(encoding="utf-8")))}
    figure("no-pickle-static", f"{len(files)} files scanned, {sum(map(len, hits.values()))} unsafe loads")
    assert len(files) > 20 and not hits


def test_the_static_check_catches_each_pattern():
    bad = ["import pickle", "pickle.load(f)", "pickle.loads(b)", "torch.load(p)", "torch.load(p, weights_only=False)",
           "np.load(p, allow_pickle=True)", "FAISS.load_local(p, e, allow_dangerous_deserialization=True)",
           "pd.read_pickle(p)", "joblib.load(p)", "from dill import loads"]
    assert all(unsafe_loads(s) for s in bad)
    assert not unsafe_loads("torch.load(p, weights_only=True)\nnp.load(p, allow_pickle=False)\njson.loads(s)")


class _Canary:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))    # unpickling creates the canary file


def test_planted_pickles_are_never_opened(fake_engine, tmp_path):
    index, canary = fake_engine.settings.index_dir, tmp_path / "canary"
    gen = fake_engine._snapshot().folder
    payload = pickle.dumps(_Canary(str(canary)))
    planted = [index / "evil.pkl", index / "index.pkl", gen / "evil.pkl", gen / "index.pkl", gen / "passages.pkl",
               gen / "vectors.pkl", gen / "documents.json.pkl", gen / "bm25" / "params.index.pkl",
               gen / "bm25" / "corpus.jsonl", gen / "bm25" / "nonoccurrence_array.index.npy"]
    for p in planted:
        p.write_bytes(payload)
    done = run("audit", index, fake_engine.settings.docs_dir)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    touched = sorted({o for o in report["opened"] if Path(o).resolve() in {p.resolve() for p in planted}})
    figure("no-pickle-planted", f"{len(planted)} planted pickles (index/ and the generation folder, incl. names "
           f"like real files), {len(report['opened'])} file opens during load + queries + CLI + rebuild: "
           f"planted files opened {len(touched)}, unpickler class lookups {len(report['pickles'])}, "
           f"canary created {canary.exists()}")
    assert report["cli"] == 0 and not touched and not report["pickles"] and not canary.exists()
    assert any(o.endswith("vectors.faiss") for o in report["opened"])   # the hook did see the real loads


# -- 5. Two writers ---------------------------------------------------------------------------------
def test_second_writer_fails_fast_then_the_index_is_whole(tmp_path):
    corpus, index, go = Corpus(tmp_path / "docs"), tmp_path / "index", tmp_path / "go"
    first_docs = corpus.change()
    marker = tmp_path / "marker"
    first = driver("build", corpus.root, index, "--pause", "write:documents.json", "--marker", marker, "--go", go)
    assert wait_for(marker, first)
    t = time.monotonic()
    second = run("build", corpus.root, index)
    waited = time.monotonic() - t
    assert second.returncode == 1 and f"index is being built by pid {first.pid}" in second.stderr
    go.touch()
    assert first.wait(30) == 0
    r = rd.inspect(index, corpus.root)
    assert r["ok"] and not r["problems"] and r["documents"] == first_docs
    second_docs = corpus.change()
    assert run("build", corpus.root, index).returncode == 0       # the retry succeeds
    r = rd.inspect(index, corpus.root)
    assert r["ok"] and not r["problems"] and r["documents"] == second_docs
    figure("two-writers-paused", f"second build failed in {waited:.2f} s (process start included) naming pid "
           f"{first.pid}; final index whole, {len(first_docs)}/{len(first_docs)} documents")


def test_simultaneous_builds_are_serialised(tmp_path):
    a, b, index = Corpus(tmp_path / "a", 3, "a"), Corpus(tmp_path / "b", 5, "b"), tmp_path / "index"
    for p in sorted(b.root.glob("*.txt"))[:3]:
        p.unlink()                                    # a and b: disjoint document sets
    tally, bad = {"one refused": 0, "both ran in turn": 0}, []
    for rep in range(8):
        states = {"a": a.change(), "b": b.change()}
        procs = {"a": driver("build", a.root, index, "--rebuild", "1"), "b": driver("build", b.root, index, "--rebuild", "1")}
        done = {k: (*p.communicate(timeout=60), p.returncode) for k, p in procs.items()}
        done = {k: (code, out, err) for k, (out, err, code) in done.items()}
        ok = {k: json.loads(out)["generation"] for k, (code, out, _) in done.items() if code == 0}
        for k, (code, _, err) in done.items():
            other = procs["b" if k == "a" else "a"].pid
            if code != 0 and f"index is being built by pid {other}" not in err:
                bad.append(f"rep {rep}: {k} failed without the lock message: {err}")
        r = rd.inspect(index, a.root)
        winner = max(ok, key=ok.get) if ok else None
        if not ok or not r["ok"] or r["problems"] or r["generation"] != ok[winner] or r["documents"] != states[winner]:
            bad.append(f"rep {rep}: final index {r} after {done}")
        tally["one refused" if len(ok) == 1 else "both ran in turn"] += 1
    figure("two-writers-race", f"8 pairs of simultaneous builds: {tally}; invalid final indexes or lost "
           f"documents {len(bad)}")
    assert not bad, "\n".join(bad)


def test_lock_of_a_killed_builder_does_not_block_the_next_build(tmp_path):
    corpus, index, marker = Corpus(tmp_path / "docs"), tmp_path / "index", tmp_path / "marker"
    proc = driver("build", corpus.root, index, "--pause", "lock", "--marker", marker)
    assert wait_for(marker, proc)
    proc.kill()
    proc.communicate()
    assert (index / ".lock").read_text() == str(proc.pid) and list(index.glob(".tmp-*"))
    t = time.monotonic()
    done = run("build", corpus.root, index)
    assert done.returncode == 0, done.stderr
    assert not list(index.glob(".tmp-*")) and rd.inspect(index, corpus.root)["ok"]
    figure("stale-lock", f"build after a SIGKILLed builder (lock file still naming pid {proc.pid}) succeeded "
           f"in {time.monotonic() - t:.2f} s; its temporary folder removed")


# -- 6. Disk full or read-only ----------------------------------------------------------------------
class _FullDisk(io.BufferedWriter):
    def write(self, b):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))   # as write(2) reports it: no file name


class _FullWorkFile(io.FileIO):
    def write(self, b):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _inject(monkeypatch, fault: str, index: Path) -> str:
    """Make the next build hit `fault`; returns the strerror the message must show."""
    real_open, real_mkdir = open, Path.mkdir

    def store_open(file, mode="r", *a, **k):
        if fault == "enospc-write" and "w" in mode and ".tmp-gen-" in str(file):
            return _FullDisk(io.FileIO(file, "wb"))
        if fault == "erofs-lock" and str(file).endswith(".lock"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return real_open(file, mode, *a, **k)

    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def save(self, path, *a, **k):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "params.index.json").write_text("{")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(path) / "data.csc.index.npy"))

    def mkdir(self, *a, **k):
        if self.name.startswith(".tmp-gen-"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_mkdir(self, *a, **k)
    monkeypatch.setattr(publish, "open", store_open, raising=False)
    if fault == "enospc-work":   # the build's work files: passage lines and texts, written as documents are read
        monkeypatch.setattr(passage_lines, "open", lambda file, mode="r", **k: _FullWorkFile(file, "w+"), raising=False)
    if fault == "enospc-fsync":
        monkeypatch.setattr(os, "fsync", fsync)
    if fault == "enospc-library":
        monkeypatch.setattr(bm25s.BM25, "save", save)
    if fault == "eacces-mkdir":
        monkeypatch.setattr(Path, "mkdir", mkdir)
    code = {"enospc": errno.ENOSPC, "erofs": errno.EROFS, "eacces": errno.EACCES}[fault.split("-")[0]]
    return os.strerror(code)


def answers(engine: Engine) -> list:
    return [[h.passage.id for h in engine.search(q, k=5)] + [s.text for s in engine.ask(q).sentences]
            for q in rd.QUERIES]


@pytest.mark.parametrize("fault", ["enospc-work", "enospc-write", "enospc-fsync", "enospc-library", "erofs-lock",
                                   "eacces-mkdir"])
def test_full_or_read_only_disk_fails_cleanly_and_the_old_index_serves(fake_engine, monkeypatch, capsys, fault):
    s, index = fake_engine.settings, fake_engine.settings.index_dir
    (s.docs_dir / "new.txt").write_text("A new article\n\nIt needs room on the disk.\n")
    generation, before, replies = fake_engine._snapshot().generation, tree(index), answers(fake_engine)
    reason = _inject(monkeypatch, fault, index)
    with pytest.raises(RagError) as exc:
        fake_engine.build()
    assert f"cannot write the index in {index}/ ({reason})" in str(exc.value)
    monkeypatch.setattr("rag.embed.choose.choose", lambda *a, **k: FakeEmbedder())
    code = cli_main(["index", "--index", str(index), "--docs", str(s.docs_dir), "--model", s.model])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(errors) == 1 and str(index) in errors[0] and reason in errors[0]
    assert "Traceback" not in err
    monkeypatch.undo()
    assert tree(index) == before and not list(index.glob(".tmp-*"))   # unchanged, no temporary bytes left
    assert fake_engine._snapshot().generation == generation and answers(fake_engine) == replies
    fresh = Engine(s, embedder=FakeEmbedder())
    assert fresh._snapshot().generation == generation and answers(fresh) == replies
    assert fake_engine.build().rebuilt     # the lock was released: the next build works
    figure(f"disk-fault-{fault}", f"{errors[0][:110]}…; CLI exit 1, one error line, no traceback; index files "
           "and answers unchanged; no temporary files; the next build works")


def _mount(where: Path, *options: str) -> bool:
    where.mkdir(exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(where)],
                          capture_output=True, check=False).returncode == 0


def test_real_full_then_read_only_filesystem(tmp_path):
    """A real 2 MB tmpfs (root only; skipped where mounting is not allowed), through the CLI in a
    subprocess: filled up, then remounted read-only."""
    mnt = tmp_path / "mnt"
    if os.geteuid() != 0 or not shutil.which("mount") or not _mount(mnt, "size=2m"):
        pytest.skip("mounting a tmpfs needs root (the simulated faults above still run)")
    try:
        small, index = Corpus(tmp_path / "small", seeds=3), mnt / "index"
        big = Corpus(tmp_path / "big", seeds=5)
        for i in range(40):
            shutil.copy(SEEDS / sorted(os.listdir(SEEDS))[i % 5], big.root / f"copy-{i}.txt")
        assert run("cli", "index", "--index", index, "--docs", small.root).returncode == 0
        search = ("cli", "search", "Kuril Islands", "--json", "--index", index, "--docs", small.root)
        before, reply = tree(index), run(*search).stdout
        with open(mnt / "filler", "wb") as f:          # leave about 64 KB free
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        os.truncate(mnt / "filler", os.path.getsize(mnt / "filler") - 65536)
        results = {}
        for label in ("full", "read-only"):
            if label == "read-only":
                assert subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=False).returncode == 0
            done = run("cli", "index", "--rebuild", "--index", index, "--docs", big.root)
            errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
            assert done.returncode == 1 and len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
            assert f"{index}/" in errors[0]
            assert tree(index) == before and not list(index.glob(".tmp-*")) and run(*search).stdout == reply
            results[label] = errors[0]
        figure("disk-full-read-only", f"real tmpfs: {results}; index unchanged (same files, same sha256, same "
               "search output), no temporary bytes left, exit 1, one line")
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)
