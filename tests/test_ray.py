"""`rag index --ray ADDRESS`: encoding on a real two-node Ray cluster (separate processes on this
machine, one CPU each) builds the same index, byte for byte, as a local build; a worker killed
mid-run is retried; a bad address fails at once, naming the fix; the query path never imports ray."""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOT, SEEDS
from ray_cluster import LocalCluster
from servers import free_port

from rag.cli import main
from rag.config import Settings
from rag.embed.protocol import onnx_dir_for
from rag.engine import Engine
from rag.schema import RagError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")   # ray's own settings
QUESTIONS = ["Who fled Japan?", "What blocked a peace treaty?", "How large was the loan from the Export-Import Bank?"]


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(nodes=2, cpus=1) as c:
        yield c
    assert not c.processes()


def _generation(index_dir: Path) -> dict[str, bytes]:
    """Every file of the live generation; the manifest without when and as what it was published (and its hash)."""
    gen = index_dir / (index_dir / "CURRENT").read_text().strip()
    files = {str(p.relative_to(gen)): p.read_bytes() for p in sorted(gen.rglob("*")) if p.is_file()}
    manifest = json.loads(files.pop("manifest.json"))
    for volatile in ("built_at", "generation", "manifest_sha256"):
        manifest.pop(volatile)
    return files | {"manifest.json": json.dumps(manifest, sort_keys=True).encode()}


def _with_export(real_engine, index_dir: Path) -> Settings:
    """Settings for a second index of the seeds, with the reference build's ONNX export copied in (the
    same files; it spares a second export from sentence-transformers)."""
    settings = Settings(docs_dir=SEEDS, index_dir=index_dir)
    src = onnx_dir_for(real_engine.settings.index_dir, settings.model)
    shutil.copytree(src, onnx_dir_for(index_dir, settings.model))
    return settings


def test_a_ray_build_is_the_local_build(real_engine, cluster, tmp_path, caplog):
    """Through Ray Client (ray://), as from a machine outside the cluster; the next test connects as a
    driver on a node (HOST:PORT)."""
    settings = _with_export(real_engine, tmp_path / "index")
    engine = Engine(settings)
    with caplog.at_level(logging.INFO, logger="rag"):
        report = engine.build(ray=cluster.client_address)
    ran = [r.getMessage() for r in caplog.records if "on Ray" in r.getMessage()]
    assert len(ran) == 2, ran          # the passages, then their sentences, were encoded on the cluster
    assert report.embedded == len(real_engine.passage_vectors()) and report.rebuilt
    assert _generation(settings.index_dir) == _generation(real_engine.settings.index_dir)
    for q in QUESTIONS:
        ours, ref = engine.ask(q), real_engine.ask(q)
        assert [s.citations for s in ours.sentences] == [s.citations for s in ref.sentences], q
        assert [h.passage.id for h in ours.hits] == [h.passage.id for h in ref.hits], q
    assert engine.build(ray=cluster.client_address).rebuilt is False    # nothing changed: nothing sent
    import ray
    assert not ray.is_initialized() and _workers_end(cluster)     # the driver disconnected; its workers end


def test_both_nodes_encode_and_a_killed_worker_is_retried(real_engine, cluster):
    from rag.embed.ray_encode import RayEmbedder
    local = real_engine.embedder()
    texts = [s for p in real_engine.passages("004_d94f3f66138700a1") for s in (p.text, *p.sentence_texts())] * 2
    emb = RayEmbedder(local, cluster.address, onnx_dir_for(real_engine.settings.index_dir, local.name),
                      texts_per_call=16, workers=2)
    killed: list[int] = []

    def kill_a_worker(n: int) -> None:   # at the first vectors back, while the other calls are in flight
        if not killed:
            pid = next(p for p in cluster.processes() if _cmdline(p).startswith("ray::MapWorker"))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    def left() -> list[Path]:   # the export's files, if the worker was killed while loading it
        return list(Path(tempfile.gettempdir()).glob(f"rag-export-{killed[0]}-*"))
    try:
        got = emb.encode_passages(texts, kill_a_worker)
        nodes = emb.runs[-1].nodes
        if left():              # removed by the next worker to load on this machine
            emb.encode_passages(texts[:16])
    finally:
        emb.close()
    assert killed and got.tobytes() == local.encode_passages(texts).tobytes()
    assert len(nodes) == 2      # a worker on each node sent vectors back
    assert not left()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_no_cluster_at_the_address_fails_at_once_naming_the_fix(fake_engine, capsys):
    address = f"127.0.0.1:{free_port()}"
    before = fake_engine.status().generation
    with pytest.raises(RagError, match="ray start --head"):
        fake_engine.build(rebuild=True, ray=address)
    assert fake_engine.status().generation == before
    assert main(["index", "--docs", str(SEEDS), "--index", str(fake_engine.settings.index_dir), "--ray", "nonsense"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err


def test_ray_errors_name_the_fix():
    from rag.embed.ray_errors import explain
    mismatch = RuntimeError("Version mismatch: The cluster was started with:\n    Ray: 2.9.0\n    Python: 3.10.1\n")
    assert "pip install -r requirements.txt" in str(explain(mismatch, "h:1", "2.60"))
    missing = ModuleNotFoundError("No module named 'rag'")
    assert "install this project on every node" in str(explain(missing, "h:1", "2.60"))


def test_only_a_client_server_that_failed_to_start_is_tried_again():
    from rag.embed.ray_errors import transient as _transient
    assert _transient(ConnectionAbortedError("Initialization failure from server:\npsutil.ZombieProcess: ..."))
    assert _transient(ConnectionError("ray client connection timeout: Starting Ray client server failed"))
    assert not _transient(ConnectionError("Failed to connect to GCS at 127.0.0.1:1"))
    assert not _transient(ValueError("bad address"))


def test_the_query_path_never_imports_ray(real_index):
    code = ("import sys, rag\nfrom pathlib import Path\nfrom rag import Engine, Settings\n"
            f"e = Engine.open(Settings(docs_dir=Path({str(SEEDS)!r}), index_dir=Path({str(real_index)!r})),"
            " build_if_missing=False)\n"
            "a = e.ask('Who fled Japan?')\nassert a.sentences, a\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _workers_end(cluster, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not [p for p in cluster.processes() if _cmdline(p).startswith("ray::MapWorker")]:
            return True
        time.sleep(0.2)
    return False

