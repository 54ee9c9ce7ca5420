"""Code answers: extract the program, run HumanEval-style tests in a sandboxed process.

Model-generated code is hostile input. It never runs in this process: each run gets a fresh
interpreter in its own session (so the whole process group dies at timeout), an empty temporary
directory as its working directory and HOME, closed stdin, no network (when the platform lets us
unshare it), and limits on CPU time, address space, file size and process count. "passed" means
the check ran to its end: the child proves that by printing a per-run secret that only the runner
holds, after ``check`` returned, so a program that exits early or kills its parent is not passed.
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

_FENCE = re.compile(r"```(?:python|py|Python)?[ \t]*\n(.*?)(?:```|$)", re.S)

_RUNNER = r"""
import os, resource, sys
secret = sys.stdin.readline().strip()
os.close(0)
mem, cpu, fsize, nproc = (int(v) for v in sys.argv[1:5])
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
source = open("program.py").read()
write = os.write
out = os.dup(1)
def finish(secret=secret, write=write, out=out):
    write(out, ("\n" + secret + "\n").encode())
del secret
namespace = {"__name__": "__sandbox__"}
exec(compile(source, "program.py", "exec"), namespace)
namespace["check"](namespace[sys.argv[5]])
finish()
"""


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


def _sandbox_command() -> list[str]:
    """The command prefix (isolation + interpreter) that sandboxed programs run under.

    As root, the child first drops to ``nobody`` (root ignores RLIMIT_NPROC and owns the files);
    fresh network and PID namespaces then leave it no network and no way to see, or signal, any
    process outside the sandbox. Each layer is used where this machine allows it, and the first
    interpreter that can run inside is chosen (a root-only interpreter cannot).
    """
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    unshare = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--map-root-user"]
    layers = [drop + unshare, drop, []] if drop else [unshare, []]
    interpreters = [sys.executable] + [p for p in (shutil.which("python3"), "/usr/bin/python3") if p]
    for layer in layers:
        if any(tool in layer and not shutil.which(tool) for tool in ("setpriv", "unshare")):
            continue
        for python in interpreters:
            probe = [*layer, python, "-I", "-c", "import resource"]
            if subprocess.run(probe, capture_output=True, cwd=tempfile.gettempdir()).returncode == 0:
                return [*layer, python]
    raise RuntimeError("no Python interpreter can run inside the code sandbox on this machine")


_COMMAND: list[str] | None = None


def run_tests(program: str, tests: str, entry_point: str, timeout_s: float = 5.0, *,
              memory_mb: int = 512, max_processes: int = 64, max_file_mb: int = 8) -> CodeResult:
    """Run ``program`` + ``tests`` and call ``check(<entry_point>)`` in a sandboxed process."""
    global _COMMAND
    if _COMMAND is None:
        _COMMAND = _sandbox_command()
    secret = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="cogumi-sandbox-") as workdir:
        with open(os.path.join(workdir, "program.py"), "w") as f:
            f.write(f"{program}\n\n{tests}\n")
        os.chmod(workdir, 0o777)  # the child runs as nobody when this process is root
        limits = [str(memory_mb << 20), str(max(1, int(timeout_s) + 1)), str(max_file_mb << 20), str(max_processes)]
        command = [*_COMMAND, "-I", "-c", _RUNNER, *limits, entry_point]
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
