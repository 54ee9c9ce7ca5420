"""Majority vote over extracted answers, grouped by equivalence."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Vote:
    answer: str | None
    """The most common answer (the first seen among ties); None when no sample had one."""
    agreement_rate: float
    """Share of all samples, missing answers included, that agree with ``answer``."""
    accepted: bool
    """``agreement_rate >= threshold`` (exactly at the threshold is accepted)."""
    members: tuple[int, ...] = ()
    """Indices of the samples that agree with ``answer``."""


def _same(a: str, b: str) -> bool:
    return a.strip() == b.strip()


def majority(answers: Sequence[str | None], threshold: float = 0.6,
             equivalent: Callable[[str, str], bool] = _same) -> Vote:
    """Group ``answers`` by ``equivalent`` and vote; a missing answer (None) counts in the denominator."""
    if not answers:
        return Vote(None, 0.0, False)
    groups: list[list[int]] = []
    for i, answer in enumerate(answers):
        if answer is None:
            continue
        for group in groups:
            if equivalent(answers[group[0]], answer):
                group.append(i)
                break
        else:
            groups.append([i])
    if not groups:
        return Vote(None, 0.0, False)
    best = max(groups, key=len)  # max keeps the first of equal-sized groups
    rate = len(best) / len(answers)
    # Compare counts, not floats, so 6 of 10 at threshold 0.6 is exactly "at the threshold".
    accepted = len(best) >= threshold * len(answers) - 1e-9
    return Vote(answers[best[0]], rate, accepted, tuple(best))
