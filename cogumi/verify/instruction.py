"""Checkable instruction constraints, IFEval style: every stated constraint must hold."""

from __future__ import annotations

import re
from typing import Any


def _bullets(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


_CHECKS = {
    "num_words": lambda text, n: len(text.split()) == n,
    "num_bullets": lambda text, n: len(_bullets(text)) == n and all(l.startswith("- ") for l in _bullets(text)),
    "case": lambda text, case: any(c.isalpha() for c in text) and
    (text == text.upper() if case == "upper" else text == text.lower()),
    # a keyword is a whole word: "delight" does not contain the keyword "light"
    "keywords": lambda text, words: all(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text, re.I) for w in words),
    "end_with": lambda text, end: text.rstrip().endswith(end),
}


# The type of each constraint's value.
_KINDS = {"num_words": int, "num_bullets": int, "case": str, "keywords": list, "end_with": str}


def check_constraints(constraints: dict[str, Any], where: str) -> None:
    """Refuse unknown constraint names and values of the wrong type (a keyword list given as one
    string would be checked letter by letter)."""
    unknown = set(constraints) - set(_CHECKS)
    if unknown:
        raise ValueError(f"{where}: unknown instruction constraints {sorted(unknown)}; known: {sorted(_CHECKS)}")
    for name, value in constraints.items():
        kind = _KINDS[name]
        if isinstance(value, bool) or not isinstance(value, kind) or (kind is list and not all(isinstance(w, str) for w in value)):
            raise ValueError(f"{where}: constraint {name} must be a {'list of strings' if kind is list else kind.__name__}, "
                             f"got {value!r}")
        if name == "case" and value not in ("upper", "lower"):
            raise ValueError(f"{where}: constraint case must be 'upper' or 'lower', got {value!r}")


def failed_constraints(text: str, constraints: dict[str, Any]) -> list[str]:
    """Names of the constraints ``text`` breaks (empty when it follows them all)."""
    unknown = set(constraints) - set(_CHECKS)
    if unknown:
        raise ValueError(f"unknown instruction constraints {sorted(unknown)}; known: {sorted(_CHECKS)}")
    return [name for name, value in constraints.items() if not _CHECKS[name](text, value)]
