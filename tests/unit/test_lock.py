"""Two commands on one run folder: the second stops at once, naming the holder; a lock left by a
killed process is taken over (issue 16, finding F)."""

import os
import signal
import subprocess
import sys

import pytest

from cogumi.lock import RunInUse, RunLock

HOLD = """
import sys, time
from cogumi.lock import RunLock
with RunLock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""


def _holder(path):
    """Another process that holds ``path`` until its stdin closes."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_second_process_is_refused_at_once_naming_the_holder(tmp_path):
    lock = tmp_path / "run" / "run.lock"
    child = _holder(lock)
    try:
        assert lock.read_text().strip() == str(child.pid)
        with pytest.raises(RunInUse, match=rf"in use by another cogumi command \(PID {child.pid}.*kill {child.pid}"):
            with RunLock(lock):
                pytest.fail("two processes held one run folder")
    finally:
        child.communicate("\n", timeout=60)
    assert child.returncode == 0 and lock.read_text() == ""  # released cleanly
    with RunLock(lock):
        assert lock.read_text().strip() == str(os.getpid())


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path, capsys):
    lock = tmp_path / "run.lock"
    child = _holder(lock)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    child.stdin.close()
    child.stdout.close()
    assert lock.read_text().strip() == str(child.pid)  # the dead holder's PID is still written there
    with RunLock(lock):
        assert lock.read_text().strip() == str(os.getpid())
    assert f"PID {child.pid} held this run and ended without releasing it" in " ".join(capsys.readouterr().out.split())


def test_one_process_cannot_enter_twice(tmp_path):
    with RunLock(tmp_path / "run.lock"):
        with pytest.raises(RunInUse, match=f"PID {os.getpid()}"):
            with RunLock(tmp_path / "run.lock"):
                pass


def test_other_ranks_of_a_launch_leave_the_lock_to_rank_zero(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    with RunLock(tmp_path / "run.lock"):
        assert not (tmp_path / "run.lock").exists()
