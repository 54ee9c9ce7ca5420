"""Filter stage: pure functions from raw samples to distilled examples and an audit.

Each category keeps what its policy allows (DESIGN.md's table): verified-correct answers (math,
code, knowledge), the majority answer's samples when agreement is high enough (reasoning), up to
a few diverse well-formed outputs (creativity), or the first sample that meets every constraint
(instruction). Every rejection is counted under its reason; an undecidable verdict is never
counted as right or wrong.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from cogumi.verify.creativity import is_well_formed, similarity
from cogumi.verify.judge import equivalence, judge
from cogumi.verify.vote import majority
from cogumi.world import CATEGORIES, Problem


def _default_training_temperature() -> dict[str, float]:
    return {"math": 0.0, "code": 0.0, "reasoning": 0.0, "creativity": 0.3, "knowledge": 0.0, "instruction": 0.0}


@dataclass
class FilterConfig:
    """What each category keeps."""

    vote_threshold: float = 0.6
    """Reasoning: least share of samples that must agree with the majority answer."""
    creativity_keep: int = 3
    """Creativity: most outputs kept per prompt."""
    creativity_max_similarity: float = 0.5
    """Creativity: two kept outputs share at most this Jaccard similarity of word bigrams."""
    training_temperature: dict[str, float] = field(default_factory=_default_training_temperature)
    """Training temperature written into each category's examples."""

    def __post_init__(self) -> None:
        if not 0 < self.vote_threshold <= 1:
            raise ValueError(f"filter.vote_threshold must be in (0, 1], got {self.vote_threshold}")
        if self.creativity_keep < 1:
            raise ValueError("filter.creativity_keep must be >= 1")
        missing = set(CATEGORIES) - set(self.training_temperature)
        if missing:
            raise ValueError(f"filter.training_temperature lacks {sorted(missing)}")


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


def _example(problem: Problem, sample: dict, cfg: FilterConfig, *, answer, correct, agreement, n) -> dict:
    return {"instruction": problem.prompt, "output": sample["text"],
            "metadata": {"category": problem.category, "problem_id": problem.id, "answer": answer,
                         "is_correct": correct, "generation_temp": sample["temperature"],
                         "training_temp": cfg.training_temperature[problem.category],
                         "agreement_rate": agreement, "num_samples": n, "source": problem.source}}


def distill(problems: list[Problem], samples: list[dict], cfg: FilterConfig) -> tuple[dict[str, list[dict]], dict]:
    """Distilled examples per category and the audit (problems, samples, accepted, rejected by reason)."""
    by_problem: dict[str, list[dict]] = defaultdict(list)
    for row in samples:
        by_problem[row["problem_id"]].append(row)
    examples: dict[str, list[dict]] = {c: [] for c in CATEGORIES}
    audit: dict[str, dict] = {}
    for category in CATEGORIES:
        chosen = [p for p in problems if p.category == category and by_problem.get(p.id)]
        if not chosen:
            continue
        groups = [sorted(by_problem[p.id], key=lambda r: r["sample"]) for p in chosen]
        flat_problems = [p for p, g in zip(chosen, groups) for _ in g]
        flat = [r for g in groups for r in g]
        verdicts = judge(flat_problems, [r["text"] for r in flat], [r["finished"] for r in flat])
        rejected: Counter = Counter()
        offset = 0
        for problem, group in zip(chosen, groups):
            mine = verdicts[offset:offset + len(group)]
            offset += len(group)
            kept = _filter_problem(problem, group, mine, cfg, rejected)
            examples[category] += kept
        audit[category] = {"problems": len(chosen), "samples": len(flat), "accepted": len(examples[category]),
                           "problems_accepted": len({e["metadata"]["problem_id"] for e in examples[category]}),
                           "rejected": dict(sorted(rejected.items()))}
    return examples, audit


def _filter_problem(problem: Problem, group: list[dict], verdicts: list, cfg: FilterConfig, rejected: Counter) -> list[dict]:
    n = len(group)
    if problem.category in ("math", "code", "knowledge"):
        kept = []
        for sample, verdict in zip(group, verdicts):
            if verdict.correct:
                kept.append(_example(problem, sample, cfg, answer=verdict.answer if problem.category != "code" else None,
                                     correct=True, agreement=1.0, n=n))
            else:
                rejected[verdict.reason] += 1
        return kept[:1]
    if problem.category == "reasoning":
        vote = majority([v.answer for v in verdicts], cfg.vote_threshold, equivalence("reasoning"))
        if not vote.accepted:
            rejected["no_answer" if vote.answer is None else "low_agreement"] += 1
            return []
        correct = verdicts[vote.members[0]].correct
        seen, kept = set(), []
        for i in vote.members:
            if group[i]["text"] not in seen:
                seen.add(group[i]["text"])
                kept.append(_example(problem, group[i], cfg, answer=vote.answer, correct=correct,
                                     agreement=vote.agreement_rate, n=n))
        return kept
    if problem.category == "creativity":
        good = [i for i, s in enumerate(group) if is_well_formed(s["text"], s["finished"])]
        rejected["ill_formed"] += n - len(good)
        picked = select_diverse([group[i]["text"] for i in good], cfg.creativity_keep, cfg.creativity_max_similarity)
        rejected["too_similar"] += len(good) - len(picked)
        return [_example(problem, group[good[i]], cfg, answer=None, correct=None, agreement=None, n=n) for i in picked]
    # instruction: the first sample that meets every constraint
    for sample, verdict in zip(group, verdicts):
        if verdict.correct:
            return [_example(problem, sample, cfg, answer=None, correct=True, agreement=None, n=n)]
    rejected["constraint_failed" if any(v.reason == "incorrect" for v in verdicts) else "no_answer"] += 1
    return []


_METADATA_TYPES = {"category": str, "problem_id": str, "answer": (str, type(None)), "is_correct": (bool, type(None)),
                   "generation_temp": (int, float), "training_temp": (int, float),
                   "agreement_rate": (int, float, type(None)), "num_samples": int, "source": str}


def validate_example(row: dict, where: str = "example") -> None:
    """Raise ValueError naming the first field of ``row`` that breaks the distilled-example schema."""
    for key in ("instruction", "output"):
        if not isinstance(row.get(key), str):
            raise ValueError(f"{where}: '{key}' must be a string")
    metadata = row.get("metadata")
    if not isinstance(metadata, dict):
        raise ValueError(f"{where}: 'metadata' must be an object")
    for key, kind in _METADATA_TYPES.items():
        if key not in metadata:
            raise ValueError(f"{where}: metadata lacks '{key}'")
        if not isinstance(metadata[key], kind) or (kind == int and isinstance(metadata[key], bool)):
            raise ValueError(f"{where}: metadata '{key}' has the wrong type ({type(metadata[key]).__name__})")
    if metadata["category"] not in CATEGORIES:
        raise ValueError(f"{where}: unknown category {metadata['category']!r}")
