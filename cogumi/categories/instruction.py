"""Instruction following: every checkable constraint of the prompt must hold; a few samples at a
low temperature, and the filter keeps the first that meets them all."""

from __future__ import annotations

from collections import Counter

from cogumi.categories.base import Category, Decoding, Keep


class Instruction(Category):
    name = "instruction"
    default_decoding = Decoding(0.2, 4, 96)
    default_training_temperature = 0.0
    fields = ("prompt", "constraints")
    tiny_world = True
    position = 5

    def prepare(self, problem):
        """A dataset's constraints are checked where they are read, before any weights load."""
        from cogumi.verify.instruction import check_constraints

        check_constraints(problem.constraints, f"problem {problem.id}")
        return problem

    def judge_one(self, problem, text, finished):
        from cogumi.verify import Verdict
        from cogumi.verify.instruction import failed_constraints

        if not text.strip():
            return Verdict(None, False, "no_answer")
        failed = failed_constraints(text, problem.constraints)
        return Verdict(text, not failed, "correct" if not failed else "incorrect")

    def keep(self, problem, samples: list[dict], verdicts: list, rejected: Counter) -> list[Keep]:
        for i, verdict in enumerate(verdicts):
            if verdict.correct:
                return [Keep(i, None, True, None)]
        rejected["constraint_failed" if any(v.reason == "incorrect" for v in verdicts) else "no_answer"] += 1
        return []
