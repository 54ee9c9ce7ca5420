"""Verifiers: pure functions that extract answers and judge them, one module per category."""

from __future__ import annotations

from dataclasses import dataclass

REASONS = ("correct", "incorrect", "no_answer", "no_reference", "verifier_error", "timeout", "ill_formed")


@dataclass(frozen=True)
class Verdict:
    """What a verifier decided about one response."""

    answer: str | None
    """The extracted answer (None when none could be found)."""
    correct: bool | None
    """True/False when the verifier could decide; None when it could not."""
    reason: str
    """One of ``REASONS``: why the response is accepted or rejected."""
