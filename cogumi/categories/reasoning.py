"""Reasoning: a short final answer; several samples at a low temperature, and the filter keeps the
majority answer's samples when enough of them agree."""

from __future__ import annotations

from collections import Counter

from cogumi.categories.base import ShortAnswer, check_option
from cogumi.categories.rules import keep_majority
from cogumi.types import Decoding, Keep


class Reasoning(ShortAnswer):
    name = "reasoning"
    default_decoding = Decoding(0.1, 10, 96)
    default_training_temperature = 0.0
    fields = ("prompt", "answer")
    leads = True
    position = 2
    seed = 2

    def __init__(self, vote_threshold: float = 0.6, agree_with_reference: bool = True):
        """``vote_threshold``: least share of samples that must agree with the majority answer;
        ``agree_with_reference``: keep a majority only when it matches the problem's reference answer,
        where the problem has one (a majority can be confidently wrong)."""
        super().__init__()
        check_option("reasoning", "vote_threshold", vote_threshold, (int, float))
        check_option("reasoning", "agree_with_reference", agree_with_reference, bool)
        if not 0 < vote_threshold <= 1:
            raise ValueError(f"categories.reasoning.init_args.vote_threshold must be in (0, 1], got {vote_threshold}")
        self.vote_threshold, self.agree_with_reference = vote_threshold, agree_with_reference

    def options(self) -> dict:
        return {"vote_threshold": self.vote_threshold, "agree_with_reference": self.agree_with_reference}


    def keep(self, problem, samples: list[dict], verdicts: list, rejected: Counter) -> list[Keep]:
        return keep_majority(samples, verdicts, self.vote_threshold, self.vote_key, self.same_answer, rejected,
                             self.agree_with_reference)
