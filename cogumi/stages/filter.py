"""Filter stage: pure functions from raw samples to distilled examples and an audit.

Each category's ``keep`` rule decides what becomes training data (docs/design.md, "Categories"): the first
verified-correct answer (math, code, knowledge), the majority answer's samples when agreement is
high enough (reasoning), a few diverse well-formed outputs (creativity), or the first sample that
meets every constraint (instruction); the shared rules are in ``cogumi.categories.rules``. Every
rejection is counted under its reason; an undecidable verdict is never counted as right or wrong.
Beside the distilled data, the ablations' data are built here: every sample unverified, and the
rejection-sampling (rft) data.
"""

from __future__ import annotations

import shutil
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import asdict

from rich.table import Table

from cogumi.categories import Category, judge
from cogumi.categories.rules import keep_distinct_correct
from cogumi.console import show
from cogumi.data.problems import distill_problems
from cogumi.files import read_jsonl, write_json, write_jsonl
from cogumi.run import RunFolder
from cogumi.stages import generate
from cogumi.stages.contract import Stage
from cogumi.types import Keep, Problem


def stages(cfg, run: RunFolder, generated: Stage) -> dict[str, Stage]:
    """The training data of every variant, by data folder (``cogumi.report.variants.VARIANTS``), and
    the rft ablation's own samples, which its data needs."""
    settings = {"inputs": {"generate": generated.digest},
                "categories": {name: filter_settings(c) for name, c in cfg.resolved.items()}}
    found = {"data": Stage("filter", settings, lambda: run_filter(cfg, run), lambda old: clear_filtered(run),
                           lambda: filtered_files(run, "data"))}
    if "no_verification" in cfg.ablations:
        found["data_unverified"] = Stage(
            "filter_unverified", {"inputs": {"generate": generated.digest},
                                  "training_temperature": {n: c.training_temperature for n, c in cfg.resolved.items()}},
            lambda: run_unverified(cfg, run), lambda old: clear_filtered(run, "data_unverified"),
            lambda: filtered_files(run, "data_unverified"))
    if "rft" in cfg.ablations:
        sampled = generate.stage(cfg, run, rft=True)
        found["generate_rft"] = sampled
        found["data_rft"] = Stage(
            "filter_rft", {"inputs": {"generate_rft": sampled.digest, "filter": found["data"].digest},
                           "rft": asdict(cfg.rft)},
            lambda: run_rft_filter(cfg, run), lambda old: clear_filtered(run, "data_rft"),
            lambda: filtered_files(run, "data_rft"))
    return found


def filtered_files(run: RunFolder, data: str) -> list:
    """What a filter stage writes: the data folder's examples and its audit."""
    return sorted(run.data_dir(data).glob("*.jsonl")) + [run.audit(data)]


def filter_settings(category: Category) -> dict:
    """What a category's training data depend on beside its samples (``category.settings()``)."""
    own = category.settings()
    return {"class": own["class"], "options": own["options"], "training_temperature": own["training_temperature"]}


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


def audit_table(audit: dict) -> Table:
    table = Table(title="filter audit")
    for column in ("category", "problems", "samples", "accepted", "verified correct", "problems kept", "rejected"):
        table.add_column(column, justify="left" if column in ("category", "rejected") else "right")
    for category, row in audit.items():
        reasons = ", ".join(f"{k} {v}" for k, v in row["rejected"].items() if v) or "-"
        table.add_row(category, str(row["problems"]), str(row["samples"]), str(row["accepted"]),
                      str(row["kept_correct"]), str(row["problems_accepted"]), reasons)
    return table


def run_filter(cfg, run: RunFolder) -> dict:
    """Filter the run's raw samples into ``data/<category>_distilled.jsonl`` and ``data/audit.json``;
    returns the audit."""
    examples, audit = filter_samples(cfg.resolved, distill_problems(cfg, run), generate.read_samples(cfg, run))
    for name, rows in examples.items():
        write_jsonl(run.distilled(name), rows)
    write_json(run.audit(), audit)
    show(audit_table(audit))
    return audit


def clear_filtered(run: RunFolder, data: str = "data") -> None:
    """Forget the training data in folder ``data`` (its settings changed)."""
    shutil.rmtree(run.data_dir(data), ignore_errors=True)


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


def run_unverified(cfg, run: RunFolder) -> None:
    """The no_verification ablation's data: ``data_unverified/<category>_distilled.jsonl``."""
    for name, rows in unverified(cfg.resolved, distill_problems(cfg, run), generate.read_samples(cfg, run)).items():
        write_jsonl(run.distilled(name, "data_unverified"), rows)


def run_rft_filter(cfg, run: RunFolder) -> None:
    """The rft ablation's data: distinct correct samples of the rft categories, the distilled data
    of the others, in ``data_rft/``."""
    problems = [p for p in distill_problems(cfg, run) if p.category in cfg.rft.categories]
    by_problem: dict[str, list[dict]] = defaultdict(list)
    for row in generate.read_samples(cfg, run, run.raw_rft):
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
    write_json(run.audit("data_rft"),
               {name: {"problems": sum(p.category == name for p in problems), "accepted": len(rows),
                       "problems_accepted": len({e["metadata"]["problem_id"] for e in rows})}
                for name, rows in examples.items()})
