"""The report as a person reads it: rich tables for the terminal, ``report.md``, and the files a
report stage writes (``report.json``, the markdown and the plots of ``cogumi.report.plots``). Its
content is built by ``cogumi.report.build``."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from cogumi.files import write_json
from cogumi.report.build import CALIBRATED_WITHIN
from cogumi.report.plots import plot_curves, plot_frontier
from cogumi.report.variants import policy_name, title


def calibration_header(report: dict) -> list[str]:
    return ["model", "category", "metric", "tau", f"{policy_name(report)} at tau", "model at T_serve", "gap", "calibrated"]


def calibration_rows(report: dict) -> list[list[str]]:
    """One row per (trained model, category) of the calibration table."""
    return [[title(label), c, r["metric"], f"{r['tau']:g}", f"{r['target']:.3f}", f"{r['model']:.3f}",
             f"{r['gap']:+.3f}", "yes" if r["calibrated"] else "no"]
            for label, by in report.get("calibration", {}).items() for c, r in by.items()]


def calibration_table(report: dict) -> Table:
    table = Table(title=f"calibration: the consistency metric against {policy_name(report)} at each training temperature "
                        f"(within {CALIBRATED_WITHIN})")
    for column in calibration_header(report):
        table.add_column(column)
    for row in calibration_rows(report):
        table.add_row(*row)
    return table


def _calibration_lines(report: dict) -> list[str]:
    if not report.get("calibration"):
        return []
    policy = policy_name(report)
    return [f"## Calibration: each category against {policy} at its training temperature", "",
            f"The trained model sampled at T_serve should score on each category's consistency metric what "
            f"{policy} scores at that category's training temperature tau, within {CALIBRATED_WITHIN}.", "",
            *_markdown_table(calibration_header(report), calibration_rows(report)), ""]


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
    return (["category", "metric", policy_name(report)] + [title(v) for v in variants]
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
    table = Table(title=f"against the decoding frontier ({policy_name(report)} at every temperature of the sweep)")
    for column in ["category"] + [title(label) for label in report["verdicts"]]:
        table.add_column(column)
    for row in verdict_rows(report):
        table.add_row(*row)
    return table


def _markdown_table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in body]


def _frontier_lines(report: dict) -> list[str]:
    lines = [f"## The decoding frontier: {policy_name(report)} by temperature", "",
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
        if v["verdict"] == "too_few":
            return f"too few problems ({v['n']})"
        return f"matched at T={v['temperature']:g}" if v["verdict"] == "matched" else v["verdict"]

    return [[c] + [cell(report["verdicts"][label][c]) for label in report["verdicts"]] for c in _order(report)]


def _trained_lines(report: dict) -> list[str]:
    """What the filter kept of each category, and how many examples each trained model learned from."""
    trained, kept = report.get("training_examples", {}), report.get("filter", {}).get("data", {})
    if not trained and not kept:
        return []
    names = list(dict.fromkeys([*kept, *(c for by in trained.values() for c in by)]))
    header = ["category", "kept by the filter (of samples)"] + [title(label) for label in trained]
    body = [[c, f"{kept[c]['accepted']} of {kept[c]['samples']}" if c in kept else "-"]
            + [str(by.get(c, 0)) for by in trained.values()] for c in names]
    return ["## Training examples per category", ""] + _markdown_table(header, body) + [""]


def _output_lines(report: dict) -> list[str]:
    """Per model and category: answers with no extractable answer, and answers the model ended itself."""
    def of(n, total):
        return "-" if n is None else f"{n} of {total}"

    body = [[policy_name(report) if label == "before" else title(label), c, of(o["greedy_no_answer"], o["greedy"]), of(o["greedy_ended"], o["greedy"]),
             of(o["samples_no_answer"], o["samples"]), of(o["samples_ended"], o["samples"])]
            for label, by in report.get("outputs", {}).items() for c, o in by.items()]
    if not body:
        return []
    return (["## How the answers ended", "", "No answer: none could be extracted. Ended: the model ended its turn "
             "(the rest stopped at max_new_tokens).", ""]
            + _markdown_table(["model", "category", "greedy: no answer", "greedy: ended", "samples: no answer",
                               "samples: ended"], body) + [""])


def markdown(report: dict) -> str:
    lines = ["# Cogumi report", ""]
    if report["verdicts"]:  # Phase 1A alone (cogumi benchmark before training) has nothing to judge
        lines += [f"## Verdicts: does a temperature of {policy_name(report)} give the same?", ""]
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
    lines += _trained_lines(report) + _output_lines(report)
    lines += ["## Time per stage", ""]
    lines += _markdown_table(["stage", "seconds"], [[s, f"{t:.1f}"] for s, t in report["timings_s"].items()])
    for note in report.get("warnings", []) + report.get("notes", []):
        lines += ["", f"> {note}"]
    return "\n".join(lines) + "\n"


def write_report(report: dict, categories, paths: list[Path]) -> list[Path]:
    """``paths``: ``report.json``, ``report.md``, ``report.png`` (the frontier) and ``report_curves.png``."""
    write_json(paths[0], report)
    paths[1].write_text(markdown(report))
    plot_frontier(report, categories, paths[2])
    plot_curves(report, paths[3])
    return paths
