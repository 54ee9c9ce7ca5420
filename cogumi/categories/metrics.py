"""The benchmark metrics categories share, per problem: accuracy, agreement, pass@k and majority@k
of answers, and the well-formedness and diversity of free writing. Each category's ``score``
picks its own."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable

from cogumi.verify.creativity import similarity
from cogumi.verify.vote import majority


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def pass_at(n: int, correct: int, k: int) -> float:
    """The unbiased pass@k of ``n`` samples of which ``correct`` are right: the chance that k of them,
    drawn without replacement, hold at least one right answer."""
    if n - correct < k:
        return 1.0
    return 1.0 - math.comb(n - correct, k) / math.comb(n, k)


def majority_correct(verdicts: list, key: Callable, same: Callable[[str, str], bool]):
    """(the vote over ``verdicts``, whether its answer is right)."""
    vote = majority([key(v) for v in verdicts], equivalent=same)
    return vote, bool(vote.members) and bool(verdicts[vote.members[0]].correct)


def accuracy_scores(verdicts: list, greedy, key: Callable, same: Callable[[str, str], bool]) -> dict:
    """Greedy correctness, the share of correct samples, whether the majority answer is correct, the
    share of samples agreeing with the majority answer, pass@n (some sample right); and the curves
    pass@k (unbiased) and majority@k (the vote of the first k samples) for k = 1..n."""
    vote, right = majority_correct(verdicts, key, same)
    n, correct = len(verdicts), sum(bool(v.correct) for v in verdicts)
    scores = {} if greedy is None else {"greedy_accuracy": float(bool(greedy.correct))}
    scores.update(sampled_accuracy=correct / n if n else float("nan"), majority_accuracy=float(right),
                  agreement_rate=vote.agreement_rate, pass_at_k=float(correct > 0),
                  pass_curve=[round(pass_at(n, correct, k), 6) for k in range(1, n + 1)],
                  majority_curve=[float(majority_correct(verdicts[:k], key, same)[1]) for k in range(1, n + 1)])
    return scores


def writing_scores(greedy, verdicts: list, texts: list[str]) -> dict[str, float]:
    """Well-formedness of the greedy answer (greedy None: left out) and of the samples, and the
    samples' mean pairwise diversity (1 - Jaccard similarity of word bigrams)."""
    pairs = [1 - similarity(a, b) for a, b in itertools.combinations(texts, 2)]
    scores = {} if greedy is None else {"greedy_well_formed": float(greedy.reason == "correct")}
    scores.update(sampled_well_formed=mean([float(v.reason == "correct") for v in verdicts]), diversity=mean(pairs))
    return scores


def checked_agreement(outcomes: list[tuple]) -> float:
    """How much samples agree on what is checked: ``outcomes`` holds one tuple per sample, one entry
    per check (its verdict, or None where the sample could not be checked), and the result is the
    share of (sample, check) pairs whose verdict is that check's most common one. Two different texts
    that pass and fail the same checks agree fully; a sample that could not be checked agrees with
    none, as a missing answer does in ``agreement_rate``."""
    if not outcomes or not outcomes[0]:
        return float("nan")
    agreeing = sum(max(Counter(v for v in column if v is not None).values(), default=0) for column in zip(*outcomes))
    return agreeing / (len(outcomes) * len(outcomes[0]))
