"""The decoding frontier: what the Phase 1A model reaches by temperature alone, and whether a
trained model gives more.

A lower sampling temperature is free, so every trained model is compared with Phase 1A over a
temperature sweep: per category, a trained model is "matched" when some single temperature of
Phase 1A is not worse than it on every metric of that category at once (no paired 95% interval of
model minus Phase 1A lies above 0), and "beyond" when no temperature is. The oracle is Phase 1A
with the best temperature chosen per category. Pure functions over benchmark records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from cogumi.categories import Category
from cogumi.report.stats import paired_deltas


def sweep_label(temperature: float) -> str:
    return f"phase1a@{temperature:g}"


def effective_temperatures(cfg, run, variants: list[str]) -> dict[str, dict]:
    """Each trained variant's learned logit scale and its effective temperature: sampling it at
    ``serve_temperature`` is Phase 1A's logits sharpened by the scale, i.e. T_serve / scale."""
    found = {}
    for variant in variants:
        log = run.train_log(variant)
        if log.exists():
            scale = json.loads(log.read_text()).get("logit_scale", 1.0)
            # two significant digits: a sweep point per distinct effective temperature, not per variant
            found[variant] = {"logit_scale": scale, "temperature": float(f"{cfg.serve_temperature / scale:.2g}")}
    return found


# An effective temperature this close (relative) to one already measured is read off that one: at
# 0.049, 0.05 and 0.051 Phase 1A differs by less than the sampling noise, and each point costs a run.
NEAR = 0.05


def sweep_points(cfg, run, variants: list[str]) -> dict[str, float]:
    """Phase 1A measurements besides "before": each sweep temperature other than 0 (read off the
    greedy answers) and the serving temperature ("before" itself), and each effective temperature
    not within ``NEAR`` of another point."""
    temperatures = sorted({0.0, cfg.serve_temperature, *cfg.benchmark.sweep_temperatures})
    for found in sorted({e["temperature"] for e in effective_temperatures(cfg, run, variants).values()}):
        if not any(abs(found - t) <= NEAR * t for t in temperatures):
            temperatures.append(found)
    return {sweep_label(t): t for t in sorted(temperatures) if t > 0 and t != cfg.serve_temperature}


def frontier_records(categories: Mapping[str, Category], before: list[dict], sweep: Mapping[float, list[dict]],
                     serve_temperature: float, samples: int) -> dict[float, list[dict]]:
    """Phase 1A's records by temperature, each with the greedy metrics of ``before`` (they do not
    depend on the temperature); at temperature 0, each category's ``greedy_record``."""
    greedy = {r["problem_id"]: {k: v for k, v in r.items() if k.startswith("greedy_")} for r in before}
    found = {0.0: [categories[r["category"]].greedy_record(r, samples) for r in before], serve_temperature: before}
    for temperature, records in sweep.items():
        found[temperature] = [{**r, **greedy.get(r["problem_id"], {})} for r in records]
    return dict(sorted(found.items()))


def verdict(category: Category, frontier: Mapping[float, list[dict]], model: list[dict], resamples: int,
            seed: int, min_problems: int = 1) -> dict:
    """Whether some single temperature of Phase 1A matches ``model`` on every metric of ``category``
    at once. Returns {"verdict": "matched" or "beyond", "temperature": among the matching temperatures
    the one closest to the model (when beyond: the one that comes closest), "deltas": model minus
    Phase 1A there}; "too_few" (and "n", the problems measured) when fewer than ``min_problems``
    problems were measured, as an interval over so few says nothing."""
    mine = [r for r in model if r["category"] == category.name]
    if mine and len(mine) < min_problems:
        return {"verdict": "too_few", "temperature": None, "deltas": {}, "n": len(mine)}
    found = {}
    for temperature, records in frontier.items():
        theirs = [r for r in records if r["category"] == category.name]
        found[temperature] = paired_deltas(theirs, mine, category.metrics, resamples, seed)
    found = {t: d for t, d in found.items() if d and all(x["n"] for x in d.values())}
    if not mine or not found:
        return {"verdict": "unmeasured", "temperature": None, "deltas": {}}
    # a low end above 0: the model is surely better on that metric than Phase 1A at that temperature
    matching = [t for t, d in found.items() if all(x["low"] <= 0 for x in d.values())]
    if matching:  # the temperature that comes closest to the model on every metric
        temperature = min(matching, key=lambda t: sum(abs(x["delta"]) for x in found[t].values()))
        return {"verdict": "matched", "temperature": temperature, "deltas": found[temperature]}
    temperature = min(found, key=lambda t: max(x["low"] for x in found[t].values()))
    return {"verdict": "beyond", "temperature": temperature, "deltas": found[temperature]}


def oracle(categories: Mapping[str, Category], frontier_summary: Mapping[str, Mapping[float, dict]]) -> dict:
    """Per category, Phase 1A at the sweep temperature that maximises the category's headline metric."""
    found = {}
    for name, by_temperature in frontier_summary.items():
        metric = categories[name].headline
        temperature = max(by_temperature, key=lambda t: (by_temperature[t].get(metric, float("-inf")), -t))
        found[name] = {"temperature": temperature, "metric": metric, **by_temperature[temperature]}
    return found


def sentence(category: str, title: str, result: dict, temperatures: list[float], policy: str = "Phase 1A") -> str:
    """The verdict in plain words; ``policy`` names the model before training."""
    if result["verdict"] == "matched":
        return (f"{category}: {title} is matched by {policy} at T={result['temperature']:g} on every metric; "
                f"sampling {policy} at {result['temperature']:g} gives the same, for free.")
    if result["verdict"] == "beyond":
        better = [m for m, d in result["deltas"].items() if d["low"] > 0]
        return (f"{category}: {title} is beyond every temperature of {policy} "
                f"({', '.join(f'{t:g}' for t in temperatures)}): even the closest, T={result['temperature']:g}, "
                f"is surely worse on {', '.join(better)}.")
    if result["verdict"] == "too_few":
        return (f"{category}: too few problems to decide ({result['n']} measured; benchmark.min_problems asks "
                f"for more before {title} is called matched or beyond).")
    return f"{category}: {title} was not measured."
