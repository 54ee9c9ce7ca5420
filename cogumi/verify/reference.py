"""Judging an extracted answer against a problem's reference answer."""

from __future__ import annotations

from collections.abc import Callable

from cogumi.types import Verdict
from cogumi.verify.math import VerifierTimeout


def against_reference(problem, answer: str | None, same: Callable[[str], bool]) -> Verdict:
    """Compare an extracted answer with the problem's reference; an undecided check is never a verdict."""
    if problem.answer is None:
        return Verdict(answer, None, "no_reference")
    if answer is None:
        return Verdict(None, False, "no_answer")
    try:
        ok = same(answer)
    except VerifierTimeout:
        return Verdict(answer, None, "timeout")
    except Exception:
        return Verdict(answer, None, "verifier_error")
    return Verdict(answer, ok, "correct" if ok else "incorrect")
