"""Verifiers: pure functions that extract answers and judge them, one module per category.
``Verdict`` (what a verifier decided) is one of the shared records of ``cogumi.types``."""

from cogumi.types import Verdict

__all__ = ["Verdict"]
