"""The statistics of benchmark records: means over problems (torchmetrics), pass@k and majority@k
curves, and paired bootstrap intervals of one model against another on the same problems."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torchmetrics import MeanMetric

from cogumi.categories import Category


def summarize(categories: Mapping[str, Category], records: list[dict]) -> dict[str, dict]:
    """Category -> {n, metric: mean over problems}; ``sampled_accuracy`` is thereby the mean over
    problems and samples, ``agreement_rate`` the mean share agreeing with each problem's majority."""
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
