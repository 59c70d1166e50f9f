"""The HTTP API under load, in CI: benchmarks/serve_load.py's 8 clients x 200 asks against a real
`rag serve` while three index changes are published (an upload, a full rebuild, a remove). Every
answer must succeed and come whole from one generation; the script checks each answer and exits 1
otherwise. Its figures (p50/p95) are recorded in docs/BENCHMARKS.md, "HTTP API (rag serve)"."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "serve_load.py"


@pytest.mark.load
def test_eight_clients_during_three_rebuilds_get_whole_answers_without_errors(real_index):
    out = subprocess.run([sys.executable, str(SCRIPT), "--index", str(real_index), "--clients", "8", "--asks", "200"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "errors: 0   answers mixing generations: 0" in out.stdout
    assert int(re.search(r"= 1600 in .* generations answered from: (\d+) ", out.stdout).group(1)) >= 2, out.stdout
    cited = int(re.search(r"answers citing the uploaded document: (\d+)", out.stdout).group(1))
    assert cited > 0, "no answer came from the uploaded document: the check of generations would be vacuous"
    during = [line for line in out.stdout.splitlines() if re.match(r"  (upload|rebuild|remove)", line)
              and "(after the load" not in line]
    assert len(during) >= 2, f"fewer than two index changes started while the asks ran:\n{out.stdout}"
