"""The experiment: generate -> filter -> train -> benchmark -> report, each stage reading the previous
stage's files from the run folder. The orchestrator runs no loop itself: it works out each stage's
settings, says which stages it will skip and why, and runs the rest (see ``cogumi.stages``).
"""

from __future__ import annotations

from dataclasses import asdict, replace
from importlib.metadata import PackageNotFoundError, version

from rich.table import Table

from cogumi.console import console, show
from cogumi.dist import barrier, is_main
from cogumi.files import read_json, write_json
from cogumi.run import VARIANT_FOLDERS, RunFolder
from cogumi.stages import Stage, changed_settings, run_stage, status

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


def generate_stage(cfg, run: RunFolder) -> Stage:
    from cogumi.generate import category_settings, clear_categories, run_generation, stale_categories

    settings = {"model": asdict(cfg.model), "seed": cfg.seed, "categories": {
        name: category_settings(c, cfg.generate.problems.get(name, 0), cfg.generate.batch_size,
                                cfg.generate.memory_budget_gb) for name, c in cfg.resolved.items()}}
    return Stage("generate", settings, lambda: run_generation(cfg, run),
                 lambda old: clear_categories(run, stale_categories(old, settings)))


def filter_stage(cfg, run: RunFolder, generate: Stage) -> Stage:
    from cogumi.filter import clear_filtered, run_filter

    settings = {"inputs": {"generate": generate.digest},
                "categories": {name: {"options": c.options(), "training_temperature": c.training_temperature}
                               for name, c in cfg.resolved.items()}}
    return Stage("filter", settings, lambda: run_filter(cfg, run), lambda old: clear_filtered(run))


def train_stage(cfg, run: RunFolder, filtered: Stage, variant: str) -> Stage:
    from cogumi.train import clear_training, run_training

    train = cfg.train if variant == "after" else replace(cfg.train, temperature_scaling=False)
    settings = {"inputs": {"filter": filtered.digest}, "model": asdict(cfg.model), "seed": cfg.seed,
                "serve_temperature": cfg.serve_temperature, "train": asdict(train),
                "categories": cfg.trained_categories}
    work = lambda: run_training(train, cfg.model, run, variant, seed=cfg.seed,  # noqa: E731
                                serve_temperature=cfg.serve_temperature, categories=cfg.trained_categories)
    return Stage(VARIANT_FOLDERS[variant], settings, work, lambda old: clear_training(run, variant))


def benchmark_stage(cfg, run: RunFolder, models: dict[str, str]) -> Stage:
    """``models``: label -> what that model is (the Phase 1A model, or a train stage's digest)."""
    from cogumi.batches import remove
    from cogumi.benchmark import run_benchmark

    split = cfg.benchmark.split
    measure = {k: v for k, v in asdict(cfg.benchmark).items() if k != "bootstrap"}
    settings = {"benchmark": measure, "seed": cfg.seed, "serve_temperature": cfg.serve_temperature,
                "data": {name: c.data_settings(split) for name, c in cfg.resolved.items()}, "models": models}

    def clear(old: dict) -> None:
        same_rest = {k: v for k, v in old.items() if k != "models"} == {k: v for k, v in settings.items() if k != "models"}
        for label in old.get("models", {}):
            if not same_rest or old["models"][label] != models.get(label):
                remove(run.records(split, label))

    def work() -> None:
        for label in models:
            run_benchmark(cfg, run, label)

    return Stage("benchmark" if split == "benchmark" else "benchmark_distill", settings, work, clear)


def report_stage(cfg, run: RunFolder, benchmark: Stage, timings: dict) -> Stage:
    settings = {"inputs": {"benchmark": benchmark.digest}, "bootstrap": cfg.benchmark.bootstrap, "seed": cfg.seed}
    name = "report" if cfg.benchmark.split == "benchmark" else "report_distill"
    return Stage(name, settings, lambda: write_run_report(cfg, run, list(benchmark.settings["models"]), timings))


def write_run_report(cfg, run: RunFolder, labels: list[str], timings: dict) -> dict:
    from cogumi.batches import read_batches
    from cogumi.report import build_report, report_table, write_report

    split = cfg.benchmark.split
    records = {label: read_batches(run.records(split, label), list(cfg.resolved)) for label in labels}
    notes = read_json(run.overlap) if run.overlap.exists() else []
    result = build_report(cfg.resolved, records, serve_temperature=cfg.serve_temperature,
                          samples_per_problem=cfg.benchmark.samples_per_problem, resamples=cfg.benchmark.bootstrap,
                          seed=cfg.seed, config=str(run.config), timings={k: v for k, v in timings.items()
                                                                           if k != "report"},
                          extra={"split": split, "notes": notes})
    paths = write_report(result, cfg.resolved, run.report_files(split))
    show(report_table(result, cfg.resolved))
    console.print("wrote " + ", ".join(str(p) for p in paths))
    return result


def plan_stages(cfg, run: RunFolder, command: str, timings: dict) -> list[Stage]:
    """The stages ``command`` runs, with their settings worked out from ``cfg``."""
    generate = generate_stage(cfg, run)
    filtered = filter_stage(cfg, run, generate)
    variants = ["after", "ablation"] if cfg.ablation else ["after"]
    trains = {v: train_stage(cfg, run, filtered, v) for v in variants}
    if command == "benchmark":  # alone, it measures the trained variants that are up to date
        trains = {v: t for v, t in trains.items() if status(t, run.stage_record(t.name))[0] == "skip"}
    benchmark = benchmark_stage(cfg, run, {"before": "phase1a", **{v: t.digest for v, t in trains.items()}})
    stages = {"generate": [generate], "filter": [filtered], "train": list(trains.values()) if command != "benchmark"
              else [], "benchmark": [benchmark], "report": [report_stage(cfg, run, benchmark, timings)]}
    return [stage for name in COMMAND_STAGES[command] for stage in stages[name]]


def run_command(cfg, command: str) -> None:
    """Run (or resume) the stages of ``command`` on the run folder of ``cfg``."""
    run = RunFolder(cfg.output_dir)
    bind_run(cfg, run)
    timings = read_json(run.timings) if run.timings.exists() else {}
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
            _show_report(cfg, run)
        barrier()


def _show_report(cfg, run: RunFolder) -> None:
    from cogumi.report import report_table

    path = run.report_files(cfg.benchmark.split)[0]
    if path.exists():
        show(report_table(read_json(path), cfg.resolved))


def fit(cfg) -> None:
    """Run (or resume) the whole experiment of ``cfg``."""
    from cogumi.plan import preflight

    problems = preflight(cfg)
    if problems:
        raise ValueError("the run cannot start; `cogumi plan` shows the whole plan:\n  " + "\n  ".join(problems))
    run_command(cfg, "fit")
