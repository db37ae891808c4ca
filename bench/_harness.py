"""Shared benchmark plumbing: run a WSGI app under gunicorn and load it with wrk.

Benchmarks compare cabos against a bare baseline *in the same run*, on the same
server configuration, and report ratios: the machine is shared and noisy, so
absolute numbers move more than ratios do.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn(app: str, env: dict[str, str] | None = None, workers: int = 2,
             worker_class: str = "sync", threads: int = 1) -> Iterator[str]:
    """Serve ``module:app`` on loopback; yield its base URL; stop it gracefully."""
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
           "--worker-class", worker_class, "--threads", str(threads), "--log-level", "warning",
           "--chdir", str(ROOT), app]
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/__bench_ready", timeout=1)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def _ms(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    assert m, value
    n = float(m.group(1))
    return {"us": n / 1000, "ms": n, "s": n * 1000}[m.group(2)]


def wrk(url: str, seconds: int = 10, connections: int = 8, threads: int = 2, script: str | None = None) -> WrkResult:
    """Load ``url`` with wrk for ``seconds`` (loopback only, bounded in time)."""
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", script]
    return parse_wrk(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def parse_wrk(out: str) -> WrkResult:
    """The figures in wrk's report (run with --latency)."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return WrkResult(rps, p50, p99, errors, total)


def row(name: str, r: WrkResult) -> str:
    return f"| {name} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} |"


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}"
