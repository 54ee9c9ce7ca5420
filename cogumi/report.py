"""Report stage: before/after per category with paired bootstrap intervals, as a rich table,
``report.json``, ``report.md`` and a PNG plot."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from cogumi.categories import ordered
from cogumi.files import write_json

# Model variants a report compares with "before", in column order.
VARIANTS = ("after", "ablation")
VARIANT_TITLES = {"before": "Phase 1A", "after": "distilled", "ablation": "plain SFT"}


def build_report(categories, records: dict[str, list[dict]], *, serve_temperature: float,
                 samples_per_problem: int, resamples: int, seed: int, config: str, timings: dict,
                 extra: dict | None = None) -> dict:
    """``records`` maps "before", "after" and optionally "ablation" to per-problem benchmark records;
    ``categories`` is the run's registry (each category's metrics, and which lead the tables)."""
    from cogumi.benchmark import paired_delta, summarize

    report = {label: summarize(categories, rows) for label, rows in records.items()}
    report["deltas"] = {}
    for label in VARIANTS:
        if label not in records:
            continue
        report["deltas"][label] = {
            category: {name: paired_delta([r for r in records["before"] if r["category"] == category],
                                          records[label], name, resamples, seed)
                       for name in categories[category].metrics}
            for category in report["before"]}
    report.update(serve_temperature=serve_temperature, samples_per_problem=samples_per_problem, config=config,
                  timings_s=timings, **(extra or {}))
    return report


def _metrics(report: dict, category: str) -> list[str]:
    return [k for k in report["before"][category] if k != "n"]


def _cell(delta: dict) -> str:
    return f"{delta['delta']:+.3f} [{delta['low']:+.3f}, {delta['high']:+.3f}]"


def rows(report: dict, categories) -> list[list[str]]:
    """One row per (category, metric): before, each variant, each variant's delta with its interval."""
    variants = [v for v in VARIANTS if v in report]
    out = []
    for category in ordered(categories, report["before"]):
        for name in _metrics(report, category):
            row = [category, name, f"{report['before'][category][name]:.3f}"]
            row += [f"{report[v][category][name]:.3f}" for v in variants]
            row += [_cell(report["deltas"][v][category][name]) for v in variants]
            out.append(row)
    return out


def headers(report: dict) -> list[str]:
    variants = [v for v in VARIANTS if v in report]
    return (["category", "metric", VARIANT_TITLES["before"]] + [VARIANT_TITLES[v] for v in variants]
            + [f"Δ {VARIANT_TITLES[v]} (95% CI)" for v in variants])


def report_table(report: dict, categories) -> Table:
    n = {c: report["before"][c]["n"] for c in report["before"]}
    table = Table(title=f"{report.get('split', 'benchmark')} split, sampled at T={report['serve_temperature']} "
                        f"({report['samples_per_problem']} samples per problem); problems per category {n}")
    for i, column in enumerate(headers(report)):
        table.add_column(column, justify="left" if i < 2 else "right", no_wrap=i < 2, min_width=6)
    previous = None
    for row in rows(report, categories):
        table.add_row(*([row[0] if row[0] != previous else ""] + row[1:]))
        previous = row[0]
    return table


def markdown(report: dict, categories) -> str:
    lines = ["# Cogumi report", "",
             f"{report.get('split', 'benchmark').capitalize()} split, sampled at T={report['serve_temperature']} with "
             f"{report['samples_per_problem']} samples per problem; deltas are paired on the same problems with 95% "
             "bootstrap intervals.", "",
             "| " + " | ".join(headers(report)) + " |", "|" + "---|" * len(headers(report))]
    lines += ["| " + " | ".join(row) + " |" for row in rows(report, categories)]
    lines += ["", "## Time per stage", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {stage} | {seconds:.1f} |" for stage, seconds in report["timings_s"].items()]
    for note in report.get("notes", []):
        lines += ["", f"> {note}"]
    return "\n".join(lines) + "\n"


def plot(report: dict, categories, path: Path) -> None:
    """Before/after of each category's headline metric, and each delta with its 95% interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    headline = {c: categories[c].headline for c in report["before"]}
    names = ordered(categories, report["before"])
    variants = ["before"] + [v for v in VARIANTS if v in report]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(variants)
    for i, label in enumerate(variants):
        values = [report[label][c][headline[c]] for c in names]
        left.bar([x + i * width for x in range(len(names))], values, width, label=VARIANT_TITLES[label])
    left.set_xticks([x + width * (len(variants) - 1) / 2 for x in range(len(names))], names)
    left.set_ylim(0, 1)
    left.set_title(f"sampled at T={report['serve_temperature']}: each category's headline metric")
    left.legend()
    for i, label in enumerate(variants[1:]):
        deltas = [report["deltas"][label][c][headline[c]] for c in names]
        xs = [x + i * 0.25 for x in range(len(names))]
        right.errorbar(xs, [d["delta"] for d in deltas],
                       yerr=[[d["delta"] - d["low"] for d in deltas], [d["high"] - d["delta"] for d in deltas]],
                       fmt="o", capsize=4, label=VARIANT_TITLES[label])
    right.axhline(0, color="grey", linewidth=0.8)
    right.set_xticks(range(len(names)), names)
    right.set_title("change vs Phase 1A, 95% paired bootstrap interval")
    if len(variants) > 1:
        right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report: dict, categories, paths: list[Path]) -> list[Path]:
    """``report.json``, ``report.md`` and ``report.png`` at ``paths``."""
    write_json(paths[0], report)
    paths[1].write_text(markdown(report, categories))
    plot(report, categories, paths[2])
    return paths
