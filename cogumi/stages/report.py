"""Report stage: the benchmark's records read back, Phase 1A's decoding frontier assembled, and the
report built (``cogumi.report.build``) and written (``report.json``, ``report.md``, the plots), with
its tables printed."""

from __future__ import annotations

from rich.markup import escape

from cogumi.console import console, show
from cogumi.engines.batches import read_batches
from cogumi.files import read_json
from cogumi.report.build import build_report
from cogumi.report.frontier import effective_temperatures, frontier_records, sweep_points
from cogumi.report.tables import calibration_table, report_table, verdict_table, write_report
from cogumi.report.variants import VARIANTS
from cogumi.run import RunFolder
from cogumi.stages.contract import Stage


def stage(cfg, run: RunFolder, benchmark: Stage, timings: dict) -> Stage:
    settings = {"inputs": {"benchmark": benchmark.digest}, "bootstrap": cfg.benchmark.bootstrap, "seed": cfg.seed,
                "min_problems": cfg.benchmark.min_problems}
    name = "report" if cfg.benchmark.split == "benchmark" else "report_distill"
    return Stage(name, settings, lambda: write_run_report(cfg, run, list(benchmark.settings["models"]), timings),
                 outputs=lambda: run.report_files(cfg.benchmark.split))


def write_run_report(cfg, run: RunFolder, labels: list[str], timings: dict) -> dict:
    """The report of the models ``labels`` from their records, written into the run folder and shown."""
    split, order = cfg.benchmark.split, list(cfg.resolved)
    records = {label: read_batches(run.records(split, label), order) for label in labels}
    variants = [label for label in labels if label != "before"]
    sweep = {t: read_batches(run.records(split, label), order) for label, t in sweep_points(cfg, run, variants).items()}
    frontier = frontier_records(cfg.resolved, records["before"], sweep, cfg.serve_temperature,
                                cfg.benchmark.samples_per_problem)
    notes = read_json(run.overlap) if run.overlap.exists() else []
    result = build_report(cfg.resolved, records, frontier, effective=effective_temperatures(cfg, run, variants),
                          serve_temperature=cfg.serve_temperature, samples_per_problem=cfg.benchmark.samples_per_problem,
                          resamples=cfg.benchmark.bootstrap, seed=cfg.seed, config=str(run.config),
                          timings={k: v for k, v in timings.items() if not k.startswith("report")},
                          trained=training_examples(run, variants), min_problems=cfg.benchmark.min_problems,
                          extra={"split": split, "notes": notes, "filter": filter_audits(cfg, run)},
                          policy="Phase 1A" if cfg.model.adapter else "your model")
    paths = write_report(result, cfg.resolved, run.report_files(split))
    show_report(result)
    console.print("wrote " + ", ".join(str(p) for p in paths))
    return result


def training_examples(run: RunFolder, variants: list[str]) -> dict[str, dict]:
    """Each trained variant's training examples per category, as its training recorded them."""
    return {label: read_json(run.train_log(label)).get("examples", {}) for label in variants
            if run.train_log(label).exists()}


def filter_audits(cfg, run: RunFolder) -> dict[str, dict]:
    """What each data folder's filter kept and rejected (the filter's ``audit.json``), by folder."""
    folders = dict.fromkeys(["data", *(VARIANTS[a].data for a in cfg.ablations if a in VARIANTS)])
    return {folder: read_json(run.audit(folder)) for folder in folders if folder and run.audit(folder).exists()}


def show_report(report: dict) -> None:
    """The metrics table and, where there are trained models, their verdicts and calibration."""
    show(report_table(report))
    if report["verdicts"]:
        show(verdict_table(report))
    if report.get("calibration"):
        show(calibration_table(report))
    for warning in report.get("warnings", []):
        console.print(f"[bold yellow]warning:[/bold yellow] {escape(warning)}", soft_wrap=True)


def show_written(cfg, run: RunFolder) -> None:
    """The tables of the report already on disk (a skipped report stage)."""
    path = run.report_files(cfg.benchmark.split)[0]
    if path.exists():
        show_report(read_json(path))
