"""Benchmark scoring, the pure core: completions into one record of metrics per problem. Each
category's ``score`` picks its metrics; the shared ones are here."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

from cogumi.categories import Category, judge
from cogumi.world import Problem


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def accuracy_scores(verdicts: list, greedy, same: Callable[[str, str], bool]) -> dict[str, float]:
    """Greedy correctness, the share of correct samples, whether the majority answer is correct,
    and the share of samples agreeing with the majority answer."""
    from cogumi.verify.vote import majority

    vote = majority([v.answer for v in verdicts], equivalent=same)
    return {"greedy_accuracy": float(bool(greedy.correct)),
            "sampled_accuracy": mean([float(bool(v.correct)) for v in verdicts]),
            "majority_accuracy": float(bool(vote.members) and bool(verdicts[vote.members[0]].correct)),
            "agreement_rate": vote.agreement_rate}


def writing_scores(greedy, verdicts: list, texts: list[str]) -> dict[str, float]:
    """Well-formedness of the greedy answer and of the samples, and the samples' mean pairwise
    diversity (1 - Jaccard similarity of word bigrams)."""
    from cogumi.verify.creativity import similarity

    pairs = [1 - similarity(a, b) for a, b in itertools.combinations(texts, 2)]
    return {"greedy_well_formed": float(greedy.reason == "correct"),
            "sampled_well_formed": mean([float(v.reason == "correct") for v in verdicts]),
            "diversity": mean(pairs)}


def score_problems(categories: Mapping[str, Category], problems: list[Problem], greedy: list,
                   samples: list[list]) -> list[dict]:
    """One record per problem: its category's metrics from the greedy completion and the samples."""
    k = len(samples[0])
    flat = [c for group in samples for c in group]
    greedy_v = judge(categories, problems, [c.text for c in greedy], [c.finished for c in greedy])
    sampled_v = judge(categories, [p for p in problems for _ in range(k)], [c.text for c in flat],
                      [c.finished for c in flat])
    records = []
    for i, problem in enumerate(problems):
        verdicts = sampled_v[i * k:(i + 1) * k]
        record = {"problem_id": problem.id, "category": problem.category, "greedy_reason": greedy_v[i].reason,
                  "sampled_reasons": [v.reason for v in verdicts]}
        record.update(categories[problem.category].score(problem, greedy_v[i], verdicts, samples[i]))
        records.append(record)
    return records
