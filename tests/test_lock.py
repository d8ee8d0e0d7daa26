"""Locks on WORK and OUT (pipeline/lock.py): a second holder is refused with the first one named, a record
left by a killed run is taken over, and the record never counts as an output. Real processes meeting on
one directory are tested in test_end_to_end.py."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from pipeline.config import load_settings
from pipeline.errors import EXIT_CODES, RunError
from pipeline.lock import RECORD_NAME, Holder, directory_lock, read_record, write_record


def test_a_held_directory_refuses_a_second_holder_and_names_the_first(tmp_path):
    work = tmp_path / "work"
    with directory_lock(work, label="WORK", command="cli.py panel --work w", private=True) as holder:
        assert work.stat().st_mode & 0o077 == 0
        with pytest.raises(RunError) as caught:
            with directory_lock(work, label="WORK", command="cli.py describe"):
                pass
    error = caught.value
    assert error.exit_code == EXIT_CODES["locked"]
    assert f"pid {os.getpid()}" in error.message and holder.started in error.message
    assert "`cli.py panel --work w`" in error.message and "\n" not in error.message
    assert not os.path.lexists(work / RECORD_NAME)
    with directory_lock(work, label="WORK", command="cli.py describe"):  # released: the next run gets it
        pass


def test_a_record_left_by_a_killed_run_is_taken_over_with_a_message(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    tmp_path.mkdir(exist_ok=True)
    write_record(tmp_path, Holder(pid=gone.pid, started="2024-05-01T10:00:00+02:00", command="cli.py panel",
                                  host=socket.gethostname(), process_start=1))
    messages: list[str] = []
    with directory_lock(tmp_path, label="OUT", command="cli.py all", notify=messages.append) as own:
        assert read_record(tmp_path) == own
    assert len(messages) == 1
    assert f"pid {gone.pid}" in messages[0] and "is no longer running" in messages[0]
    assert "2024-05-01T10:00:00+02:00" in messages[0] and "`cli.py panel`" in messages[0]


def test_a_reused_pid_is_not_taken_for_the_holder(tmp_path):
    """The record's pid is alive (this test) but started at another time: a later process with that pid."""
    me = Holder(pid=os.getpid(), started="x", command="c", host=socket.gethostname(), process_start=1)
    assert not me.is_running()
    assert Holder(**{**me.__dict__, "process_start": None}).is_running()


def test_the_record_is_not_an_output_of_the_run(tmp_path):
    from pipeline.disclosure_check import run as disclosure_check
    from pipeline.manifest import build

    settings = load_settings(input=tmp_path / "in", work=tmp_path / "work", out=tmp_path / "out")
    (tmp_path / "in").mkdir()
    with directory_lock(settings.paths.out, label="OUT", command="cli.py all"):
        assert os.path.lexists(settings.paths.out / RECORD_NAME)
        assert disclosure_check(settings) == []
        assert build(settings)["outputs"] == {}
