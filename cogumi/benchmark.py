"""Benchmark stage: accuracy and consistency of each model on each category's benchmark split.

The pure core: ``cogumi.score`` turns completions into one record per problem; ``summarize`` and
``paired_delta`` turn records into metrics with torchmetrics. The shell answers batches under
Lightning's ``Trainer.test`` (``cogumi.loop``), appending each finished batch of records to
``benchmark/<model>.jsonl``, so a rerun skips it.
"""

from __future__ import annotations

from collections.abc import Mapping

from cogumi.categories import Category
from cogumi.world import Problem


def summarize(categories: Mapping[str, Category], records: list[dict]) -> dict[str, dict]:
    """Category -> {n, metric: mean over problems}; ``sampled_accuracy`` is thereby the mean over
    problems and samples, ``agreement_rate`` the mean share agreeing with each problem's majority."""
    import torch
    from torchmetrics import MeanMetric

    summary: dict[str, dict] = {}
    for name, category in categories.items():
        rows = [r for r in records if r["category"] == name]
        if not rows:
            continue
        summary[name] = {"n": len(rows)}
        for metric in category.metrics:
            values = [r[metric] for r in rows if metric in r]
            if values:
                mean = MeanMetric()
                mean.update(torch.tensor(values, dtype=torch.float64))
                summary[name][metric] = round(mean.compute().item(), 4)
    return summary


def curves(categories: Mapping[str, Category], records: list[dict]) -> dict[str, dict]:
    """Category -> pass@k and majority@k for k = 1..samples, means over problems."""
    found = {}
    for name in categories:
        rows = [r for r in records if r["category"] == name and "pass_curve" in r]
        if rows:
            found[name] = {key.replace("_curve", "@k"): [round(sum(col) / len(rows), 4) for col in zip(*(r[key] for r in rows))]
                           for key in ("pass_curve", "majority_curve")}
    return found


def paired_deltas(before: list[dict], after: list[dict], names, resamples: int, seed: int) -> dict[str, dict]:
    """``after - before`` of each metric in ``names`` on the problems both measured, with a 95%
    bootstrap interval: problems resampled with replacement (the same resamples for every metric),
    each keeping its own pair. A metric missing from a record counts that problem out of it."""
    import torch

    after_by_id = {r["problem_id"]: r for r in after}
    pairs = [(r, after_by_id[r["problem_id"]]) for r in before if r["problem_id"] in after_by_id]
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(pairs), (resamples, len(pairs)), generator=generator) if pairs else None
    found = {}
    for name in names:
        diffs = torch.tensor([b[name] - a[name] for a, b in pairs if name in a and name in b], dtype=torch.float64)
        if diffs.numel() == 0:
            found[name] = {"delta": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
            continue
        index = picks if diffs.numel() == len(pairs) else torch.randint(
            diffs.numel(), (resamples, diffs.numel()), generator=generator)
        means = diffs[index].mean(dim=1)
        low, high = torch.quantile(means, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
        found[name] = {"delta": round(diffs.mean().item(), 4), "low": round(low, 4), "high": round(high, 4),
                       "n": diffs.numel()}
    return found


def paired_delta(before: list[dict], after: list[dict], name: str, resamples: int, seed: int) -> dict:
    """``paired_deltas`` of one metric."""
    return paired_deltas(before, after, [name], resamples, seed)[name]


def benchmark_problems(cfg, split: str) -> list[Problem]:
    """The problems of ``split`` an experiment measures: each category's source, capped at its
    count in ``benchmark.problems`` (and, for the distill split, at the count it generated on, so
    that every one of them is a problem the new adapter learned from)."""
    from cogumi.data import load_problems

    counts = dict(cfg.benchmark.problems)
    if split == "distill":
        counts = {c: min(n, cfg.generate.problems.get(c, 0)) for c, n in counts.items()}
    return [p for name, c in cfg.resolved.items() for p in load_problems(c, split, counts.get(name, 0), cfg.seed)]


def answer_and_score(categories: Mapping[str, Category], max_new_tokens: int, samples: int,
                     temperature: float, with_greedy: bool, model, tokenizer, batch: dict, seed: int) -> list[dict]:
    """One batch answered ``samples`` times at ``temperature`` (and greedily, ``with_greedy``), then scored."""
    from cogumi.engine import Decoding, generate
    from cogumi.score import score_problems

    problems = batch["problems"]
    prompts = [p.prompt for p in problems]
    greedy = (generate(model, tokenizer, prompts, Decoding(0.0, 1, max_new_tokens), batch_size=len(prompts), seed=seed)
              if with_greedy else None)
    sampled = generate(model, tokenizer, prompts, Decoding(temperature, samples, max_new_tokens),
                       batch_size=len(prompts), seed=seed)
    return score_problems(categories, problems, greedy and [g[0] for g in greedy], sampled)


def run_benchmark(cfg, run, model_label: str, temperature: float | None = None, load=None,
                  problems: list[Problem] | None = None, keep: str | None = None) -> list[dict]:
    """Benchmark one model of the run on ``benchmark.split`` into its records file, resuming what is
    on disk; returns every record. ``"before"`` and the trained variants are measured greedily and at
    the serving temperature; a sweep point (``temperature`` given) is the Phase 1A model sampled at
    that temperature alone. ``load(variant)`` gives (model, tokenizer) (default: ``load_variant``), so
    that one loaded Phase 1A model can serve every sweep point; ``problems`` (default: drawn here)
    lets every model of a stage share one draw of the benchmark problems. The model is released
    when done, unless it is ``keep`` (a model ``load`` serves again)."""
    from functools import partial

    from cogumi.batches import finished_batches, plan_batches, read_batches
    from cogumi.config import engine_batch_size
    from cogumi.console import console
    from cogumi.dist import barrier
    from cogumi.loop import run_batches
    from cogumi.models import load_engine, release

    split = cfg.benchmark.split
    path = run.records(split, model_label)
    order = list(cfg.resolved)
    done = finished_batches(path)
    problems = problems if problems is not None else benchmark_problems(cfg, split)
    size = engine_batch_size(cfg.benchmark, cfg.vllm)
    todo = [b for b in plan_batches(problems, {c: size for c in order}, order) if b["key"] not in done]
    if todo:
        console.print(f"benchmark: {model_label} on the {split} split")
        load = load or (lambda variant: load_engine(cfg, run, variant, cfg.benchmark.engine))
        loaded = "before" if temperature is not None else model_label
        model, tokenizer = load(loaded)
        answer = partial(answer_and_score, cfg.resolved, cfg.benchmark.max_new_tokens,
                         cfg.benchmark.samples_per_problem, temperature or cfg.serve_temperature, temperature is None)
        try:
            run_batches(model, tokenizer, answer, cfg.seed, todo, lambda category: path, f"benchmark {model_label}",
                        test=True)
        finally:
            if loaded != keep:
                release(model)
        del model
    barrier()
    return read_batches(path, order)
