"""Instruction following: every checkable constraint of the prompt must hold (IFEval's checkers,
from if-verifiable, or the tiny world's own); a few samples at a low temperature, and the filter
keeps the first that meets them all. Its consistency is the agreement of what is checked (each
sample's verdict per constraint), not of the texts, whose words are free choices; text agreement
stays a metric of its own."""

from __future__ import annotations

from collections import Counter

from cogumi.categories.base import ACCURACY, Category
from cogumi.categories.metrics import checked_agreement
from cogumi.types import Decoding, Keep, Verdict
from cogumi.verify.instruction import check_constraints, failed_constraints


class Instruction(Category):
    name = "instruction"
    default_decoding = Decoding(0.2, 4, 96)
    default_training_temperature = 0.0
    fields = ("prompt", "constraints")
    position = 5
    seed = 5
    metrics = (*ACCURACY, "constraint_agreement")
    consistency = "constraint_agreement"
    at_temperature_zero = {**Category.at_temperature_zero, "constraint_agreement": 1.0}
    templated_prompts = True
    """Prompts state their constraints in shared template sentences (IFEval's and RLVR-IFeval's alike),
    so distill and benchmark prompts are compared whole, not by shared runs of words."""

    def prepare(self, problem):
        """A dataset's constraints are checked where they are read, before any weights load."""
        check_constraints(problem.constraints, f"problem {problem.id}")
        return problem

    def judge_one(self, problem, text, finished):
        if not text.strip():
            return Verdict(None, False, "no_answer")
        try:
            failed = _failed(problem, text)
        except Exception:  # noqa: BLE001  a checker that breaks on this response decides nothing
            return Verdict(text, None, "verifier_error")
        return Verdict(text, not failed, "correct" if not failed else "incorrect")

    def score(self, problem, greedy, verdicts: list, samples: list) -> dict[str, float]:
        scores = super().score(problem, greedy, verdicts, samples)
        scores["constraint_agreement"] = checked_agreement(
            [self.checked(problem, v, s.text) for v, s in zip(verdicts, samples)])
        return scores

    def checked(self, problem, verdict, text: str) -> tuple:
        """Each constraint's verdict on one response, in the problem's order: True (met), False
        (broken), or None for all of them when the response could not be checked (no answer, cut
        off, a checker that broke)."""
        names = list(problem.constraints)
        if verdict.reason not in ("correct", "incorrect"):
            return (None,) * len(names)
        failed = set() if verdict.correct else set(_failed(problem, text))
        return tuple(name not in failed for name in names)

    def keep(self, problem, samples: list[dict], verdicts: list, rejected: Counter) -> list[Keep]:
        for i, verdict in enumerate(verdicts):
            if verdict.correct:
                return [Keep(i, None, True, None)]
        reasons = {v.reason for v in verdicts}
        rejected["constraint_failed" if "incorrect" in reasons else
                 "verifier_error" if "verifier_error" in reasons else "no_answer"] += 1
        return []


def _failed(problem, text: str) -> list[str]:
    return failed_constraints(text, problem.constraints, problem.spec.get("source_prompt", ""))
