"""The code sandbox's child process: runs one program, then its check, and proves the check ended.

``cogumi.verify.code`` starts it as ``python -I -c <sandbox_world.py's text, then this file's> MEMORY
CPU FILE_SIZE PROCESSES ENTRY_POINT LANDLOCK HARNESS_PID`` in an empty temporary folder holding ``program.py`` alone; on stdin
come a per-run secret, a newline and the check's source, and stdin is closed before the program runs.
The run passes only if the secret is the last thing printed. This file uses the standard library
alone (the interpreter may not be the one that runs Cogumi) and keeps to Python 3.8.

Two processes in turn, one PID: the launcher (``launch``) sets what needs ``ctypes`` (the
parent-death signal, Landlock) and the resource limits, then ``exec``s a fresh interpreter
(``main``), which keeps the confinement and limits and has never loaded ``ctypes``, so no class or
function of it is left for the program to walk to; Landlock lets it execute the interpreter and
its loader alone.

Everything that decides the verdict is taken before the program's first line runs:

- the secret, the check's source and its compiled code stay locals of ``main``; the program cannot
  reach them, because every way to a frame (``sys._getframe``, tracebacks, generators, tracing,
  signal handlers), to other objects (the garbage collector) or to raw memory (ctypes, ``/proc``, a
  helper process) is refused by an audit hook it cannot remove, the runner's functions cannot be
  rewritten (``__code__``, ``__defaults__``), and nothing the runner uses after the program starts is
  looked up in a namespace the program can change;
- the check is defined only after the program ran, in a namespace of its own, and taken out of it
  before it is called, so the program has no ``check`` to run against a recorder of its own;
- the check runs in a world of modules of its own: every module it imports (and their imports) is
  loaded afresh, before the program runs, into a module table that is not ``sys.modules``, with
  pristine builtins; so patching ``json.loads``, ``Fraction.__eq__``, ``builtins.abs`` or
  ``sys.modules`` changes nothing there;
- the candidate must return plain data (numbers, strings, containers of them), so an object whose
  ``__eq__`` always says yes is not a right answer.

What remains the program's: helper functions that the dataset's prompt defines and the check calls,
and anything the check hands the candidate (an object of the check's world handed to it is the
program's to inspect and change). Modules the check imports only while it runs (a lazy import inside
a library function) are loaded then, by the interpreter's import machinery, which the program may have
altered; an extension module that can be initialised only once per process shares its state with the
program's copy. Out of scope: a program that reads memory through native code of its own (crafted
bytecode, an installed extension such as numpy's stride tricks); the operating-system layers still hold it.

The same hook refuses connecting or sending to a unix socket by its address (a path, or an abstract
name): Landlock's scopes cover abstract sockets only, and the network namespace neither.
"""

import builtins
import os
import resource
import sys

if __name__ != "__main__":  # imported, not run: run, this file's text follows sandbox_world.py's
    from cogumi.verify.sandbox_world import imported_names, names_used, preload, private_world, program_imports

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
# Attributes that would rewrite what one of the runner's own functions does.
REFUSED_SETTINGS = frozenset({"__code__", "__defaults__", "__kwdefaults__"})
# Socket events whose address, when not a tuple (IP and the like), names a unix socket on the host.
ADDRESSED_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
# Modules a program may not import: raw memory, process creation, signal handlers (which are
# handed the interrupted frame), subinterpreters (no audit hook there) and the test C API.
REFUSED_IMPORTS = frozenset({"ctypes", "_ctypes", "_posixsubprocess", "signal", "_signal",
                             # subinterpreters run without this hook; the test C API reads raw memory
                             "_xxsubinterpreters", "_interpreters", "_xxinterpchannels", "_interpchannels",
                             "_interpqueues", "concurrent.interpreters", "_testcapi", "_testinternalcapi",
                             "_testlimitedcapi", "_testmultiphase", "_testsinglephase", "_testbuffer",
                             "_testimportmultiple", "_testclinic", "_testexternalinspection"})
PLAIN_TYPES = frozenset({int, float, complex, str, bytes, bool, type(None), list, tuple, dict, set, frozenset})
# Landlock's filesystem rights, by bit: which of them this file handles and which a plain file can hold.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR, TRUNCATE = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 14
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE
# Where a program may read, besides its interpreter's own prefixes and import path: shared libraries,
# system settings and time zones.
READABLE = ("/lib", "/lib32", "/lib64", "/usr/lib", "/usr/lib64", "/usr/share/zoneinfo", "/etc", "/dev/zero",
            "/dev/urandom")


def libc():
    import ctypes

    return ctypes, ctypes.CDLL(None, use_errno=True)


def die_with_parent(harness_pid):
    """Be killed when the process that started this one dies (``unshare``, or the harness itself
    where there is no ``unshare``), and leave at once if it has died already."""
    if not sys.platform.startswith("linux"):
        return
    _, c = libc()
    c.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    if os.getppid() not in (0, harness_pid):  # 0: the parent is outside this PID namespace
        os._exit(1)


def landlock_rules(workdir, handled):
    """(path, rights) pairs: everything in ``workdir``; reading only in the interpreter's own folders
    and ``READABLE``; writing ``/dev/null``."""
    read_only = {p for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path) if p}
    rules = [(workdir, handled & ~EXECUTE), ("/dev/null", READ_FILE | WRITE_FILE | (handled & TRUNCATE))]
    rules += [(p, READ_FILE | READ_DIR) for p in sorted(read_only | set(READABLE)) if os.path.exists(p)]
    # executing: the interpreter and its loader alone, so that the launcher can become a fresh interpreter
    rules += [(p, READ_FILE | EXECUTE) for p in runnable()]
    return [(path, rights if os.path.isdir(path) else rights & FILE_RIGHTS) for path, rights in rules]


def runnable():
    """The files ``exec`` of this interpreter opens to run: the interpreter and its ELF loader."""
    interpreter = os.path.realpath(sys.executable)
    with open(interpreter, "rb") as f:
        head = f.read(4096)
    start = head.find(b"/lib")
    loader = head[start:head.find(b"\0", start)].decode() if start >= 0 and b"ld-" in head[start:start + 64] else ""
    return [p for p in (interpreter, os.path.realpath(loader) if loader else "") if p and os.path.isfile(p)]


def confine(workdir):
    """Landlock: from now on this process and its children write only under ``workdir``, read only
    there and where the interpreter keeps its library (``landlock_rules``), execute nothing, open no
    TCP connection and signal nothing outside. Returns the ABI version used, 0 where the kernel has
    no Landlock."""
    if not sys.platform.startswith("linux"):
        return 0  # the system call numbers below are Linux's
    ctypes, c = libc()
    call = c.syscall
    call.restype = ctypes.c_long
    abi = call(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return 0
    # execute, write, read, read dir, remove, make (dir, file, fifo, socket, devices, symlink); refer (ABI 2),
    # truncate (3), ioctl (5)
    rights = ((0, 1), (1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1), (7, 1), (8, 1), (9, 1), (10, 1), (11, 1),
              (12, 1), (13, 2), (14, 3), (15, 5))
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

    for path, allowed in landlock_rules(workdir, fs):
        fd = os.open(path, os.O_PATH)
        rule = PathBeneath(allowed, fd)
        if call(ctypes.c_long(445), ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0)):
            raise OSError(ctypes.get_errno(), "landlock_add_rule failed for " + path)
        os.close(fd)
    if c.prctl(38, 1, 0, 0, 0) or call(ctypes.c_long(446), ctypes.c_int(ruleset), ctypes.c_uint32(0)):
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    os.close(ruleset)
    return abi


def make_refuse(events=REFUSED_EVENTS, prefixes=REFUSED_PREFIXES, attributes=REFUSED_ATTRIBUTES,
                settings=REFUSED_SETTINGS, addressed=ADDRESSED_EVENTS, imports=REFUSED_IMPORTS, getcwd=os.getcwd,
                runner=globals(), type=type, str=str, bytes=bytes, int=int, tuple=tuple, ValueError=ValueError,
                RuntimeError=RuntimeError):
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

    function = type(into_proc)

    def rewrites_runner(target, name):  # a function's globals cannot be swapped or faked
        return name in settings and type(target) is function and target.__globals__ is runner

    def refuse(event, args):
        if event == "sys._getframe":
            raise ValueError("call stack is not inspectable in the sandbox")
        if (event in events or event.startswith(prefixes)
                or (event == "object.__getattr__" and args[1] in attributes)
                or (event == "object.__setattr__" and rewrites_runner(args[0], args[1]))
                or (event in addressed and type(args[1]) is not tuple and args[1] is not None)
                or (event == "import" and (args[0] in imports or args[0].startswith("ctypes.")))
                or (event == "open" and into_proc(args[0], args[1] is not None))):
            raise RuntimeError(event + " is not allowed in the sandbox")

    return refuse


def read_message():
    """The harness's message on stdin, read to its end, and stdin closed: (secret, the check's source)."""
    chunks = []
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(0)
    secret, _, tests = b"".join(chunks).partition(b"\n")
    return secret.strip(), tests.decode()


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


def check_space(namespace, load, scope, used, type=type, str=str, list=list, module_type=type(sys),
                Exception=Exception):
    """The check's namespace: the program's names (a dataset's helpers) except ``check`` and those
    that shadow builtins, a module the check uses replaced by the check world's copy of it, and the
    check world's builtins. Called after the program ran, so it looks up no name the program could
    have rebound."""
    space = {}
    for name, value in list(namespace.items()):
        if type(name) is not str or name in scope or name == "check":  # a check of its own is no check
            continue
        if type(value) is module_type and name in used:
            module_name = value.__name__
            try:
                value = load(module_name) if type(module_name) is str else value
            except Exception:
                pass
        space[name] = value
    space["__name__"], space["__builtins__"] = "__check__", scope
    return space


def limit(memory, cpu, file_size, processes):
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))


def own_command_line():
    """This interpreter's own arguments (``python -I -c SOURCE ARGS...``), to start afresh with."""
    if hasattr(sys, "orig_argv"):  # Python 3.10+
        return list(sys.orig_argv)
    with open("/proc/self/cmdline", "rb") as f:
        return [part.decode("utf-8", "surrogateescape") for part in f.read().split(b"\0")[:-1]]


def launch(argv):
    """The launcher: what needs ``ctypes`` (the parent-death signal, Landlock) and the limits are
    set here, then this process becomes a fresh interpreter (``exec``: the confinement and limits
    stay, nothing of this interpreter does), which runs the program having never loaded ``ctypes``:
    no class, function or module of it is left for the program to find."""
    die_with_parent(int(argv[7]))
    if argv[6] == "1":
        confine(os.getcwd())
    limit(*(int(v) for v in argv[1:5]))
    command = own_command_line()
    os.execv(sys.executable, [*command[:command.index("-c") + 2], "--run", *argv[1:]])


def main(argv):
    """The fresh interpreter the launcher became: reads the message, runs the program, then its check."""
    secret, tests = read_message()
    with open("program.py") as f:
        program = f.read()
    entry_point, check_code = argv[5], compile(tests, "tests.py", "exec")
    used = names_used(check_code)
    pristine = dict(builtins.__dict__)
    load, scope = private_world()
    preload(load, imported_names(tests))
    # From here on only locals: the program can rebind builtins, this module's names and sys.modules.
    make, run, write, out, leave = compile, exec, os.write, os.dup(1), os._exit
    restore_builtins, guard, space_for, refuse = builtins.__dict__.update, plain_result, check_space, make_refuse()
    sys.addaudithook(refuse)
    preload(load, program_imports(program, used))  # the program names these: loaded under the hook
    namespace = {"__name__": "__sandbox__"}
    run(make(program, "program.py", "exec"), namespace)
    restore_builtins(pristine)
    candidate = namespace[entry_point]
    space = space_for(namespace, load, scope, used)
    run(check_code, space)
    check = space.pop("check")  # so that nothing the check hands the candidate leads back to it
    check(guard(candidate))
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
    elif sys.argv[1:2] == ["--run"]:
        main(sys.argv[1:])
    else:
        launch(sys.argv)
