"""The code sandbox's check world: a module table of the check's own, loaded before the program runs.

The sandbox's child (``sandbox_child.py``) runs this file's text followed by its own, so this file too
uses the standard library alone and keeps to Python 3.8. ``private_world`` gives a table of modules
that is not ``sys.modules``, with a ``sys`` and ``builtins`` of its own (copies), whose ``__import__``
loads every module afresh into that table (the modules a module imports too); ``preload`` fills it
with what the check imports, before the program can alter a module, a class or the import machinery.
"""

import builtins
import sys


def imported_names(*sources):
    """Every absolute module name that an import statement in ``sources`` names, with the possible
    submodules of ``from package import name``."""
    import ast

    names = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if type(node) is ast.Import:
                names.update(alias.name for alias in node.names)
            elif type(node) is ast.ImportFrom and node.level == 0 and node.module:
                names.add(node.module)
                names.update(node.module + "." + alias.name for alias in node.names if alias.name != "*")
    return sorted(names)


def names_used(code):
    """The global and attribute names that ``code`` and the functions in it use."""
    names, stack = set(), [code]
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        stack += [c for c in code.co_consts if type(c) is type(code)]
    return names


def program_imports(program, used):
    """The modules that the program's ``import`` statements bind to names the check uses."""
    import ast

    try:
        tree = ast.parse(program)
    except SyntaxError:
        return []
    return [alias.name for node in ast.walk(tree) if type(node) is ast.Import for alias in node.names
            if (alias.asname or alias.name.partition(".")[0]) in used]


def private_world():
    """A module table of the check's own, with its own ``sys`` and ``builtins`` (a copy of each).
    Returns ``load(name)``, which gives that table's module of that name, loading it and the modules it
    imports afresh, and its builtins' namespace, whose ``__import__`` imports from that table."""
    from importlib.machinery import PathFinder
    from importlib.util import module_from_spec

    finders, search_path, modules = list(sys.meta_path), list(sys.path), {}
    own_sys, own_builtins = type(sys)("sys"), type(sys)("builtins")
    own_sys.__dict__.update(sys.__dict__)
    own_sys.modules, own_sys.path, own_sys.meta_path = modules, list(search_path), list(finders)
    own_builtins.__dict__.update(builtins.__dict__)
    scope = own_builtins.__dict__
    modules.update(sys=own_sys, builtins=own_builtins)

    def find(name, path):
        for finder in finders:
            spec = finder.find_spec(name, search_path if path is None and finder is PathFinder else path)
            if spec is not None:
                return spec
        raise ModuleNotFoundError("No module named " + repr(name), name=name)

    def load(name):
        if name in modules:
            return modules[name]
        parent, _, child = name.rpartition(".")
        package = load(parent) if parent else None
        if name in modules:  # the parent set it, as os does os.path
            return modules[name]
        spec = find(name, package.__path__ if parent else None)
        module = module_from_spec(spec)
        module.__dict__["__builtins__"] = scope
        modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del modules[name]
            raise
        module = modules[name]
        if parent:
            setattr(package, child, module)
        return module

    scope["__import__"] = importer(load)
    return load, scope


def importer(load):
    """``__import__`` for the check's world: ``load`` and the package logic of the real one."""

    def private_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level:
            package = (globals or {}).get("__package__") or ""
            base = package.rsplit(".", level - 1)[0]
            name = base + "." + name if name else base
        module = load(name)
        if not fromlist:
            return load(name.partition(".")[0]) if not level else module
        items = [*fromlist, *(getattr(module, "__all__", ()) if "*" in fromlist else ())]
        for item in items if hasattr(module, "__path__") else ():
            if item != "*" and not hasattr(module, item):
                try:
                    load(module.__name__ + "." + item)
                except ModuleNotFoundError as missing:
                    if missing.name != module.__name__ + "." + item:
                        raise
        return module

    return private_import


def preload(load, names):
    """Load ``names`` into the check's world now, before the program runs; a name that is no module
    (``from json import loads``) or does not load is left for the check to meet."""
    for name in names:
        try:
            load(name)
        except Exception:
            pass
