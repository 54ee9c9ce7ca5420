"""Benchmark stage: accuracy and consistency of a policy on each category's benchmark split.

The pure core turns completions into one record per problem (``score_problems``) and records into
metrics with torchmetrics (``summarize``, ``paired_delta``). The shell is ``BenchmarkPolicy.test_step``
under Lightning's ``Trainer.test``; each finished batch of records is appended to disk, so a rerun
skips it.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torchmetrics import MeanMetric
from torchmetrics.wrappers import BootStrapper

from cogumi.engine import Completion, Decoding, generate
from cogumi.generate import BatchWriter, Policy, Prompts, barrier, finished_batches, make_trainer, plan_batches, read_rows
from cogumi.verify.creativity import similarity
from cogumi.verify.judge import equivalence, judge
from cogumi.verify.vote import majority
from cogumi.world import CATEGORIES, Problem, check_categories

# The categories whose accuracy leads every table.
LEAD = ("math", "code", "reasoning")
# The splits a benchmark can measure: the held-out one, or the problems the new adapter learned from.
MEASURED_SPLITS = ("benchmark", "distill")
ACCURACY = ("greedy_accuracy", "sampled_accuracy", "majority_accuracy", "agreement_rate")
CREATIVITY = ("greedy_well_formed", "sampled_well_formed", "diversity")


def metric_names(category: str) -> tuple[str, ...]:
    return CREATIVITY if category == "creativity" else ACCURACY


@dataclass
class Measure:
    """Which problems are measured and how the model is sampled."""

    problems: dict[str, int] = field(default_factory=lambda: {c: 60 for c in CATEGORIES})
    """Benchmark-split problems per category (capped at what the split holds)."""
    samples_per_problem: int = 8
    """Samples per problem at the experiment's ``serve_temperature``."""
    max_new_tokens: int = 96
    """Generation limit per response."""
    batch_size: int = 32
    """Prompts per generation batch."""
    bootstrap: int = 1000
    """Bootstrap resamples for the 95% interval of each before/after delta."""
    split: str = "benchmark"
    """Problems measured: "benchmark" (held out, what the report is for) or "distill" (the first of
    the problems the new adapter was trained on: how well it learned them, not how it generalises;
    records and report go to benchmark_distill/)."""

    def __post_init__(self) -> None:
        check_categories(self.problems, "benchmark.problems")
        if self.split not in MEASURED_SPLITS:
            raise ValueError(f"benchmark.split must be one of {list(MEASURED_SPLITS)}, got {self.split!r}")
        if self.samples_per_problem < 2:
            raise ValueError("benchmark.samples_per_problem must be >= 2 for agreement to mean anything")


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def score_problems(problems: list[Problem], greedy: list[Completion], samples: list[list[Completion]]) -> list[dict]:
    """One record per problem: greedy correctness, the share of correct samples, majority
    correctness and agreement rate (for creativity: well-formedness and pairwise diversity)."""
    k = len(samples[0])
    flat = [c for group in samples for c in group]
    greedy_v = judge(problems, [c.text for c in greedy], [c.finished for c in greedy])
    sampled_v = judge([p for p in problems for _ in range(k)], [c.text for c in flat], [c.finished for c in flat])
    records = []
    for i, problem in enumerate(problems):
        verdicts = sampled_v[i * k:(i + 1) * k]
        record = {"problem_id": problem.id, "category": problem.category, "greedy_reason": greedy_v[i].reason,
                  "sampled_reasons": [v.reason for v in verdicts]}
        if problem.category == "creativity":
            pairs = [1 - similarity(a.text, b.text) for a, b in itertools.combinations(samples[i], 2)]
            record.update(greedy_well_formed=float(greedy_v[i].reason == "correct"),
                          sampled_well_formed=_mean([float(v.reason == "correct") for v in verdicts]),
                          diversity=_mean(pairs))
        else:
            vote = majority([v.answer for v in verdicts], equivalent=equivalence(problem.category))
            record.update(greedy_accuracy=float(bool(greedy_v[i].correct)),
                          sampled_accuracy=_mean([float(bool(v.correct)) for v in verdicts]),
                          majority_accuracy=float(bool(vote.members) and bool(verdicts[vote.members[0]].correct)),
                          agreement_rate=vote.agreement_rate)
        records.append(record)
    return records


def summarize(records: list[dict]) -> dict[str, dict]:
    """Category -> {n, metric: mean over problems}; ``sampled_accuracy`` is thereby the mean over
    problems and samples, ``agreement_rate`` the mean share agreeing with each problem's majority."""
    summary: dict[str, dict] = {}
    for category in CATEGORIES:
        rows = [r for r in records if r["category"] == category]
        if not rows:
            continue
        summary[category] = {"n": len(rows)}
        for name in metric_names(category):
            mean = MeanMetric()
            mean.update(torch.tensor([r[name] for r in rows], dtype=torch.float64))
            summary[category][name] = round(mean.compute().item(), 4)
    return summary


def paired_delta(before: list[dict], after: list[dict], name: str, resamples: int, seed: int) -> dict:
    """``after - before`` of metric ``name`` on the same problems, with a 95% bootstrap interval
    (problems resampled with replacement, each keeping its own pair)."""
    after_by_id = {r["problem_id"]: r for r in after}
    diffs = torch.tensor([after_by_id[r["problem_id"]][name] - r[name] for r in before
                          if r["problem_id"] in after_by_id], dtype=torch.float64)
    if diffs.numel() == 0:
        return {"delta": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    torch.manual_seed(seed)
    boot = BootStrapper(MeanMetric(), num_bootstraps=resamples, quantile=torch.tensor([0.025, 0.975]),
                        sampling_strategy="multinomial")
    boot.update(diffs)
    low, high = boot.compute()["quantile"].tolist()
    return {"delta": round(diffs.mean().item(), 4), "low": round(low, 4), "high": round(high, 4), "n": diffs.numel()}


def benchmark_problems(experiment, split: str = "benchmark") -> list[Problem]:
    """The problems of ``split`` an experiment measures: each category's source, capped at its
    count in ``benchmark.problems`` (and, for the distill split, at the count it generated on, so
    that every one of them is a problem the new adapter learned from)."""
    from cogumi.data import load_problems

    counts = experiment.benchmark.problems
    if split == "distill":
        counts = {c: min(n, experiment.generate.problems.get(c, 0)) for c, n in counts.items()}
    return [p for c in CATEGORIES for p in load_problems(experiment.data, c, split, counts.get(c, 0),
                                                          experiment.seed)]


def results_dir(experiment) -> Path:
    """Where the benchmark's per-problem records go: ``benchmark/`` for the held-out split,
    ``benchmark_distill/`` (which also receives that split's report) for the distill split."""
    out = Path(experiment.output_dir)
    return out / "benchmark" if experiment.benchmark.split == "benchmark" else out / "benchmark_distill"


def report_dir(experiment) -> Path:
    """The held-out report lies in the run directory itself; the distill split's beside its records."""
    return Path(experiment.output_dir) if experiment.benchmark.split == "benchmark" else results_dir(experiment)


class BenchmarkPolicy(Policy):
    """The policy module in ``Trainer.test``: each batch is answered greedily and ``k`` times at the
    serving temperature, then scored."""

    def __init__(self, model, tokenizer, cfg: Measure, serve_temperature: float, seed: int):
        super().__init__(model, tokenizer, decoding=None, seed=seed)
        self.cfg, self.serve_temperature = cfg, serve_temperature

    def test_step(self, batch: dict, batch_idx: int = 0) -> dict:
        problems, seed = batch["problems"], self.batch_seed(batch)
        prompts = [p.prompt for p in problems]
        greedy = generate(self.model, self.tokenizer, prompts, Decoding(0.0, 1, self.cfg.max_new_tokens),
                          batch_size=len(prompts), seed=seed)
        sampled = generate(self.model, self.tokenizer, prompts,
                           Decoding(self.serve_temperature, self.cfg.samples_per_problem, self.cfg.max_new_tokens),
                           batch_size=len(prompts), seed=seed)
        return {"key": batch["key"], "rows": score_problems(problems, [g[0] for g in greedy], sampled)}


def run_benchmark(model, tokenizer, problems: list[Problem], cfg: Measure, serve_temperature: float, seed: int,
                  path: Path) -> list[dict]:
    """Benchmark ``model`` on ``problems`` into ``path`` (one record per problem), resuming what is on
    disk; returns every record."""
    done = finished_batches(path)
    todo = [b for b in plan_batches(problems, cfg.batch_size) if b["key"] not in done]
    if todo:
        trainer = make_trainer(BatchWriter(path))
        trainer.test(BenchmarkPolicy(model, tokenizer, cfg, serve_temperature, seed), datamodule=Prompts(todo),
                     verbose=False)
    barrier()
    return read_rows(path)


def settings_of(cfg: Measure, serve_temperature: float, seed: int) -> dict:
    """What a benchmark file depends on; resuming with other settings is refused."""
    return {**asdict(cfg), "serve_temperature": serve_temperature, "seed": seed}
