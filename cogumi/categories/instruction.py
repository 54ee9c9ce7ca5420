"""Instruction following: every checkable constraint of the prompt must hold (IFEval's checkers,
from if-verifiable, or the tiny world's own); a few samples at a low temperature, and the filter
keeps the first that meets them all."""

from __future__ import annotations

from collections import Counter

from cogumi.categories.base import Category
from cogumi.types import Decoding, Keep, Verdict
from cogumi.verify.instruction import check_constraints, failed_constraints


class Instruction(Category):
    name = "instruction"
    default_decoding = Decoding(0.2, 4, 96)
    default_training_temperature = 0.0
    fields = ("prompt", "constraints")
    position = 5
    seed = 5
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
            failed = failed_constraints(text, problem.constraints, problem.spec.get("source_prompt", ""))
        except Exception:  # noqa: BLE001  a checker that breaks on this response decides nothing
            return Verdict(text, None, "verifier_error")
        return Verdict(text, not failed, "correct" if not failed else "incorrect")

    def keep(self, problem, samples: list[dict], verdicts: list, rejected: Counter) -> list[Keep]:
        for i, verdict in enumerate(verdicts):
            if verdict.correct:
                return [Keep(i, None, True, None)]
        reasons = {v.reason for v in verdicts}
        rejected["constraint_failed" if "incorrect" in reasons else
                 "verifier_error" if "verifier_error" in reasons else "no_answer"] += 1
        return []
