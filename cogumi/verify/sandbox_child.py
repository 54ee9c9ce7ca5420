"""The code sandbox's child process: runs one program, then its check, and proves the check ended.

``cogumi.verify.code`` starts it as ``python -I -c <this file's text> MEMORY CPU FILE_SIZE PROCESSES
ENTRY_POINT LANDLOCK`` in an empty temporary folder holding ``program.py`` and ``tests.py``, with a
per-run secret on stdin; it passes the run only if the secret is the last thing printed. This file
uses the standard library alone (the interpreter may not be the one that runs Cogumi) and keeps to
Python 3.8.

Everything that decides the verdict is taken before the program's first line runs:

- the secret stays a local of ``main``; the program cannot reach it, because every way to a frame
  (``sys._getframe``, tracebacks, generators, tracing, signal handlers), to other objects (the
  garbage collector) or to raw memory (ctypes, ``/proc``, a helper process) is refused by an audit
  hook it cannot remove, and nothing the runner uses after the program starts is looked up in a
  namespace the program can change;
- the check runs with pristine builtins and its own copies of the modules tests use, so a program
  that patches ``builtins.abs`` or ``math.isclose``, or shadows a builtin name, changes nothing there;
- the candidate must return plain data (numbers, strings, containers of them), so an object whose
  ``__eq__`` always says yes is not a right answer.

What remains the program's: helper functions that the dataset's prompt defines and the check calls.
Out of scope: a program that reads memory through native code of its own (crafted bytecode, an
installed extension such as numpy's stride tricks); the operating-system layers still hold it.
"""

import builtins
import os
import resource
import sys

# Audit events refused once the program runs: each reaches the runner's frames, other objects or raw
# memory, starts a process or signals one, makes a link that could lead into /proc, or installs a
# hook that would watch the check.
REFUSED_EVENTS = frozenset({
    "sys._current_frames", "sys.addaudithook", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    "os.fork", "os.forkpty", "os.posix_spawn", "os.exec", "os.spawn", "os.system", "subprocess.Popen",
    "pty.spawn", "os.kill", "os.killpg", "os.symlink", "os.link", "code.__new__"})
REFUSED_PREFIXES = ("ctypes.", "sys.settrace", "sys.setprofile", "sys._settrace", "sys._setprofile",
                    "sys.monitoring")
REFUSED_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
# Modules a program may not import: raw memory, process creation, and signal handlers (which are
# handed the interrupted frame).
REFUSED_IMPORTS = frozenset({"ctypes", "_ctypes", "_posixsubprocess", "signal", "_signal"})
# Modules the check gets private copies of (the ones test code imports).
PRIVATE_MODULES = ("math", "cmath", "random", "copy", "string", "re", "collections", "itertools", "functools",
                   "heapq", "bisect", "operator")
PLAIN_TYPES = frozenset({int, float, complex, str, bytes, bool, type(None), list, tuple, dict, set, frozenset})


def confine(workdir):
    """Landlock: from now on this process and its children write only under ``workdir``, open no TCP
    connection and signal nothing outside. Reading stays allowed, so the interpreter can import its
    library. Returns the ABI version used, 0 where the kernel has no Landlock."""
    if not sys.platform.startswith("linux"):
        return 0  # the system call numbers below are Linux's
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    call = libc.syscall
    call.restype = ctypes.c_long
    abi = call(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return 0
    # write, remove, make (dir, file, fifo, socket, devices, symlink); refer (ABI 2), truncate (3), ioctl (5)
    rights = ((1, 1), (4, 1), (5, 1), (6, 1), (7, 1), (8, 1), (9, 1), (10, 1), (11, 1), (12, 1), (13, 2), (14, 3),
              (15, 5))
    fs = sum(1 << bit for bit, since in rights if abi >= since)
    net = 3 if abi >= 4 else 0  # TCP bind and connect
    scoped = 3 if abi >= 6 else 0  # abstract unix sockets and signals outside the sandbox
    attr = (ctypes.c_uint64 * 3)(fs, net, scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = call(ctypes.c_long(444), ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    for path, allowed in ((workdir, fs), ("/dev/null", (1 << 1) | ((1 << 14) if abi >= 3 else 0))):
        fd = os.open(path, os.O_PATH)
        rule = PathBeneath(allowed, fd)
        if call(ctypes.c_long(445), ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0)):
            raise OSError(ctypes.get_errno(), "landlock_add_rule failed for " + path)
        os.close(fd)
    if libc.prctl(38, 1, 0, 0, 0) or call(ctypes.c_long(446), ctypes.c_int(ruleset), ctypes.c_uint32(0)):
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    os.close(ruleset)
    return abi


def make_refuse(events=REFUSED_EVENTS, prefixes=REFUSED_PREFIXES, attributes=REFUSED_ATTRIBUTES,
                imports=REFUSED_IMPORTS, getcwd=os.getcwd, type=type, str=str, bytes=bytes, int=int,
                ValueError=ValueError, RuntimeError=RuntimeError):
    """The audit hook. Every name it uses is bound here, before the program runs, so a program that
    rebinds builtins or module attributes cannot change what it refuses. ``sys._getframe`` is refused
    with ValueError, as when the stack is too shallow, so that the standard library's optional uses of
    it (namedtuple, typing) carry on."""

    def into_proc(path, relative_allowed):
        kind = type(path)
        if kind is int:
            return False  # an open file descriptor
        if kind is bytes:
            path = path.decode("utf-8", "surrogateescape")
        elif kind is not str:
            return True  # a path-like object could name one file now and another when opened
        if not path.startswith("/"):
            if not relative_allowed:
                return True  # os.open may be relative to a dir_fd the event does not show
            path = getcwd() + "/" + path
        parts = path.split("/")
        return ".." in parts or [part for part in parts if part and part != "."][:1] == ["proc"]

    def refuse(event, args):
        if event == "sys._getframe":
            raise ValueError("call stack is not inspectable in the sandbox")
        if (event in events or event.startswith(prefixes)
                or (event == "object.__getattr__" and args[1] in attributes)
                or (event == "import" and (args[0] in imports or args[0].startswith("ctypes.")))
                or (event == "open" and into_proc(args[0], args[1] is not None))):
            raise RuntimeError(event + " is not allowed in the sandbox")

    return refuse


def private_modules():
    """Fresh copies of ``PRIVATE_MODULES``, in no ``sys.modules`` and so out of the program's reach."""
    from importlib.util import find_spec, module_from_spec

    copies = {}
    for name in PRIVATE_MODULES:
        spec = find_spec(name)
        module = module_from_spec(spec)
        spec.loader.exec_module(module)
        copies[name] = module
    return copies


def plain_result(candidate, plain=PLAIN_TYPES, containers=(list, tuple, set, frozenset, dict), type=type, id=id,
                 set=set, TypeError=TypeError):
    """``candidate`` whose every return value must be plain data, checked by exact type, with no
    name looked up where the program could have rebound it."""

    def check_plain(value, seen):
        kind = type(value)
        if kind not in plain:
            raise TypeError("the candidate returned a " + kind.__name__ + ", not plain data")
        if kind in containers and id(value) not in seen:
            seen.add(id(value))
            for item in (value if kind is not dict else [*value.keys(), *value.values()]):
                check_plain(item, seen)

    def guarded(*args, **kwargs):
        value = candidate(*args, **kwargs)
        check_plain(value, set())
        return value

    return guarded


def main(argv):
    secret = os.read(0, 256).strip()  # raw bytes: nothing of it stays in sys.stdin's buffers
    os.close(0)
    if argv[6] == "1":
        confine(os.getcwd())
    for name in [n for n in sys.modules if n in REFUSED_IMPORTS or n.startswith("ctypes.")]:
        del sys.modules[name]  # so that importing one is an import, and refused
    memory, cpu, file_size, processes = (int(v) for v in argv[1:5])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    with open("program.py") as f:
        program = f.read()
    with open("tests.py") as f:
        tests = f.read()
    entry_point = argv[5]
    pristine = dict(builtins.__dict__)
    modules = private_modules()
    # From here on only locals: the program can rebind builtins, this module's names and sys.modules.
    make, run, write, out, leave = compile, exec, os.write, os.dup(1), os._exit
    type_of, str_type, listing, copy_of = type, str, list, dict
    restore_builtins, module_type, real_import = builtins.__dict__.update, type(sys), __import__
    guard, refuse = plain_result, make_refuse()

    def check_import(name, globals=None, locals=None, fromlist=(), level=0, modules=modules):
        if level == 0 and name in modules:
            return modules[name]
        return real_import(name, globals, locals, fromlist, level)

    sys.addaudithook(refuse)
    namespace = {"__name__": "__sandbox__"}
    run(make(program, "program.py", "exec"), namespace)
    restore_builtins(pristine)
    candidate = namespace[entry_point]
    check_builtins = copy_of(pristine)
    check_builtins["__import__"] = check_import
    # the check sees the program's names (a dataset's helpers), except those that shadow builtins
    check_namespace = {}
    for name, value in listing(namespace.items()):
        if type_of(name) is str_type and name not in pristine:
            module_name = value.__name__ if type_of(value) is module_type else None
            copied = type_of(module_name) is str_type and module_name in modules
            check_namespace[name] = modules[module_name] if copied else value
    check_namespace["__name__"], check_namespace["__builtins__"] = "__check__", check_builtins
    run(make(tests, "tests.py", "exec"), check_namespace)
    check_namespace["check"](guard(candidate))
    write(out, b"\n" + secret + b"\n")
    leave(0)  # nothing of the program's (threads, atexit) runs after the verdict


def probe():
    """Say, for the parent, that this interpreter runs here and which Landlock ABI it gets (0: none)."""
    if not hasattr(sys, "addaudithook"):
        sys.exit("the sandbox needs Python 3.8 or newer")
    try:
        print(confine(os.getcwd()))
    except OSError:
        print(0)


if __name__ == "__main__":
    if sys.argv[1:] == ["--probe"]:
        probe()
    else:
        main(sys.argv)
