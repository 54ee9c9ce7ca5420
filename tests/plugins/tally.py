"""A category with metrics of its own names, as a user may define: arithmetic answered in digits,
scored by "exact" (the answer right) and "consensus" (how many samples give the commonest answer)."""

from __future__ import annotations

import re
from collections import Counter

from cogumi.categories import Category
from cogumi.types import Decoding, Verdict


class Tally(Category):
    name = "tally"
    default_decoding = Decoding(0.0, 1, 48)
    fields = ("prompt", "answer")
    metrics = ("greedy_exact", "sampled_exact", "consensus")
    headline = "sampled_exact"
    consistency = "consensus"
    at_temperature_zero = {"sampled_exact": "greedy_exact", "consensus": 1.0}

    def judge_one(self, problem, text, finished):
        numbers = re.findall(r"-?\d+", text or "")
        if not numbers:
            return Verdict(None, False, "no_answer")
        ok = numbers[-1] == str(problem.answer)
        return Verdict(numbers[-1], ok, "correct" if ok else "incorrect")

    def score(self, problem, greedy, verdicts, samples):
        votes = Counter(v.answer for v in verdicts)
        scores = {} if greedy is None else {"greedy_exact": float(bool(greedy.correct))}
        scores.update(sampled_exact=sum(bool(v.correct) for v in verdicts) / len(verdicts),
                      consensus=votes.most_common(1)[0][1] / len(verdicts))
        return scores
