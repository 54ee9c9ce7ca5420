"""Benchmark: accuracy and consistency of a policy on each category's benchmark split.

The pure core scores completions that are already generated; the stage drives generation.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cogumi.engine import Completion, Decoding, generate
from cogumi.verify.creativity import is_well_formed, similarity
from cogumi.verify.judge import equivalence, judge
from cogumi.verify.vote import majority
from cogumi.world import CATEGORIES, Problem, make_split

# The categories whose accuracy leads every table.
LEAD = ("math", "code", "reasoning")


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def score_category(problems: list[Problem], greedy: list[Completion], samples: list[list[Completion]]) -> dict:
    """Greedy, sampled and majority accuracy and agreement rate (or, for creativity, well-formed
    rate and diversity) of one category."""
    category = problems[0].category
    k = len(samples[0])
    flat = [c for group in samples for c in group]
    greedy_v = judge(problems, [c.text for c in greedy], [c.finished for c in greedy])
    sampled_v = judge([p for p in problems for _ in range(k)], [c.text for c in flat], [c.finished for c in flat])
    if category == "creativity":
        diversity = [_mean([1 - similarity(a.text, b.text) for a, b in itertools.combinations(group, 2)])
                     for group in samples if k > 1]
        return {"n": len(problems), "greedy_well_formed": _mean([v.reason == "correct" for v in greedy_v]),
                "sampled_well_formed": _mean([v.reason == "correct" for v in sampled_v]),
                "diversity": _mean(diversity)}
    same = equivalence(category)
    majority_ok, agreement = [], []
    for i in range(len(problems)):
        verdicts = sampled_v[i * k:(i + 1) * k]
        vote = majority([v.answer for v in verdicts], equivalent=same)
        agreement.append(vote.agreement_rate)
        majority_ok.append(bool(vote.members) and bool(verdicts[vote.members[0]].correct))
    return {"n": len(problems), "greedy_accuracy": _mean([bool(v.correct) for v in greedy_v]),
            "sampled_accuracy": _mean([bool(v.correct) for v in sampled_v]),
            "majority_accuracy": _mean(majority_ok), "agreement_rate": _mean(agreement)}


@dataclass
class Measure:
    """Which problems are measured and how the model is sampled."""

    problems: dict[str, int] = field(default_factory=lambda: {c: 60 for c in CATEGORIES})
    """Benchmark-split problems per category (capped at what the split holds)."""
    serve_temperature: float = 0.7
    """Temperature at which the model is served and sampled."""
    samples_per_problem: int = 8
    """Samples per problem at ``serve_temperature``."""
    max_new_tokens: int = 96
    """Generation limit per response."""
    batch_size: int = 32
    """Prompts per generation batch."""
    seed: int = 0
    """Seed for problem choice and sampling."""


def measure(model, tokenizer, cfg: Measure, split: str = "benchmark") -> dict[str, dict]:
    """Generate and score every category; returns category -> metrics."""
    results = {}
    for category in CATEGORIES:
        n = cfg.problems.get(category, 0)
        if not n:
            continue
        problems = make_split(category, split, n, cfg.seed, at_most=True)
        prompts = [p.prompt for p in problems]
        started = time.perf_counter()
        greedy = [c[0] for c in generate(model, tokenizer, prompts, Decoding(0.0, 1, cfg.max_new_tokens),
                                         batch_size=cfg.batch_size, seed=cfg.seed)]
        sampled = generate(model, tokenizer, prompts,
                           Decoding(cfg.serve_temperature, cfg.samples_per_problem, cfg.max_new_tokens),
                           batch_size=cfg.batch_size, seed=cfg.seed)
        results[category] = score_category(problems, greedy, sampled)
        results[category]["seconds"] = round(time.perf_counter() - started, 1)
    return results


def metrics_table(results: dict[str, dict], title: str) -> Table:
    table = Table(title=title)
    for column in ("category", "n", "greedy", f"sampled", "majority", "agreement / diversity"):
        table.add_column(column, justify="left" if column == "category" else "right")
    order = [c for c in LEAD if c in results] + [c for c in results if c not in LEAD]
    for category in order:
        r = results[category]
        if category == "creativity":
            table.add_row(category, str(r["n"]), f"{r['greedy_well_formed']:.2f} wf", f"{r['sampled_well_formed']:.2f} wf",
                          "-", f"{r['diversity']:.2f}")
        else:
            table.add_row(category, str(r["n"]), f"{r['greedy_accuracy']:.2f}", f"{r['sampled_accuracy']:.2f}",
                          f"{r['majority_accuracy']:.2f}", f"{r['agreement_rate']:.2f}")
    return table


def write_json(path: Path, payload: dict) -> None:
    """Write atomically, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)
