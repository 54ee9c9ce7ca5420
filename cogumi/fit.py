"""The experiment: generate -> filter -> train -> benchmark -> report, each stage reading the previous
stage's files from the run folder. The orchestrator runs no loop itself and owns no stage: it asks
each stage module (``cogumi.stages``) for its stages, says which it will skip and why, and runs
the rest in order under the run's lock.
"""

from __future__ import annotations

from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version

from rich.table import Table

from cogumi.console import console, show
from cogumi.dist import barrier, is_main
from cogumi.files import read_json, read_record, write_json
from cogumi.lock import RunLock
from cogumi.models.checks import check_output_dir, model_settings
from cogumi.plan import preflight
from cogumi.run import RunFolder
from cogumi.stages import benchmark, filter, generate, report, train
from cogumi.stages.contract import Stage, changed_settings, digest, run_stage, status

PACKAGES = ("cogumi", "torch", "transformers", "peft", "trl", "lightning", "torchmetrics", "math-verify",
            "bitsandbytes", "jsonargparse")
# Stage names by command; "train" also trains the ablation when the config asks for it.
COMMAND_STAGES = {"fit": ("generate", "filter", "train", "benchmark", "report"), "generate": ("generate", "filter"),
                  "train": ("train",), "benchmark": ("benchmark", "report")}


def versions() -> dict[str, str | None]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def bind_run(cfg, run: RunFolder) -> None:
    """A run folder belongs to one model: refuse another, naming the setting; record the config and
    versions of this command beside the results."""
    model = asdict(cfg.model)
    if run.binding.exists():
        recorded = read_json(run.binding)["model"]
        if recorded != model:
            key = changed_settings(recorded, model)[0]
            raise ValueError(f"{run.root} holds the results of model.{key} = {recorded.get(key)!r}; this command "
                             f"asks for model.{key} = {model.get(key)!r}. Results of two models never mix in "
                             "one folder: use a new --output_dir for the other model")
    if is_main():
        write_json(run.binding, {"model": model})
        write_json(run.config, asdict(cfg))
        write_json(run.versions, versions())


def plan_stages(cfg, run: RunFolder, command: str, timings: dict) -> list[Stage]:
    """The stages ``command`` runs, with their settings worked out from ``cfg``."""
    generated = generate.stage(cfg, run)
    data = filter.stages(cfg, run, generated)
    trains = {v: train.stage(cfg, run, data, v) for v in cfg.variants}
    if command == "benchmark":  # alone, it measures the trained variants that are up to date
        trains = {v: t for v, t in trains.items() if status(t, run.stage_record(t.name))[0] == "skip"}
    phase1a = "phase1a:" + digest(model_settings(cfg.model))  # what "before" is: the model's own files
    measured = benchmark.stage(cfg, run, {"before": phase1a, **{v: t.digest for v, t in trains.items()}})
    stages = {"generate": [generated], "filter": list(data.values()),
              "train": list(trains.values()) if command != "benchmark" else [], "benchmark": [measured],
              "report": [report.stage(cfg, run, measured, timings)]}
    return [stage for name in COMMAND_STAGES[command] for stage in stages[name]]


def run_command(cfg, command: str) -> None:
    """Run (or resume) the stages of ``command`` on the run folder of ``cfg``."""
    check_output_dir(cfg.output_dir)  # before anything is written there: a folder of Cogumi's own, or new
    run = RunFolder(cfg.output_dir)
    with RunLock(run.lock):
        _run_stages(cfg, run, command)


def _run_stages(cfg, run: RunFolder, command: str) -> None:
    bind_run(cfg, run)
    timings = read_record(run.timings) or {}
    stages = plan_stages(cfg, run, command, timings)
    table = Table(title=f"cogumi {command}: {run.root}")
    for column in ("stage", "action", "why"):
        table.add_column(column)
    for stage in stages:
        action, why = status(stage, run.stage_record(stage.name))
        table.add_row(stage.name, action, why)
    show(table)
    for stage in stages:
        console.rule(stage.name)
        if run_stage(stage, run.stage_record(stage.name), timings, is_main()):
            if is_main():
                write_json(run.timings, timings)
        elif stage.name.startswith("report") and is_main():
            report.show_written(cfg, run)
        barrier()


def fit(cfg) -> None:
    """Run (or resume) the whole experiment of ``cfg``."""
    problems = preflight(cfg)
    if problems:
        raise ValueError("the run cannot start; `cogumi plan` shows the whole plan:\n  " + "\n  ".join(problems))
    run_command(cfg, "fit")
