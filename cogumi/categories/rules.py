"""The filter rules categories share: which samples of one problem become training examples.
Pure functions over verdicts; each counts every rejection under its reason, and an undecidable
verdict is never counted as right or wrong."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from cogumi.types import Keep
from cogumi.verify.creativity import similarity
from cogumi.verify.vote import majority


def keep_first_correct(verdicts: list, rejected: Counter, *, record_answer: bool = True) -> list[Keep]:
    """The first verified-correct sample; every other verdict's reason is counted."""
    kept = []
    for i, verdict in enumerate(verdicts):
        if verdict.correct:
            kept.append(Keep(i, verdict.answer if record_answer else None, True, 1.0))
        else:
            rejected[verdict.reason] += 1
    return kept[:1]


def keep_majority(samples: list[dict], verdicts: list, threshold: float, key: Callable, same: Callable[[str, str], bool],
                  rejected: Counter, agree_with_reference: bool = True) -> list[Keep]:
    """The distinct samples of the majority answer, when at least ``threshold`` of all samples agree
    and, with ``agree_with_reference``, the majority answer is not judged wrong against a reference
    (a problem without one keeps its majority)."""
    vote = majority([key(v) for v in verdicts], threshold, same)
    if not vote.accepted:
        rejected["no_answer" if vote.answer is None else "low_agreement"] += 1
        return []
    correct = verdicts[vote.members[0]].correct
    if agree_with_reference and correct is False:
        rejected["majority_wrong"] += 1
        return []
    seen, kept = set(), []
    for i in vote.members:
        if samples[i]["text"] not in seen:
            seen.add(samples[i]["text"])
            kept.append(Keep(i, vote.answer, correct, vote.agreement_rate))
    return kept


def select_diverse(texts: list[str], keep: int, max_similarity: float) -> list[int]:
    """Indices of up to ``keep`` texts chosen greedily for the largest minimum distance, never
    two closer than ``max_similarity`` allows. Starts from the first text."""
    if not texts:
        return []
    chosen = [0]
    while len(chosen) < keep:
        best, best_distance = None, -1.0
        for i in range(len(texts)):
            if i in chosen:
                continue
            closest = max(similarity(texts[i], texts[j]) for j in chosen)
            if closest <= max_similarity and 1 - closest > best_distance:
                best, best_distance = i, 1 - closest
        if best is None:
            break
        chosen.append(best)
    return chosen


def keep_diverse(samples: list[dict], verdicts: list, keep: int, max_similarity: float,
                 rejected: Counter) -> list[Keep]:
    """Up to ``keep`` well-formed samples, no two more alike than ``max_similarity``."""
    good = [i for i, v in enumerate(verdicts) if v.reason == "correct"]
    rejected.update(v.reason for v in verdicts if v.reason != "correct")  # ill-formed, or cut off
    picked = select_diverse([samples[i]["text"] for i in good], keep, max_similarity)
    rejected["too_similar"] += len(good) - len(picked)
    return [Keep(good[i], None, None, None) for i in picked]


def keep_distinct_correct(verdicts: list, samples: list[dict], keep: int) -> list[Keep]:
    """Rejection sampling: up to ``keep`` verified-correct samples of distinct text."""
    seen, kept = set(), []
    for i, verdict in enumerate(verdicts):
        if verdict.correct and samples[i]["text"] not in seen and len(kept) < keep:
            seen.add(samples[i]["text"])
            kept.append(Keep(i, verdict.answer, True, 1.0))
    return kept
