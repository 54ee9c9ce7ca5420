"""Report stage: every trained model against Phase 1A's decoding frontier, per category, as a rich
table, ``report.json``, ``report.md`` and plots (``cogumi.plots``).

It says first, in words, whether some single temperature of Phase 1A matches each trained model on
every metric of a category (a gain a user gets for free by lowering the temperature), or whether the
model is beyond every temperature; then the paired intervals against Phase 1A and against each
ablation, the frontier itself, the oracle row, effective temperatures, pass@k and majority@k
curves, and the spread over training seeds.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from rich.table import Table

from cogumi.categories import ordered
from cogumi.files import write_json
from cogumi.run import split_variant

VARIANT_TITLES = {"before": "Phase 1A", "after": "distilled", "plain_sft": "plain SFT",
                  "no_verification": "no verification", "rft": "RFT"}


def title(label: str) -> str:
    name, seed = split_variant(label)
    return VARIANT_TITLES.get(name, name) + (f" (seed {seed})" if seed is not None else "")


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


def build_report(categories, records: dict[str, list[dict]], frontier: dict[float, list[dict]], *,
                 effective: dict, serve_temperature: float, samples_per_problem: int, resamples: int, seed: int,
                 config: str, timings: dict, extra: dict | None = None) -> dict:
    """``records``: "before" and every trained variant's per-problem records; ``frontier``: Phase 1A's
    records by temperature (``cogumi.frontier.frontier_records``); ``effective``: each variant's
    logit scale and effective temperature."""
    from cogumi.benchmark import curves, paired_deltas, summarize
    from cogumi.frontier import oracle, sentence, verdict

    summaries = {label: summarize(categories, rows) for label, rows in records.items()}
    main = [label for label in records if label != "before" and split_variant(label)[1] is None]
    names = ordered(categories, summaries["before"])
    report: dict = {"before": summaries["before"], **{label: summaries[label] for label in main}}
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
            result = verdict(categories[c], frontier, records[label], resamples, seed)
            report["verdicts"][label][c] = {**result, "sentence": sentence(c, f"the {title(label)} model", result,
                                                                           temperatures)}
    report["calibration"] = {label: calibration(categories, report["frontier"], report[label]) for label in main}
    report["curves"] = {label: curves(categories, rows) for label, rows in records.items()}
    report["seeds"] = _seed_spread(categories, summaries)
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


CALIBRATION_HEADER = ["model", "category", "metric", "tau", "Phase 1A at tau", "model at T_serve", "gap", "calibrated"]


def calibration_rows(report: dict) -> list[list[str]]:
    """One row per (trained model, category) of the calibration table."""
    return [[title(label), c, r["metric"], f"{r['tau']:g}", f"{r['target']:.3f}", f"{r['model']:.3f}",
             f"{r['gap']:+.3f}", "yes" if r["calibrated"] else "no"]
            for label, by in report.get("calibration", {}).items() for c, r in by.items()]


def calibration_table(report: dict) -> Table:
    table = Table(title=f"calibration: the consistency metric against Phase 1A at each training temperature "
                        f"(within {CALIBRATED_WITHIN})")
    for column in CALIBRATION_HEADER:
        table.add_column(column)
    for row in calibration_rows(report):
        table.add_row(*row)
    return table


def _calibration_lines(report: dict) -> list[str]:
    if not report.get("calibration"):
        return []
    return ["## Calibration: each category against Phase 1A at its training temperature", "",
            f"The trained model sampled at T_serve should score on each category's consistency metric what "
            f"Phase 1A scores at that category's training temperature tau, within {CALIBRATED_WITHIN}.", "",
            *_markdown_table(CALIBRATION_HEADER, calibration_rows(report)), ""]


def _cell(delta: dict) -> str:
    return f"{delta['delta']:+.3f} [{delta['low']:+.3f}, {delta['high']:+.3f}]"


def _variants(report: dict) -> list[str]:
    return list(report["deltas"])


def _metrics(report: dict, category: str) -> list[str]:
    return [k for k in report["before"][category] if k != "n"]


def _order(report: dict) -> list[str]:
    return list(report["frontier"])


def rows(report: dict) -> list[list[str]]:
    """One row per (category, metric): Phase 1A, each variant, each variant's delta with its interval."""
    out = []
    for category in _order(report):
        for name in _metrics(report, category):
            row = [category, name, f"{report['before'][category][name]:.3f}"]
            row += [f"{report[v][category].get(name, float('nan')):.3f}" for v in _variants(report)]
            row += [_cell(report["deltas"][v][category][name]) for v in _variants(report)]
            out.append(row)
    return out


def headers(report: dict) -> list[str]:
    variants = _variants(report)
    return (["category", "metric", "Phase 1A"] + [title(v) for v in variants]
            + [f"Δ {title(v)} (95% CI)" for v in variants])


def report_table(report: dict) -> Table:
    n = {c: report["before"][c]["n"] for c in report["before"]}
    table = Table(title=f"{report.get('split', 'benchmark')} split, sampled at T={report['serve_temperature']} "
                        f"({report['samples_per_problem']} samples per problem); problems per category {n}",
                  caption="\n".join(v["sentence"] for v in report["verdicts"].get("after", {}).values()))
    for i, column in enumerate(headers(report)):
        table.add_column(column, justify="left" if i < 2 else "right", no_wrap=i < 2, min_width=6)
    previous = None
    for row in rows(report):
        table.add_row(*([row[0] if row[0] != previous else ""] + row[1:]))
        previous = row[0]
    return table


def verdict_table(report: dict) -> Table:
    table = Table(title="against the decoding frontier (Phase 1A at every temperature of the sweep)")
    for column in ["category"] + [title(label) for label in report["verdicts"]]:
        table.add_column(column)
    for row in verdict_rows(report):
        table.add_row(*row)
    return table


def _markdown_table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in body]


def _frontier_lines(report: dict) -> list[str]:
    lines = ["## The decoding frontier: Phase 1A by temperature", "",
             "Every trained model is compared with these rows; a gain that one of them reaches is a temperature "
             "effect. Greedy metrics do not depend on the temperature.", ""]
    for category in _order(report):
        metrics = [m for m in _metrics(report, category) if not m.startswith("greedy")]
        body = [[t] + [f"{v.get(m, float('nan')):.3f}" for m in metrics]
                for t, v in report["frontier"][category].items()]
        best = report["oracle"][category]
        lines += [f"**{category}** (oracle: T={best['temperature']:g} for {best['metric']})", ""]
        lines += _markdown_table(["T"] + metrics, body) + [""]
    return lines


def verdict_rows(report: dict) -> list[list[str]]:
    """Per category, each model's verdict against the frontier: "matched at T" or "beyond"."""
    def cell(v: dict) -> str:
        return f"matched at T={v['temperature']:g}" if v["verdict"] == "matched" else v["verdict"]

    return [[c] + [cell(report["verdicts"][label][c]) for label in report["verdicts"]] for c in _order(report)]


def markdown(report: dict) -> str:
    lines = ["# Cogumi report", ""]
    if report["verdicts"]:  # Phase 1A alone (cogumi benchmark before training) has nothing to judge
        lines += ["## Verdicts: does a temperature of Phase 1A give the same?", ""]
        lines += [f"- {v['sentence']}" for v in report["verdicts"].get("after", {}).values()]
        lines += [""] + _markdown_table(["category"] + [title(label) for label in report["verdicts"]],
                                        verdict_rows(report)) + [""]
    lines += [f"{report.get('split', 'benchmark').capitalize()} split, sampled at T={report['serve_temperature']} "
              f"with {report['samples_per_problem']} samples per problem; deltas are paired on the same problems "
              "with 95% bootstrap intervals.", ""]
    lines += _markdown_table(headers(report), rows(report)) + [""]
    for label, by in report["versus"].items():
        lines += [f"## distilled minus {title(label)}", ""]
        body = [[c, m, _cell(d)] for c, metrics in by.items() for m, d in metrics.items()]
        lines += _markdown_table(["category", "metric", "Δ (95% CI)"], body) + [""]
    if report["effective_temperature"]:
        lines += ["## Effective temperatures", "", "A learned logit scale s makes sampling at T_serve the same as "
                  "sampling the unscaled logits at T_serve / s.", ""]
        lines += _markdown_table(["model", "logit scale", "effective T"],
                                 [[title(v), f"{e['logit_scale']:.3f}", f"{e['temperature']:g}"]
                                  for v, e in report["effective_temperature"].items()]) + [""]
    lines += _calibration_lines(report)
    lines += _frontier_lines(report)
    for name, by in report["seeds"].items():
        lines += [f"## {title(name)} over training seeds (mean ± sd)", ""]
        body = [[c, m, f"{s['mean']:.3f} ± {s['sd']:.3f} ({s['seeds']} seeds)"] for c, ms in by.items() for m, s in ms.items()]
        lines += _markdown_table(["category", "metric", "mean ± sd"], body) + [""]
    lines += ["## Time per stage", ""]
    lines += _markdown_table(["stage", "seconds"], [[s, f"{t:.1f}"] for s, t in report["timings_s"].items()])
    for note in report.get("notes", []):
        lines += ["", f"> {note}"]
    return "\n".join(lines) + "\n"


def write_report(report: dict, categories, paths: list[Path]) -> list[Path]:
    """``report.json``, ``report.md``, ``report.png`` (the frontier) and ``report_curves.png``."""
    from cogumi.plots import plot_curves, plot_frontier

    write_json(paths[0], report)
    paths[1].write_text(markdown(report))
    plot_frontier(report, categories, paths[2])
    curves_png = paths[2].with_name("report_curves.png")
    plot_curves(report, curves_png)
    return [*paths, curves_png]
