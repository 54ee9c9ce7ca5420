"""Checkable instruction constraints, IFEval style: every stated constraint must hold."""

from __future__ import annotations

from typing import Any


def _bullets(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


_CHECKS = {
    "num_words": lambda text, n: len(text.split()) == n,
    "num_bullets": lambda text, n: len(_bullets(text)) == n and all(l.startswith("- ") for l in _bullets(text)),
    "case": lambda text, case: any(c.isalpha() for c in text) and
    (text == text.upper() if case == "upper" else text == text.lower()),
    "keywords": lambda text, words: all(w.lower() in text.lower().split() or w.lower() in text.lower() for w in words),
    "end_with": lambda text, end: text.rstrip().endswith(end),
}


def failed_constraints(text: str, constraints: dict[str, Any]) -> list[str]:
    """Names of the constraints ``text`` breaks (empty when it follows them all)."""
    unknown = set(constraints) - set(_CHECKS)
    if unknown:
        raise ValueError(f"unknown instruction constraints {sorted(unknown)}; known: {sorted(_CHECKS)}")
    return [name for name, value in constraints.items() if not _CHECKS[name](text, value)]
