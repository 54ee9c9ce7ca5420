"""The report's content: every trained model against Phase 1A's decoding frontier, per category,
as one dict (``report.json``). It says first whether some single temperature of Phase 1A matches
each trained model on every metric of a category (a gain a user gets for free by lowering the
temperature), or whether the model is beyond every temperature; then the paired intervals against
Phase 1A and against each ablation, the frontier itself, the oracle row, effective temperatures,
pass@k and majority@k curves, the calibration table and the spread over training seeds.
"""

from __future__ import annotations

import statistics

from cogumi.categories import ordered
from cogumi.report.frontier import oracle, sentence, verdict
from cogumi.report.stats import curves, paired_deltas, summarize
from cogumi.report.variants import policy_name, split_variant, title


def _by_category(records: list[dict], category: str) -> list[dict]:
    return [r for r in records if r["category"] == category]


def _seed_spread(categories, summaries: dict[str, dict]) -> dict:
    """Mean and sd over training seeds of each metric, for each variant trained under several seeds."""
    groups: dict[str, list[str]] = {}
    for label in summaries:
        if label != "before":
            groups.setdefault(split_variant(label)[0], []).append(label)
    spread = {}
    for name, labels in groups.items():
        if len(labels) < 2:
            continue
        spread[name] = {c: {m: {"mean": round(statistics.mean(v), 4), "sd": round(statistics.stdev(v), 4),
                                "seeds": len(v)}
                            for m in categories[c].metrics
                            if len(v := [summaries[l][c][m] for l in labels if m in summaries[l].get(c, {})]) > 1}
                        for c in summaries[labels[0]]}
    return spread


def outputs(records: list[dict]) -> dict:
    """Per category, how the answers ended: of the greedy ones and of the samples, how many gave no
    answer that could be extracted, and how many the model ended itself rather than
    ``max_new_tokens`` (records written before answers were kept count as unknown: None)."""
    found = {}
    for category in dict.fromkeys(r["category"] for r in records):
        mine = _by_category(records, category)
        greedy = [r for r in mine if "greedy_reason" in r]
        sampled = [reason for r in mine for reason in r.get("sampled_reasons", [])]
        ended = [f for r in mine for f in r.get("sampled_finished", [])]
        found[category] = {
            "greedy": len(greedy), "greedy_no_answer": sum(r["greedy_reason"] == "no_answer" for r in greedy),
            "greedy_ended": sum(r["greedy_finished"] for r in greedy) if all("greedy_finished" in r for r in greedy) else None,
            "samples": len(sampled), "samples_no_answer": sampled.count("no_answer"),
            "samples_ended": sum(ended) if len(ended) == len(sampled) else None}
    return found


def warnings(categories, report: dict, trained: dict[str, dict]) -> list[str]:
    """In words: each category a trained model had no example of, and each greedy metric a trained
    model surely lost (its paired 95% interval below 0)."""
    said = []
    for label, examples in trained.items():
        empty = [c for c in categories if not examples.get(c)]
        if empty:
            said.append(f"The {title(label)} model had no training example of {', '.join(empty)}: what it shows "
                        f"there is not learned from {'it' if len(empty) == 1 else 'them'}.")
    for label, by in report["deltas"].items():
        for category, metrics in by.items():
            for name, d in metrics.items():
                if name.startswith("greedy") and d["n"] and d["high"] < 0:
                    was, now = report["before"][category][name], report[label][category][name]
                    said.append(f"{category}: the {title(label)} model is worse than {policy_name(report)} greedily: {name} "
                                f"fell from {was:.3f} to {now:.3f} ({d['delta']:+.3f}, 95% CI [{d['low']:+.3f}, "
                                f"{d['high']:+.3f}]).")
    return said


def build_report(categories, records: dict[str, list[dict]], frontier: dict[float, list[dict]], *,
                 effective: dict, serve_temperature: float, samples_per_problem: int, resamples: int, seed: int,
                 config: str, timings: dict, trained: dict | None = None, min_problems: int = 1,
                 extra: dict | None = None, policy: str = "Phase 1A") -> dict:
    """``records``: "before" and every trained variant's per-problem records; ``frontier``: Phase 1A's
    records by temperature (``cogumi.report.frontier.frontier_records``); ``effective``: each variant's
    logit scale and effective temperature; ``trained``: each variant's training examples per category;
    ``min_problems``: the fewest problems a category's verdict is decided on; ``policy``: what the
    model before training is called ("your model" where it has no Phase 1A adapter)."""
    summaries = {label: summarize(categories, rows) for label, rows in records.items()}
    main = [label for label in records if label != "before" and split_variant(label)[1] is None]
    names = ordered(categories, summaries["before"])
    report: dict = {"policy": policy, "before": summaries["before"], **{label: summaries[label] for label in main}}
    report["deltas"] = {label: {c: paired_deltas(_by_category(records["before"], c), records[label],
                                                 categories[c].metrics, resamples, seed) for c in names}
                        for label in main}
    report["versus"] = {label: {c: paired_deltas(_by_category(records[label], c), records["after"],
                                                 categories[c].metrics, resamples, seed) for c in names}
                        for label in main if label != "after" and "after" in records}
    report["frontier"] = {c: {f"{t:g}": summarize(categories, _by_category(rows, c)).get(c, {})
                              for t, rows in frontier.items()} for c in names}
    report["oracle"] = oracle(categories, {c: {float(t): v for t, v in report["frontier"][c].items()} for c in names})
    report["effective_temperature"] = effective
    temperatures = list(frontier)
    report["verdicts"] = {}
    for label in main:
        report["verdicts"][label] = {}
        for c in names:
            result = verdict(categories[c], frontier, records[label], resamples, seed, min_problems)
            report["verdicts"][label][c] = {**result, "sentence": sentence(c, f"the {title(label)} model", result,
                                                                           temperatures, policy)}
    report["calibration"] = {label: calibration(categories, report["frontier"], report[label]) for label in main}
    report["curves"] = {label: curves(categories, rows) for label, rows in records.items()}
    report["seeds"] = _seed_spread(categories, summaries)
    report["outputs"] = {label: outputs(rows) for label, rows in records.items()}
    report["warnings"] = warnings(categories, report, trained or {})
    report["training_examples"] = trained or {}
    report.update(serve_temperature=serve_temperature, samples_per_problem=samples_per_problem, config=config,
                  timings_s=timings, **(extra or {}))
    return report


# How close a category's consistency metric must come to Phase 1A's at its training temperature.
CALIBRATED_WITHIN = 0.03


def calibration(categories, frontier: dict[str, dict[str, dict]], model: dict[str, dict]) -> dict[str, dict]:
    """Per category, the model's consistency metric against Phase 1A's at the category's training
    temperature (the nearest measured one; the sweep includes every training temperature)."""
    found = {}
    for name, by_temperature in frontier.items():
        category = categories[name]
        metric, tau = category.consistency, category.training_temperature
        if metric not in model.get(name, {}) or not by_temperature:
            continue
        nearest = min(by_temperature, key=lambda t: abs(float(t) - tau))
        target, value = by_temperature[nearest].get(metric), model[name][metric]
        if target is None:
            continue
        found[name] = {"metric": metric, "tau": tau, "phase1a_at": float(nearest), "target": target, "model": value,
                       "gap": value - target, "calibrated": abs(value - target) <= CALIBRATED_WITHIN}
    return found
