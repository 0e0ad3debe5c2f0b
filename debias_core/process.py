"""Which process is this, and is a recorded process still running?

A PID alone is not an identity: the OS reuses PIDs, so a job row saying "pid 4242" may point at
an unrelated process started after the owner died. A `ProcessId` adds the process's start time
as the OS reports it (on Linux the boot id plus the start tick from /proc), which no later process
with the same PID shares. Used for job ownership and for half-built projects; it imports nothing
from the rest of the core.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

State = Literal["alive", "gone", "unknown"]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def start_time(pid: int) -> str | None:
    """An opaque token for when process `pid` started, or None if it cannot be read.

    Linux: boot id + start tick (field 22 of /proc/<pid>/stat). Elsewhere: `ps -o lstart=`.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():  # a Linux /proc without this pid: not running
            return None
        return _ps_start_time(pid)
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    return f"{_boot_id()}:{fields[19]}"


def _ps_start_time(pid: int) -> str | None:
    if sys.platform.startswith("win"):
        return None
    try:
        out = subprocess.run(
            ["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def pid_running(pid: int | None) -> bool:
    if not pid or pid < 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OverflowError:
        return False
    return True


@dataclass(frozen=True)
class ProcessId:
    """A process on a host, with its start time so that a reused PID is told apart."""

    host: str
    pid: int
    started: str | None = None

    @classmethod
    def current(cls) -> ProcessId:
        return cls(socket.gethostname(), os.getpid(), start_time(os.getpid()))

    def to_text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_text(cls, text: str | None) -> ProcessId | None:
        """The stored form back; None for empty or unreadable text."""
        try:
            data = json.loads(text or "")
            return cls(str(data["host"]), int(data["pid"]), data.get("started"))
        except (ValueError, TypeError, KeyError):
            return None

    def state(self) -> State:
        """'alive', 'gone', or 'unknown' for a process on another host (it cannot be checked)."""
        if self.host != socket.gethostname():
            return "unknown"
        if not pid_running(self.pid):
            return "gone"
        if self.started is not None and start_time(self.pid) not in (None, self.started):
            return "gone"  # the PID now belongs to a process that started later
        return "alive"

    def describe(self) -> str:
        here = self.host == socket.gethostname()
        return f"process {self.pid}" + ("" if here else f" on host {self.host}")
