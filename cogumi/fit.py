"""The experiment: generate -> filter -> train -> benchmark -> report, each stage reading the previous
stage's files from the run directory. The orchestrator runs no loop itself; a stage that finished
is recorded in ``timings.json`` and skipped on a rerun, a stage that was cut short resumes.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from cogumi.console import console, show
from cogumi.files import check_fingerprint, write_json
from cogumi.generate import barrier, is_main, read_rows

PACKAGES = ("cogumi", "torch", "transformers", "peft", "trl", "lightning", "torchmetrics", "math-verify",
            "bitsandbytes", "jsonargparse")
# Settings that do not change results, so a rerun may differ in them.
NEUTRAL = ("threads", "output_dir")


def versions() -> dict[str, str | None]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def save_run_config(cfg, out: Path) -> None:
    """The resolved config and package versions beside the results; a rerun with other settings is
    refused rather than mixed into the same directory."""
    if is_main():
        settings = {k: v for k, v in asdict(cfg).items() if k not in NEUTRAL}
        check_fingerprint(out / "config.json", settings)
        write_json(out / "versions.json", versions())


def adapter_dirs(cfg) -> dict[str, Path]:
    """The trained adapters of this run, by model variant."""
    out = Path(cfg.output_dir)
    dirs = {"after": out / "train" / "adapter"}
    if cfg.ablation:
        dirs["ablation"] = out / "train_plain" / "adapter"
    return dirs


def benchmark_models(cfg) -> dict[str, list[dict]]:
    """Benchmark the Phase 1A model ("before") and every trained variant whose adapter exists."""
    from cogumi.benchmark import benchmark_problems, results_dir, run_benchmark, settings_of
    from cogumi.models import add_adapter, load_policy

    out = results_dir(cfg)
    if is_main():
        check_fingerprint(out / "settings.json", {**settings_of(cfg.benchmark, cfg.serve_temperature, cfg.seed),
                                                  "data": asdict(cfg.data)})
    problems = benchmark_problems(cfg, cfg.benchmark.split)
    variants = {"before": None, **{k: v for k, v in adapter_dirs(cfg).items() if v.exists()}}
    records = {}
    for label, adapter in variants.items():
        console.print(f"benchmark: {label}" + (f" ({adapter})" if adapter else f" ({cfg.model.adapter or cfg.model.base})"))
        model, tokenizer = load_policy(cfg.model.base, cfg.model.adapter, load_in_4bit=cfg.model.load_in_4bit,
                                       dtype=cfg.model.dtype)
        if adapter is not None:
            model = add_adapter(model, str(adapter))
        records[label] = run_benchmark(model, tokenizer, problems, cfg.benchmark, cfg.serve_temperature, cfg.seed,
                                       out / f"{label}.jsonl")
        del model
    return records


def report(cfg, records: dict[str, list[dict]], timings: dict) -> dict:
    from cogumi.benchmark import report_dir
    from cogumi.report import build_report, report_table, write_report

    out = Path(cfg.output_dir)
    overlap = out / "problems" / "overlap.json"
    notes = json.loads(overlap.read_text()) if overlap.exists() else []
    result = build_report(records, serve_temperature=cfg.serve_temperature,
                          samples_per_problem=cfg.benchmark.samples_per_problem, resamples=cfg.benchmark.bootstrap,
                          seed=cfg.seed, config=str(out / "config.json"), timings=timings,
                          extra={"split": cfg.benchmark.split, "notes": notes})
    paths = write_report(result, report_dir(cfg))
    show(report_table(result))
    console.print("wrote " + ", ".join(str(p) for p in paths))
    return result


class Stages:
    """Runs named stages once each, recording how long each took in ``timings.json``."""

    def __init__(self, out: Path):
        self.path = out / "timings.json"
        self.timings: dict[str, float] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def run(self, name: str, work) -> None:
        if name in self.timings:
            console.print(f"[dim]{name}: done earlier ({self.timings[name]:.1f}s), skipped[/dim]")
            return
        console.rule(name)
        started = time.perf_counter()
        work()
        self.timings[name] = round(time.perf_counter() - started, 1)
        if is_main():
            write_json(self.path, self.timings)
        barrier()


def fit(cfg) -> dict:
    """Run (or resume) the whole experiment of ``cfg``; returns the report."""
    from cogumi.distill import generate_and_filter
    from cogumi.train import run_training

    from cogumi.plan import preflight

    problems = preflight(cfg)
    if problems:
        raise ValueError("the run cannot start; `cogumi plan` shows the whole plan:\n  " + "\n  ".join(problems))
    out = Path(cfg.output_dir)
    save_run_config(cfg, out)
    stages = Stages(out)
    stages.run("generate", lambda: generate_and_filter(cfg))
    stages.run("train", lambda: run_training(cfg, out / "train"))
    if cfg.ablation:
        plain = replace(cfg.train, temperature_scaling=False)
        stages.run("train_plain", lambda: run_training(cfg, out / "train_plain", plain))
    records: dict[str, list[dict]] = {}
    stages.run("benchmark", lambda: records.update(benchmark_models(cfg)))
    if not is_main():
        return {}
    if not records:  # benchmarked earlier: read the records back from disk
        from cogumi.benchmark import results_dir

        labels = ["before", *adapter_dirs(cfg)]
        records = {label: read_rows(results_dir(cfg) / f"{label}.jsonl") for label in labels}
    return report(cfg, records, stages.timings)
