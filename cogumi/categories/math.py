"""Math: a final (boxed) answer, equivalent to the reference by math-verify; greedy distill."""

from __future__ import annotations

from cogumi.categories.base import Category
from cogumi.types import Decoding
from cogumi.verify import math as math_verify
from cogumi.verify.reference import against_reference


class Math(Category):
    name = "math"
    default_decoding = Decoding(0.0, 1, 96)
    default_training_temperature = 0.0
    fields = ("prompt", "answer")
    leads = True
    position = 0
    seed = 0

    def judge_one(self, problem, text, finished):
        return against_reference(problem, math_verify.extract_answer(text),
                                 lambda answer: math_verify.is_equivalent(answer, problem.answer))

    def same_answer(self, a: str, b: str) -> bool:
        try:
            return math_verify.is_equivalent(a, b)
        except Exception:  # an answer the verifier cannot parse is no vote for another
            return False
