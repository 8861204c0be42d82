"""Keeping `homeward up`'s processes alive, and never leaving one behind.

- A process is known by its pid *and* its start time (``/proc/<pid>/stat``): a pid file whose
  process died, became a zombie, or whose pid was reused names no live process.
- Children started under ``up`` get a parent-death signal: if ``up`` is killed, even with
  SIGKILL, the kernel stops them too.
- One ``up`` per data directory, held by an advisory lock the kernel releases when the holder
  dies, however it dies.
- A crashed service is started again, waiting longer after each crash in a row.
"""

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
STEADY_AFTER_SECONDS = 60.0  # a service up this long starts its next backoff from the first


def start_time(pid: int) -> str | None:
    """When the process started, in clock ticks since boot; None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name, in parentheses, may hold spaces: count fields after its end.
    fields = stat[stat.rindex(")") + 2 :].split()
    state, started = fields[0], fields[19]
    return None if state in ("Z", "X") else started


def pid_file_text(pid: int) -> str:
    return f"{pid} {start_time(pid) or ''}"


def live_pid(text: str) -> int | None:
    """The pid a pid file names, if that very process still runs."""
    parts = text.split()
    try:
        pid = int(parts[0])
    except (IndexError, ValueError):
        return None
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # a child of ours that exited is collected, not a zombie
    started = start_time(pid)
    if started is None or (len(parts) > 1 and parts[1] != started):
        return None
    return pid


def die_with_parent(parent: int) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets SIGTERM when ``parent`` dies."""

    def arrange() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request was made
            os.kill(os.getpid(), signal.SIGTERM)

    return arrange


class AlreadyRunning(RuntimeError):
    pass


class DataDirLock:
    """Held while one ``homeward up`` runs on a data directory."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "up.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the platform's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunning(
                f"another `homeward up` (pid {holder}) is running on {self.path.parent}; "
                "stop it first, or set HOMEWARD_DATA_DIR to another directory"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass
class Supervised:
    """One service process, started again after a crash with a growing backoff."""

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    crashes_in_a_row: int = 0
    restart_at: float | None = None
    restarts: int = field(default=0)

    def launch(self) -> None:
        self.process = self.start()
        self.started_at = time.monotonic()
        self.restart_at = None

    def check(self, log: Callable[[str], None]) -> None:
        """Notice a crash and schedule a restart; restart when its time has come."""
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                log(f"{self.name}: starting again (restart {self.restarts + 1})")
                self.restarts += 1
                self.launch()
            return
        if self.process is None or self.process.poll() is None:
            return
        if now - self.started_at >= STEADY_AFTER_SECONDS:
            self.crashes_in_a_row = 0
        backoff = min(FIRST_BACKOFF_SECONDS * 2**self.crashes_in_a_row, MAX_BACKOFF_SECONDS)
        self.crashes_in_a_row += 1
        self.restart_at = now + backoff
        log(
            f"{self.name} exited with code {self.process.returncode}; "
            f"starting it again in {backoff:.0f} s"
        )

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def children_of(pid: int) -> dict[int, str]:
    """The live processes whose parent is ``pid``, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = command
    return found
