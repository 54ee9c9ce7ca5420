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
            mean = MeanMetric()
            mean.update(torch.tensor([r[metric] for r in rows], dtype=torch.float64))
            summary[name][metric] = round(mean.compute().item(), 4)
    return summary


def paired_delta(before: list[dict], after: list[dict], name: str, resamples: int, seed: int) -> dict:
    """``after - before`` of metric ``name`` on the same problems, with a 95% bootstrap interval
    (problems resampled with replacement, each keeping its own pair)."""
    import torch
    from torchmetrics import MeanMetric
    from torchmetrics.wrappers import BootStrapper

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
                     serve_temperature: float, model, tokenizer, batch: dict, seed: int) -> list[dict]:
    """One batch answered greedily and ``samples`` times at the serving temperature, then scored."""
    from cogumi.engine import Decoding, generate
    from cogumi.score import score_problems

    problems = batch["problems"]
    prompts = [p.prompt for p in problems]
    greedy = generate(model, tokenizer, prompts, Decoding(0.0, 1, max_new_tokens), batch_size=len(prompts), seed=seed)
    sampled = generate(model, tokenizer, prompts, Decoding(serve_temperature, samples, max_new_tokens),
                       batch_size=len(prompts), seed=seed)
    return score_problems(categories, problems, [g[0] for g in greedy], sampled)


def run_benchmark(cfg, run, model_label: str) -> list[dict]:
    """Benchmark one model of the run (``"before"`` or a trained variant) on ``benchmark.split`` into
    its records file, resuming what is on disk; returns every record."""
    from functools import partial

    from cogumi.batches import finished_batches, plan_batches, read_batches
    from cogumi.console import console
    from cogumi.dist import barrier
    from cogumi.loop import run_batches
    from cogumi.models import load_variant

    split = cfg.benchmark.split
    path = run.records(split, model_label)
    order = list(cfg.resolved)
    done = finished_batches(path)
    problems = benchmark_problems(cfg, split)
    todo = [b for b in plan_batches(problems, {c: cfg.benchmark.batch_size for c in order}, order)
            if b["key"] not in done]
    if todo:
        console.print(f"benchmark: {model_label} on the {split} split")
        model, tokenizer = load_variant(cfg.model, run, model_label)
        answer = partial(answer_and_score, cfg.resolved, cfg.benchmark.max_new_tokens,
                         cfg.benchmark.samples_per_problem, cfg.serve_temperature)
        run_batches(model, tokenizer, answer, cfg.seed, todo, lambda category: path, f"benchmark {model_label}",
                    test=True)
        del model
    barrier()
    return read_batches(path, order)
