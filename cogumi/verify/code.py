"""Code answers: extract the program, run HumanEval-style tests in a sandboxed process.

Model-generated code is hostile input. It never runs in this process: each run gets a fresh
interpreter (``sandbox_child.py``) in its own session, so the whole process group dies at timeout,
with an empty temporary directory as its working directory and HOME, closed stdin, and limits on
CPU time, address space, file size and process count. Where the machine allows, it also gets its own
network and PID namespaces and a Landlock ruleset (Linux 5.13+, no privileges needed) under which it
may write only inside its temporary directory, open no TCP connection and signal no process outside
the sandbox; run as root, it drops to ``nobody`` as well. ``describe_sandbox`` says which layers this
machine gives.

"passed" means the check ran to its end: the child proves that by printing a per-run secret after
``check`` returned, so a program that exits early or kills its parent is not passed. Inside the
child an audit hook keeps the program from the secret (no frames, garbage-collector walks, ctypes,
/proc, processes or signals), and the check runs with pristine builtins, its own copies of the
modules it imports and only plain data from the candidate, so patching ``abs``, ``math.isclose`` or
``__eq__`` fools nothing.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"```(?:python|py|Python)?[ \t]*\n(.*?)(?:```|$)", re.S)

# The child's whole program, passed with -c: the interpreter that runs it may not see this package.
_CHILD = (Path(__file__).parent / "sandbox_child.py").read_text()


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
        return self.landlock > 0 or "setpriv" in self.command


def _find_sandbox() -> Sandbox:
    """The strongest isolation this machine allows, probed once.

    As root, the child first drops to ``nobody`` (root ignores RLIMIT_NPROC and owns the files);
    fresh network and PID namespaces then leave it no network and no way to see, or signal, any
    process outside the sandbox; Landlock confines its writes, TCP and signals. Each layer is used
    where this machine allows it, and the first interpreter that can run the child inside is chosen
    (a root-only interpreter cannot).
    """
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    unshare = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--map-root-user"]
    layers = [drop + unshare, drop, []] if drop else [unshare, []]
    interpreters = [sys.executable] + [p for p in (shutil.which("python3"), "/usr/bin/python3") if p]
    for layer in layers:
        if any(tool in layer and not shutil.which(tool) for tool in ("setpriv", "unshare")):
            continue
        for python in interpreters:
            with tempfile.TemporaryDirectory(prefix="cogumi-probe-") as workdir:
                os.chmod(workdir, 0o777)  # the probe may run as nobody
                probe = subprocess.run([*layer, python, "-I", "-c", _CHILD, "--probe"], capture_output=True,
                                       text=True, cwd=workdir)
            if probe.returncode == 0 and probe.stdout.strip().isdigit():
                return Sandbox([*layer, python], int(probe.stdout.strip()))
    raise RuntimeError("no Python interpreter can run inside the code sandbox on this machine")


_SANDBOX: Sandbox | None = None


def sandbox() -> Sandbox:
    """This machine's sandbox (probed on first use)."""
    global _SANDBOX
    if _SANDBOX is None:
        _SANDBOX = _find_sandbox()
    return _SANDBOX


def describe_sandbox() -> str:
    """The isolation layers model-generated code runs under here, in words."""
    box = sandbox()
    parts = ["rlimits on CPU, memory, file size and processes", "own session and temporary folder"]
    if "setpriv" in box.command:
        parts.append("runs as nobody")
    if "unshare" in box.command:
        parts.append("own network and PID namespaces")
    parts.append(f"Landlock ABI {box.landlock}: writes only in its folder, no TCP" if box.landlock
                 else "no Landlock: it can write wherever this user can")
    return "; ".join(parts)


def run_tests(program: str, tests: str, entry_point: str, timeout_s: float = 5.0, *,
              memory_mb: int = 512, max_processes: int = 64, max_file_mb: int = 8) -> CodeResult:
    """Run ``program``, then ``tests``, and call ``check(<entry_point>)`` in a sandboxed process.

    HumanEval's format: ``program`` is prompt + completion, ``tests`` defines ``check(candidate)``,
    which may call the program's own helpers. Returns "passed" only when ``check`` returned.
    """
    box = sandbox()
    secret = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="cogumi-sandbox-") as workdir:
        for name, text in (("program.py", program), ("tests.py", tests)):
            with open(os.path.join(workdir, name), "w") as f:
                f.write(text + "\n")
        os.chmod(workdir, 0o777)  # the child runs as nobody when this process is root
        limits = [str(memory_mb << 20), str(max(1, int(timeout_s) + 1)), str(max_file_mb << 20), str(max_processes)]
        command = [*box.command, "-I", "-c", _CHILD, *limits, entry_point, "1" if box.landlock else "0"]
        env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            out, _ = proc.communicate(secret.encode() + b"\n", timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return CodeResult("timeout", f"no result within {timeout_s}s")
        finally:
            _kill_group(proc)
    text = out.decode(errors="replace")
    if proc.returncode == 0 and text.rstrip().endswith(secret):
        return CodeResult("passed")
    tail = text.replace(secret, "")[-500:]
    if "AssertionError" in text or (proc.returncode == 0):
        return CodeResult("failed", tail)
    return CodeResult("error" if "Error" in text else "failed", tail)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_many(jobs: list[tuple[str, str, str]], timeout_s: float = 5.0, workers: int | None = None) -> list[CodeResult]:
    """``run_tests`` over (program, tests, entry_point) jobs in parallel across cores, in order."""
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return list(pool.map(lambda job: run_tests(*job, timeout_s=timeout_s), jobs))
