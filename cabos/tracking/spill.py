"""Readings accepted while the database is away, kept in a local append-only file until written.

While a process's writes fail, every reading it accepts is appended (one JSON line, one
``write`` on an ``O_APPEND`` descriptor) to ``TRACKING_SPILL_DIR/<pid>.jsonl`` *before* the beacon
is answered, besides waiting in memory. A process killed with SIGKILL loses its memory but not the
file (the kernel keeps what was written). Once the queue is written and empty, the file is removed.
At start, each process claims the files of processes that are gone (an atomic rename to a name
carrying its own pid, so two workers never take the same file) and queues their readings again.

The window that remains: a process killed after a batch of spilled readings was committed and
before its file was removed replays them once more; their readings are keyed by page view (not
doubled) but their views are counted again. And a power cut can lose what the kernel had not yet
written to disk (no fsync per beacon).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from cabos.tracking.store import Reading

log = logging.getLogger("cabos.tracking")
TIMES = {"received_at", "started_at"}
KNOWN = {f.name for f in fields(Reading)}


def _line(reading: Reading) -> bytes:
    data = asdict(reading)
    for name in TIMES:
        data[name] = data[name].isoformat()
    return json.dumps(data, separators=(",", ":"), default=str).encode() + b"\n"


def _reading(line: bytes) -> Reading | None:
    try:
        data: dict[str, Any] = json.loads(line)
        for name in TIMES:
            data[name] = datetime.fromisoformat(data[name])
        return Reading(**{k: v for k, v in data.items() if k in KNOWN})
    except (ValueError, TypeError, KeyError):
        return None  # a line cut short by the kill: that beacon was never answered


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spill:
    def __init__(self, folder: str | Path | None) -> None:
        self.folder = Path(folder) if folder else None
        self._fd: int | None = None
        self._pid = 0
        self._claimed: list[Path] = []

    @property
    def path(self) -> Path | None:
        return self.folder / f"{os.getpid()}.jsonl" if self.folder else None

    def write(self, readings: list[Reading]) -> None:
        if self.folder is None or not readings:
            return
        if self._fd is None or self._pid != os.getpid():
            self.folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # type: ignore[arg-type]
            self._pid = os.getpid()
        os.write(self._fd, b"".join(_line(r) for r in readings))

    @property
    def holding(self) -> bool:
        return self._fd is not None or bool(self._claimed)

    def clear(self) -> None:
        """Everything spilled has been written: remove the files."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            if self.path is not None:
                self.path.unlink(missing_ok=True)
        for claimed in self._claimed:
            claimed.unlink(missing_ok=True)
        self._claimed = []

    def claim(self) -> list[Reading]:
        """The readings of files left by processes that are gone, now this process's to write."""
        if self.folder is None or not self.folder.is_dir():
            return []
        readings: list[Reading] = []
        for path in sorted(self.folder.glob("*.jsonl")):
            try:
                owner = int(path.name.split(".")[0].split("-")[0])
            except ValueError:
                continue
            if owner == os.getpid() or _alive(owner):
                continue
            mine = path.with_name(f"{os.getpid()}-{len(self._claimed)}-{path.name.split('.')[0]}.jsonl")
            try:
                path.rename(mine)
            except FileNotFoundError:
                continue  # another worker claimed it first
            self._claimed.append(mine)
            found = [r for r in (_reading(line) for line in mine.read_bytes().splitlines() if line) if r]
            log.warning("tracking: %d readings spilled by process %d while the database was away, queued again",
                        len(found), owner)
            readings += found
        return readings
