"""Creativity: free writing; several samples at 0.7, and the filter keeps a few diverse, well-formed
ones. Measured by well-formedness and the diversity of samples, not by accuracy."""

from __future__ import annotations

from collections import Counter

from cogumi.categories.base import WRITING, Category, check_option
from cogumi.categories.metrics import writing_scores
from cogumi.categories.rules import keep_diverse
from cogumi.types import Decoding, Keep, Verdict
from cogumi.verify.creativity import is_well_formed


class Creativity(Category):
    name = "creativity"
    default_decoding = Decoding(0.7, 10, 96)
    default_training_temperature = 0.3
    fields = ("prompt",)
    metrics = WRITING
    headline = "diversity"
    consistency = "diversity"
    at_temperature_zero = {"sampled_well_formed": "greedy_well_formed", "diversity": 0.0}
    position = 3
    seed = 3

    def __init__(self, keep: int = 3, max_similarity: float = 0.5):
        """``keep``: most outputs kept per prompt; ``max_similarity``: two kept outputs share at most
        this Jaccard similarity of word bigrams."""
        super().__init__()
        check_option("creativity", "keep", keep, int)
        check_option("creativity", "max_similarity", max_similarity, (int, float))
        if keep < 1:
            raise ValueError(f"categories.creativity.init_args.keep must be >= 1, got {keep}")
        if not 0 <= max_similarity <= 1:
            raise ValueError(f"categories.creativity.init_args.max_similarity must be in [0, 1], got {max_similarity}")
        self.keep_at_most, self.max_similarity = keep, max_similarity

    def options(self) -> dict:
        return {"keep": self.keep_at_most, "max_similarity": self.max_similarity}

    def judge_one(self, problem, text, finished):
        return Verdict(text, None, "correct" if is_well_formed(text, finished) else "ill_formed")

    def keep(self, problem, samples: list[dict], verdicts: list, rejected: Counter) -> list[Keep]:
        return keep_diverse(samples, verdicts, self.keep_at_most, self.max_similarity, rejected)

    def score(self, problem, greedy, verdicts: list, samples: list) -> dict[str, float]:
        return writing_scores(greedy, verdicts, [s.text for s in samples])
