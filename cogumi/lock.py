"""One command at a time per run folder: ``RunLock`` holds an exclusive ``flock`` on a lock file in
the folder for as long as a command works there, with the holder's PID written in it.

The kernel drops a ``flock`` when its process dies, however it dies (SIGKILL included), so a lock
left by a killed command is no lock: the next command takes it over, and says whose it was. A
second command while the first still runs stops at once, naming the PID that holds the folder.

Under ``torchrun`` the ranks of one launch share the folder: rank 0 holds the lock for all of them
(a second launch's rank 0 stops, and torchrun ends its other ranks). ``flock`` works on local
filesystems and on NFS (as a POSIX lock); on a filesystem without locks it raises, which stops the
command rather than let two run unguarded.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from cogumi.console import console
from cogumi.dist import is_main


class RunInUse(RuntimeError):
    """Another live process holds the run folder."""


class RunLock:
    """``with RunLock(path):`` the lock file ``path`` (created with its folder where missing) is
    held by this process, its PID written in it; raises ``RunInUse`` when another process holds it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = None

    def __enter__(self) -> RunLock:
        if not is_main():
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")  # "a+": opening must not erase the holder's PID before the lock is ours
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RunInUse(f"{self.path.parent} is in use by another cogumi command (PID {holder}, which holds "
                           f"{self.path}); wait for it to end, or stop it (kill {holder}) and rerun: the run "
                           "resumes where it stopped") from None
        handle.seek(0)
        previous = handle.read().strip()
        if previous and previous != str(os.getpid()):
            console.print(f"{self.path}: PID {previous} held this run and ended without releasing it (killed?); "
                          "taking it over", soft_wrap=True)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._file is None:
            return
        self._file.seek(0)
        self._file.truncate()  # an empty file: released cleanly (the file stays: deleting it would race)
        self._file.flush()
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()
        self._file = None
