"""A real Ray cluster on this machine for the tests and the benchmark: a head and more nodes, each
`ray start` run in a session of its own under a private temporary folder, and stopped by killing
those sessions only. Never `ray stop`: it would stop every Ray process on the machine."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

from servers import free_port

RAY = str(Path(sys.executable).with_name("ray"))   # the venv's: its workers run this Python, with rag


class LocalCluster:
    """`nodes` Ray nodes of `cpus` CPUs each, the dashboard off. Use as a context manager: every
    process the cluster started is killed on exit, also when the block raised."""

    def __init__(self, nodes: int = 2, cpus: int = 1):
        self.nodes, self.cpus = nodes, cpus
        self.sessions: list[int] = []     # session ids: each `ray start` leads one, its daemons stay in it
        self.temp = Path(tempfile.mkdtemp(prefix="rag-ray-", dir="/tmp"))   # short: Ray's socket paths
        self.port, self.client_port = free_port(), free_port()
        self.address = f"127.0.0.1:{self.port}"                       # a driver on this machine (a node)
        self.client_address = f"ray://127.0.0.1:{self.client_port}"   # Ray Client, as from outside

    def __enter__(self) -> Self:
        try:
            self._start(["--head", f"--port={self.port}", f"--ray-client-server-port={self.client_port}",
                         "--include-dashboard=false", f"--temp-dir={self.temp}"])
            for _ in range(self.nodes - 1):
                self._start([f"--address={self.address}"])
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start(self, args: list[str]) -> None:
        log = self.temp / f"start-{len(self.sessions)}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen([RAY, "start", *args, f"--num-cpus={self.cpus}", "--node-ip-address=127.0.0.1",
                                     "--disable-usage-stats"], stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=os.environ | {"RAY_USAGE_STATS_ENABLED": "0"})
            self.sessions.append(proc.pid)
            code = proc.wait(timeout=120)
        if code != 0:
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n" + log.read_text()[-2000:])

    def processes(self) -> list[int]:
        """The pids of every live process of the cluster's sessions (daemons, workers, actors)."""
        pids = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    stat = (d / "stat").read_text()
                except OSError:
                    continue
                fields = stat[stat.rindex(")") + 2:].split()   # after "pid (comm) ": state ppid pgrp session
                if int(fields[3]) in self.sessions and fields[0] != "Z":
                    pids.append(int(d.name))
        return pids

    def stop(self, seconds: float = 10) -> None:
        """Kill the cluster's sessions (SIGTERM, then SIGKILL) and remove its temporary folder."""
        for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, seconds)):
            for pid in self.processes():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.1)
        left = self.processes()
        shutil.rmtree(self.temp, ignore_errors=True)
        if left:
            raise RuntimeError(f"Ray processes {left} outlived SIGKILL")
