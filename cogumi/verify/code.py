"""Code answers: extract the program, run HumanEval-style tests in a sandboxed process.

Model-generated code is hostile input. It never runs in this process: each run gets a fresh
interpreter (``sandbox_child.py``) in its own session, so the whole process group dies at timeout,
with an empty temporary directory as its working directory and HOME, and limits on CPU time, address
space, file size and process count. Where the machine allows, it also gets its own network and PID
namespaces and a Landlock ruleset (Linux 5.13+, no privileges needed) under which it may write only
inside its temporary directory, read only there and in its interpreter's own folders (library,
shared libraries, ``/etc``), execute nothing, open no TCP connection and signal no process outside
the sandbox; run as root, it drops to ``nobody`` as well. ``describe_sandbox`` says which layers this
machine gives.

"passed" means the check ran to its end: the child proves that by printing a per-run secret after
``check`` returned, so a program that exits early or kills its parent is not passed. The secret and
the check's source reach the child on a pipe that is closed before the program runs; no test file is
ever written, so the program cannot read the check, run it against a recorder or replay its expected
values. Inside the child an audit hook keeps the program from the runner (no frames, garbage-collector
walks, ctypes, /proc, processes, signals, rewriting the runner's functions, or connecting to a unix
socket), and the check runs with pristine builtins and a world of modules of its own, loaded afresh
before the program runs, and takes only plain data from the candidate, so patching ``abs``,
``json.loads``, ``Fraction.__eq__`` or ``sys.modules``, or returning an object whose ``__eq__`` says
yes, fools nothing.

The harness keeps only the last 64 KiB of a run's output, read while it runs, and stops waiting at
the time limit. Every sandbox process dies with the harness (a parent-death signal at each level, where
``setpriv`` can set one, and the PID namespace), and a harness that was killed leaves its folder (named
with its PID) to the next run, which removes it.

Not enforced: a program can read the files of its interpreter's folders and of the places in
``sandbox_child.READABLE`` (so a dataset installed in the interpreter's own site-packages is readable;
one in another virtual environment is not), and everything readable where there is no Landlock; it can
use CPU and memory up to its limits and fill its folder with files of up to the file-size limit each
(there is no disk quota); and its helper functions, which a dataset's check may call, are its own. Without Landlock it can write wherever its user can, and without namespaces it shares the network
and sees other processes (the audit hook still refuses sockets' unix addresses, signals and processes).
Where ``setpriv`` cannot set a parent-death signal and ``unshare`` is used, a sandbox can outlive a
harness that is killed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"```(?:python|py|Python)?[ \t]*\n(.*?)(?:```|$)", re.S)

# The child's whole program, passed with -c: the interpreter that runs it may not see this package.
_CHILD = "\n".join((Path(__file__).parent / name).read_text() for name in ("sandbox_world.py", "sandbox_child.py"))
# A run's temporary folder is named after its harness's PID, so that a later harness can tell the
# folders of dead ones.
_FOLDER = re.compile(r"cogumi-(?:sandbox|probe)-(\d+)-[A-Za-z0-9_]+")
_OUTPUT_KEPT = 64 << 10
"""Bytes of a run's output that the harness keeps (the last ones)."""


@dataclass(frozen=True)
class CodeResult:
    """Outcome of one sandboxed test run."""

    status: str
    """"passed", "failed", "timeout" or "error" (the program could not be run or tested)."""
    detail: str = ""
    """The tail of the program's output, for the audit."""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def extract_code(text: str) -> str | None:
    """The first fenced code block (an unclosed fence runs to the end); unfenced text that
    starts with ``def``/``import`` is taken whole; otherwise None."""
    if not text:
        return None
    match = _FENCE.search(text)
    if match:
        return match.group(1).strip("\n") or None
    stripped = text.strip()
    return stripped if stripped.startswith(("def ", "import ", "from ", "class ")) else None


@dataclass(frozen=True)
class Sandbox:
    """How sandboxed programs are started on this machine."""

    command: list[str]
    """Isolation prefix and interpreter."""
    landlock: int
    """Landlock ABI version that confines each run; 0 where the kernel offers none."""

    @property
    def confines_writes(self) -> bool:
        """Whether a program is kept from writing outside its temporary directory."""
        return self.landlock > 0 or "--reuid=65534" in self.command


def _guard_prefix() -> list[str]:
    """``setpriv`` with the parent-death signal (where it can set one) and, as root, the drop to
    ``nobody``: what starts the sandbox, so that it dies with this process."""
    setpriv = shutil.which("setpriv")
    if not setpriv:
        return []
    knows_death = "--pdeathsig" in subprocess.run([setpriv, "--help"], capture_output=True, text=True).stdout
    drop = ["--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    death = ["--pdeathsig", "SIGKILL"] if knows_death else []
    return ["setpriv", *drop, *death] if drop or death else []


def _find_sandbox(python: str | None = None) -> Sandbox:
    """The strongest isolation this machine allows, probed once.

    As root, the child first drops to ``nobody`` (root ignores RLIMIT_NPROC and owns the files);
    fresh network and PID namespaces then leave it no network and no way to see, or signal, any
    process outside the sandbox; Landlock confines its writes, reads, TCP and signals. Each layer is
    used where this machine allows it, and the first interpreter that can run the child inside is
    chosen (a root-only interpreter cannot): this process's own, else the system's; ``python``
    names the one to use instead, and it alone is tried.
    """
    guard = _guard_prefix()
    unshare = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--map-root-user"]
    layers = [guard + unshare, guard, []] if guard else [unshare, []]
    interpreters = [python] if python else [sys.executable] + [p for p in (shutil.which("python3"),
                                                                            "/usr/bin/python3") if p]
    for layer in layers:
        if any(tool in layer and not shutil.which(tool) for tool in ("setpriv", "unshare")):
            continue
        for interpreter in interpreters:
            with work_folder("probe") as workdir:
                probe = subprocess.run([*layer, interpreter, "-I", "-c", _CHILD, "--probe"], capture_output=True,
                                       text=True, cwd=workdir)
            if probe.returncode == 0 and probe.stdout.strip().isdigit():
                return Sandbox([*layer, interpreter], int(probe.stdout.strip()))
    if python:
        raise RuntimeError(f"the interpreter {python} cannot run inside the code sandbox here"
                           + (" (it runs as nobody, who must be able to read and run it)" if os.geteuid() == 0 else ""))
    raise RuntimeError("no Python interpreter can run inside the code sandbox on this machine")


_SANDBOXES: dict[str | None, Sandbox] = {}


def sandbox(python: str | None = None) -> Sandbox:
    """This machine's sandbox for ``python`` (default: the first interpreter that runs in it),
    probed on first use."""
    if python not in _SANDBOXES:
        _SANDBOXES[python] = _find_sandbox(python)
    return _SANDBOXES[python]


def judging_interpreter(python: str | None = None) -> tuple[str, bool]:
    """The interpreter that runs and judges programs, and whether it is this process's own (the
    project's environment, with its packages)."""
    chosen = sandbox(python).command[-1]
    return chosen, os.path.realpath(chosen) == os.path.realpath(sys.executable)


_SANDBOX_USER = 65534  # nobody: what the sandbox runs as when this process is root
_PARENT: str | None = None


def _private_parent() -> str:
    """This process's folder of work folders: its owner's alone (root's: others may pass through to
    the folder that is theirs, never list or write it)."""
    global _PARENT
    if _PARENT is None or not os.path.isdir(_PARENT):
        _PARENT = tempfile.mkdtemp(prefix=f"cogumi-sandbox-{os.getpid()}-")
        os.chmod(_PARENT, 0o711 if os.geteuid() == 0 else 0o700)
        atexit.register(shutil.rmtree, _PARENT, ignore_errors=True)  # a killed process's: _sweep_leftovers
    return _PARENT


@contextlib.contextmanager
def work_folder(kind: str = "run"):
    """A fresh folder for one run, inside ``_private_parent``: writable by the process that runs the
    program alone (as root, owned by nobody, mode 0700), never by another user; removed after."""
    folder = tempfile.mkdtemp(prefix=f"{kind}-", dir=_private_parent())
    try:
        if os.geteuid() == 0:
            os.chown(folder, _SANDBOX_USER, _SANDBOX_USER)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def describe_sandbox(python: str | None = None) -> str:
    """The isolation layers model-generated code runs under here, in words."""
    box = sandbox(python)
    parts = ["rlimits on CPU, memory, file size and processes", "own session and temporary folder"]
    if "--reuid=65534" in box.command:
        parts.append("runs as nobody")
    if "--pdeathsig" in box.command:
        parts.append("dies with this process")
    if "unshare" in box.command:
        parts.append("own network and PID namespaces")
    parts.append(f"Landlock ABI {box.landlock}: writes only in its folder, reads only there and in its "
                 "interpreter's folders, no TCP" if box.landlock
                 else "no Landlock: it can read and write wherever this user can")
    return "; ".join(parts)


def run_tests(program: str, tests: str, entry_point: str, timeout_s: float = 5.0, *,
              memory_mb: int = 512, max_processes: int = 64, max_file_mb: int = 8, python: str | None = None) -> CodeResult:
    """Run ``program``, then ``tests``, and call ``check(<entry_point>)`` in a sandboxed process.

    HumanEval's format: ``program`` is prompt + completion, ``tests`` defines ``check(candidate)``,
    which may call the program's own helpers. Returns "passed" only when ``check`` returned.
    """
    box = sandbox(python)
    _sweep_leftovers()
    secret = secrets.token_hex(16)
    with work_folder() as workdir:
        with open(os.path.join(workdir, "program.py"), "w") as f:
            f.write(program + "\n")
        limits = [str(memory_mb << 20), str(max(1, int(timeout_s) + 1)), str(max_file_mb << 20), str(max_processes)]
        command = [*box.command, "-I", "-c", _CHILD, *limits, entry_point, "1" if box.landlock else "0",
                   str(os.getpid())]
        env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:  # the check's source goes on stdin, after the secret: no file of the run holds it
            out, ended = _exchange(proc, f"{secret}\n{tests}\n".encode(), timeout_s)
        finally:
            _kill_group(proc)
            proc.stdout.close()
    if not ended:
        return CodeResult("timeout", f"no result within {timeout_s}s")
    text = out.decode(errors="replace")
    if proc.returncode == 0 and text.rstrip().endswith(secret):
        return CodeResult("passed")
    tail = text.replace(secret, "")[-500:]
    if "AssertionError" in text or (proc.returncode == 0):
        return CodeResult("failed", tail)
    return CodeResult("error" if "Error" in text else "failed", tail)


def _exchange(proc: subprocess.Popen, message: bytes, timeout_s: float) -> tuple[bytes, bool]:
    """Send ``message`` to the child's stdin and read its output as it comes, until it ends or
    ``timeout_s`` passes, keeping only the last ``_OUTPUT_KEPT`` bytes. Returns those bytes and
    whether the child ended in time."""
    feeder = threading.Thread(target=_feed, args=(proc.stdin, message), daemon=True)
    feeder.start()
    deadline = time.monotonic() + timeout_s
    tail, fd = bytearray(), proc.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            tail += chunk
            if len(tail) > 2 * _OUTPUT_KEPT:
                del tail[:-_OUTPUT_KEPT]
        else:
            return bytes(tail[-_OUTPUT_KEPT:]), False
    try:  # its output ended: a moment more for it to exit, at the very end of its time
        proc.wait(max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return bytes(tail[-_OUTPUT_KEPT:]), False
    return bytes(tail[-_OUTPUT_KEPT:]), True


def _feed(pipe, message: bytes) -> None:
    """Write ``message`` to ``pipe`` and close it; a child that died or was killed just stops it."""
    try:
        pipe.write(message)
        pipe.close()
    except OSError:
        try:
            pipe.close()
        except OSError:
            pass


def _sweep_leftovers() -> None:
    """Remove the temporary folders that harnesses which died (killed, their sandbox with them) left."""
    root = tempfile.gettempdir()
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        match = _FOLDER.fullmatch(name)
        if match and not _alive(int(match.group(1))):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_many(jobs: list[tuple[str, str, str]], timeout_s: float = 5.0, workers: int | None = None,
             python: str | None = None) -> list[CodeResult]:
    """``run_tests`` over (program, tests, entry_point) jobs in parallel across cores, in order. A job
    that repeats an earlier one (a sharp model's samples often do) is run once and shares its result."""
    unique = list(dict.fromkeys(jobs))
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        results = dict(zip(unique, pool.map(lambda job: run_tests(*job, timeout_s=timeout_s, python=python), unique)))
    return [results[job] for job in jobs]
