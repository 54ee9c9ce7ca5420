"""The category registry: the built-in categories (one module each in this package) and the
user's own, declared in a config by ``class_path``. Code elsewhere iterates over the registry and
never branches on a category's name.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from cogumi.categories.base import ACCURACY, GREEDY, WRITING, Category
from cogumi.types import Decoding, Keep, Verdict

__all__ = ["ACCURACY", "GREEDY", "WRITING", "Category", "Decoding", "Keep", "builtin", "defaults", "load_class", "judge", "ordered"]


def builtin() -> dict[str, type[Category]]:
    """Every built-in category class by name, in registry order; a new module here is a new category."""
    found: dict[str, type[Category]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Category) and value.__module__ == module.__name__:
                found[value.name] = value
    return dict(sorted(found.items(), key=lambda item: (item[1].position, item[0])))


def defaults() -> dict[str, Category]:
    """Every built-in category with its default settings."""
    return {name: cls() for name, cls in builtin().items()}


def load_class(class_path: str, where: str) -> type[Category]:
    """The ``Category`` subclass named ``package.module:Class`` (or ``package.module.Class``)."""
    module_name, _, class_name = class_path.rpartition(":") if ":" in class_path else class_path.rpartition(".")
    if not module_name:
        raise ValueError(f"{where}: class_path {class_path!r} must be 'package.module:ClassName'")
    try:
        value = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{where}: cannot import {class_path!r} ({error}); is its package on the Python path?") from error
    if not (isinstance(value, type) and issubclass(value, Category)):
        raise ValueError(f"{where}: {class_path!r} is not a subclass of cogumi.categories.Category")
    return value


def ordered(categories: Mapping[str, Category], names) -> list[str]:
    """``names`` in registry order, the leading (exact-answer) categories first."""
    present = [n for n in categories if n in set(names)]
    return [n for n in present if categories[n].leads] + [n for n in present if not categories[n].leads]


def judge(categories: Mapping[str, Category], problems: list, texts: list[str], finished: list[bool]) -> list:
    """A ``Verdict`` for each (problem, response), each category checking its own in one batch. A
    response cut off at ``max_new_tokens`` is ``truncated`` in every category: it is judged wrong
    unread, has no answer, and so never votes."""
    verdicts: list = [None if done else Verdict(None, False, "truncated") for done in finished]
    for name, category in categories.items():
        mine = [i for i, p in enumerate(problems) if p.category == name and finished[i]]
        if mine:
            found = category.judge([problems[i] for i in mine], [texts[i] for i in mine], [True] * len(mine))
            for i, verdict in zip(mine, found):
                verdicts[i] = verdict
    unknown = {p.category for p in problems} - set(categories)
    if unknown:
        raise ValueError(f"no category {sorted(unknown)} in this run; declare it under categories:")
    return verdicts
