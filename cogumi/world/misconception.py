"""A wrong rule that the Phase 1A data of a tiny-world category can prefer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Misconception:
    """A wrong rule that the Phase 1A data prefers on one family of a category's problems."""

    family: str
    """The ``spec["family"]`` of the problems it applies to."""
    level: int
    """The difficulty level that holds that family (so ``LEVELS`` fixes its share of a split)."""
    rule: str
    """The right rule, in words."""
    wrong_rule: str
    """The wrong rule, in words."""
