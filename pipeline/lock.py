"""One run at a time on a work or output directory.

A lock is an exclusive flock(2) on the directory itself: the kernel releases it when the holding process
ends, however it ends. Beside it, a record names the holder (pid, start time, command): a symbolic link
`DIR/.lock` whose target is the record's text. A link and not a file, so that the manifest and the
disclosure check, which list regular files, never count it as an output. A record found while the flock
is free was left by a run that was killed: it is reported and replaced.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Paths
from pipeline.errors import RunError
from pipeline.io import private_dir

RECORD_NAME = ".lock"
MAX_COMMAND_CHARS = 1000
RECORD_WAIT_SECONDS = 1.0   # a holder writes its record right after taking the flock


@dataclass(frozen=True)
class LockedDirectory:
    label: str            # how messages name it: WORK, OUT, ...
    path: Path
    private: bool = False  # created owner-only (the work directory)


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock."""

    pid: int
    started: str          # wall-clock start of the run, ISO 8601
    command: str
    host: str
    process_start: int | None = None   # /proc start time in clock ticks: tells a reused pid apart

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}, command `{self.command}`"

    def is_running(self) -> bool:
        """The recorded process still exists (the same process, not a later one with its pid)."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        start = process_start_ticks(self.pid)
        return self.process_start is None or start is None or start == self.process_start


def process_start_ticks(pid: int) -> int | None:
    """Start time of a process in clock ticks after boot (Linux /proc), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def current_holder(command: str) -> Holder:
    return Holder(pid=os.getpid(), started=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                  command=command[:MAX_COMMAND_CHARS], host=socket.gethostname(),
                  process_start=process_start_ticks(os.getpid()))


def read_record(directory: Path) -> Holder | None:
    try:
        return Holder(**json.loads(os.readlink(directory / RECORD_NAME)))
    except (OSError, ValueError, TypeError):
        return None


def write_record(directory: Path, holder: Holder) -> None:
    """Replace the record atomically (a new link renamed over the old one)."""
    text = json.dumps(holder.__dict__, ensure_ascii=False)
    tmp = directory / f"{RECORD_NAME}.{holder.pid}"
    tmp.unlink(missing_ok=True)
    os.symlink(text, tmp)
    os.replace(tmp, directory / RECORD_NAME)


def holder_of_busy(directory: Path) -> Holder | None:
    """The record of a lock held by another process; waits briefly for a holder that just took it."""
    deadline = time.monotonic() + RECORD_WAIT_SECONDS
    while True:
        holder = read_record(directory)
        if (holder is not None and holder.is_running()) or time.monotonic() > deadline:
            return holder
        time.sleep(0.05)


@contextlib.contextmanager
def directory_lock(directory: Path, *, label: str, command: str, private: bool = False,
                   notify: Callable[[str], None] = lambda message: None) -> Iterator[Holder]:
    """Hold the lock on `directory` (created if absent, owner-only if `private`) for the block.

    Raises RunError('locked') naming the holder when another process holds it.
    """
    if private:
        private_dir(directory)
    else:
        directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = holder_of_busy(directory)
            who = holder.describe() if holder else "a run that has not written its record yet"
            raise RunError("locked", f"{label} {directory} is in use by another run ({who}); "
                                     f"wait for it to finish or use another {label} directory.") from None
        stale = read_record(directory)
        if stale is not None:
            state = "is still running but no longer holds it" if stale.is_running() else "is no longer running"
            notify(f"Taking over the lock on {label} {directory}: the run that held it ({stale.describe()}) "
                   f"{state}; what it was writing may be incomplete.")
        own = current_holder(command)
        write_record(directory, own)
        try:
            yield own
        finally:
            with contextlib.suppress(FileNotFoundError):
                (directory / RECORD_NAME).unlink()
    finally:
        os.close(fd)  # releases the flock


@contextlib.contextmanager
def hold(directories: Sequence[LockedDirectory], *, command: str,
         notify: Callable[[str], None] = lambda message: None) -> Iterator[None]:
    """Lock each directory in turn (each path once); all are held for the block, or none."""
    with contextlib.ExitStack() as stack:
        seen: set[Path] = set()
        for target in directories:
            resolved = Path(target.path).resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            stack.enter_context(directory_lock(resolved, label=target.label, command=command,
                                               private=target.private, notify=notify))
        yield


def stage_directories(paths: Paths) -> list[LockedDirectory]:
    """What every stage command and `all` lock: the work directory, then the output directory."""
    return [LockedDirectory("WORK", paths.work, private=True), LockedDirectory("OUT", paths.out)]
