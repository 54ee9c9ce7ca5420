"""Filter stage: pure functions from raw samples to distilled examples and an audit.

Each category's ``keep`` rule decides what becomes training data (docs/design.md, "Categories"): the first
verified-correct answer (math, code, knowledge), the majority answer's samples when agreement is
high enough (reasoning), a few diverse well-formed outputs (creativity), or the first sample that
meets every constraint (instruction). The shared rules live here. Every rejection is counted under
its reason; an undecidable verdict is never counted as right or wrong.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping

from cogumi.categories import Category, Keep, judge
from cogumi.world import Problem


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
    from cogumi.verify.vote import majority

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
    from cogumi.verify.creativity import similarity

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
    rejected["ill_formed"] += len(samples) - len(good)
    picked = select_diverse([samples[i]["text"] for i in good], keep, max_similarity)
    rejected["too_similar"] += len(good) - len(picked)
    return [Keep(good[i], None, None, None) for i in picked]


def _example(problem: Problem, sample: dict, keep: Keep, category: Category, n: int) -> dict:
    return {"instruction": problem.prompt, "output": sample["text"],
            "metadata": {"category": problem.category, "problem_id": problem.id, "answer": keep.answer,
                         "is_correct": keep.correct, "generation_temp": sample["temperature"],
                         "training_temp": category.training_temperature,
                         "agreement_rate": keep.agreement, "num_samples": n, "source": problem.source}}


def filter_samples(categories: Mapping[str, Category], problems: list[Problem],
                   samples: list[dict]) -> tuple[dict[str, list[dict]], dict]:
    """Distilled examples per category and the audit (problems, samples, accepted, rejected by reason)."""
    by_problem: dict[str, list[dict]] = defaultdict(list)
    for row in samples:
        by_problem[row["problem_id"]].append(row)
    examples: dict[str, list[dict]] = {}
    audit: dict[str, dict] = {}
    for name, category in categories.items():
        chosen = [p for p in problems if p.category == name and by_problem.get(p.id)]
        if not chosen:
            continue
        groups = [sorted(by_problem[p.id], key=lambda r: r["sample"]) for p in chosen]
        flat = [r for g in groups for r in g]
        verdicts = judge(categories, [p for p, g in zip(chosen, groups) for _ in g], [r["text"] for r in flat],
                         [r["finished"] for r in flat])
        rejected: Counter = Counter()
        examples[name] = []
        offset = 0
        for problem, group in zip(chosen, groups):
            mine = verdicts[offset:offset + len(group)]
            offset += len(group)
            for keep in category.keep(problem, group, mine, rejected):
                examples[name].append(_example(problem, group[keep.index], keep, category, len(group)))
        audit[name] = {"problems": len(chosen), "samples": len(flat), "accepted": len(examples[name]),
                       "kept_correct": sum(e["metadata"]["is_correct"] is True for e in examples[name]),
                       "problems_accepted": len({e["metadata"]["problem_id"] for e in examples[name]}),
                       "rejected": dict(sorted(rejected.items()))}
    return examples, audit


_METADATA_TYPES = {"category": str, "problem_id": str, "answer": (str, type(None)), "is_correct": (bool, type(None)),
                   "generation_temp": (int, float), "training_temp": (int, float),
                   "agreement_rate": (int, float, type(None)), "num_samples": int, "source": str}


def validate_example(row: dict, where: str = "example", categories=None) -> None:
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
    if categories is not None and metadata["category"] not in categories:
        raise ValueError(f"{where}: unknown category {metadata['category']!r}")


def audit_table(audit: dict):
    from rich.table import Table

    table = Table(title="filter audit")
    for column in ("category", "problems", "samples", "accepted", "verified correct", "problems kept", "rejected"):
        table.add_column(column, justify="left" if column in ("category", "rejected") else "right")
    for category, row in audit.items():
        reasons = ", ".join(f"{k} {v}" for k, v in row["rejected"].items() if v) or "-"
        table.add_row(category, str(row["problems"]), str(row["samples"]), str(row["accepted"]),
                      str(row["kept_correct"]), str(row["problems_accepted"]), reasons)
    return table


def run_filter(cfg, run) -> dict:
    """Filter the run's raw samples into ``data/<category>_distilled.jsonl`` and ``data/audit.json``;
    returns the audit."""
    from cogumi.console import show
    from cogumi.files import write_json, write_jsonl
    from cogumi.generate import draw_problems, read_samples

    examples, audit = filter_samples(cfg.resolved, draw_problems(cfg, run), read_samples(cfg, run))
    for name, rows in examples.items():
        write_jsonl(run.distilled(name), rows)
    write_json(run.audit, audit)
    show(audit_table(audit))
    return audit


def clear_filtered(run, data: str = "data") -> None:
    """Forget the training data in folder ``data`` (its settings changed)."""
    import shutil

    shutil.rmtree(run.root / data, ignore_errors=True)


def keep_distinct_correct(verdicts: list, samples: list[dict], keep: int) -> list[Keep]:
    """Rejection sampling: up to ``keep`` verified-correct samples of distinct text."""
    seen, kept = set(), []
    for i, verdict in enumerate(verdicts):
        if verdict.correct and samples[i]["text"] not in seen and len(kept) < keep:
            seen.add(samples[i]["text"])
            kept.append(Keep(i, verdict.answer, True, 1.0))
    return kept


def unverified(categories: Mapping[str, Category], problems: list[Problem], samples: list[dict]) -> dict[str, list[dict]]:
    """Self-distillation without a verifier: every distinct sample of every problem, unchecked."""
    by_problem: dict[str, list[dict]] = defaultdict(list)
    for row in samples:
        by_problem[row["problem_id"]].append(row)
    examples: dict[str, list[dict]] = {}
    for problem in problems:
        group = sorted(by_problem.get(problem.id, []), key=lambda r: r["sample"])
        texts = list(dict.fromkeys(r["text"] for r in group))
        for text in texts:
            sample = next(r for r in group if r["text"] == text)
            examples.setdefault(problem.category, []).append(
                _example(problem, sample, Keep(sample["sample"], None, None, None), categories[problem.category],
                         len(group)))
    return examples


def run_unverified(cfg, run) -> None:
    """The no_verification ablation's data: ``data_unverified/<category>_distilled.jsonl``."""
    from cogumi.files import write_jsonl
    from cogumi.generate import draw_problems, read_samples

    for name, rows in unverified(cfg.resolved, draw_problems(cfg, run), read_samples(cfg, run)).items():
        write_jsonl(run.distilled(name, "data_unverified"), rows)


def run_rft_filter(cfg, run) -> None:
    """The rft ablation's data: distinct correct samples of the rft categories, the distilled data
    of the others, in ``data_rft/``."""
    from cogumi.files import read_jsonl, write_json, write_jsonl
    from cogumi.generate import draw_problems, read_samples

    problems = [p for p in draw_problems(cfg, run) if p.category in cfg.rft.categories]
    by_problem: dict[str, list[dict]] = defaultdict(list)
    for row in read_samples(cfg, run, run.raw_rft):
        by_problem[row["problem_id"]].append(row)
    examples: dict[str, list[dict]] = {name: [] for name in cfg.rft.categories}
    for problem in problems:
        group = sorted(by_problem.get(problem.id, []), key=lambda r: r["sample"])
        category = cfg.resolved[problem.category]
        verdicts = judge(cfg.resolved, [problem] * len(group), [r["text"] for r in group], [r["finished"] for r in group])
        for keep in keep_distinct_correct(verdicts, group, cfg.rft.keep):
            examples[problem.category].append(_example(problem, group[keep.index], keep, category, len(group)))
    for name in cfg.resolved:
        if name in examples:
            write_jsonl(run.distilled(name, "data_rft"), examples[name])
        elif run.distilled(name).exists():
            write_jsonl(run.distilled(name, "data_rft"), read_jsonl(run.distilled(name)))
    write_json(run.root / "data_rft" / "audit.json",
               {name: {"problems": sum(p.category == name for p in problems), "accepted": len(rows),
                       "problems_accepted": len({e["metadata"]["problem_id"] for e in rows})}
                for name, rows in examples.items()})
