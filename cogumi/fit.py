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
from cogumi.run import RunFolder
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


def generate_stage(cfg, run: RunFolder, rft: bool = False) -> Stage:
    """Answering the distill problems: with each category's policy, or (``rft``) the rft ablation's."""
    from cogumi.config import engine_batch_size
    from cogumi.generate import category_settings, clear_categories, rft_decodings, run_generation, stale_categories

    decodings = rft_decodings(cfg) if rft else {name: c.decoding for name, c in cfg.resolved.items()}
    raw_of = run.raw_rft if rft else run.raw
    settings = {"model": asdict(cfg.model), "seed": cfg.seed, **engine_settings(cfg.generate.engine, cfg.vllm),
                "categories": {
        name: category_settings(cfg.resolved[name], decoding, cfg.generate.problems.get(name, 0),
                                engine_batch_size(cfg.generate, cfg.vllm), cfg.generate.memory_budget_gb)
        for name, decoding in decodings.items()}}
    return Stage("generate_rft" if rft else "generate", settings,
                 lambda: run_generation(cfg, run, decodings, raw_of, "generate rft" if rft else "generate"),
                 lambda old: clear_categories(run, stale_categories(old, settings), raw_of if rft else None))


def engine_settings(engine: str, vllm) -> dict:
    """What a stage's outputs depend on of its engine (its batch size aside); empty for "hf", so that
    runs made before engines could be chosen keep their fingerprints."""
    if engine == "hf":
        return {}
    return {"engine": engine, "quantization": vllm.quantization, "max_model_len": vllm.max_model_len}


def filter_stages(cfg, run: RunFolder, generate: Stage) -> dict[str, Stage]:
    """The training data of every variant, by data folder (``run.VARIANT_DATA``)."""
    from cogumi.filter import clear_filtered, run_filter, run_rft_filter, run_unverified

    temperatures = {name: c.training_temperature for name, c in cfg.resolved.items()}
    settings = {"inputs": {"generate": generate.digest},
                "categories": {name: {"options": c.options(), "training_temperature": c.training_temperature}
                               for name, c in cfg.resolved.items()}}
    stages = {"data": Stage("filter", settings, lambda: run_filter(cfg, run), lambda old: clear_filtered(run))}
    if "no_verification" in cfg.ablations:
        stages["data_unverified"] = Stage(
            "filter_unverified", {"inputs": {"generate": generate.digest}, "training_temperature": temperatures},
            lambda: run_unverified(cfg, run), lambda old: clear_filtered(run, "data_unverified"))
    if "rft" in cfg.ablations:
        sampled = generate_stage(cfg, run, rft=True)
        stages["generate_rft"] = sampled
        stages["data_rft"] = Stage(
            "filter_rft", {"inputs": {"generate_rft": sampled.digest, "filter": stages["data"].digest},
                           "rft": asdict(cfg.rft)},
            lambda: run_rft_filter(cfg, run), lambda old: clear_filtered(run, "data_rft"))
    return stages


def train_stage(cfg, run: RunFolder, data: dict[str, Stage], variant: str) -> Stage:
    from cogumi.run import VARIANT_DATA, split_variant
    from cogumi.train import clear_training, run_training

    name, seed = split_variant(variant)
    seed = cfg.seed if seed is None else seed
    train = replace(cfg.train, temperature_scaling=False) if name == "plain_sft" else cfg.train
    folder = VARIANT_DATA[name]
    settings = {"inputs": {"data": data[folder].digest, **({"budget": data["data"].digest} if folder != "data" else {})},
                "model": asdict(cfg.model), "seed": seed, "serve_temperature": cfg.serve_temperature,
                "train": asdict(train), "categories": cfg.trained_categories}
    work = lambda: run_training(train, cfg.model, run, variant, seed=seed,  # noqa: E731
                                serve_temperature=cfg.serve_temperature, categories=cfg.trained_categories,
                                data=folder, budget_of="data")
    return Stage(run.train_dir(variant).name, settings, work, lambda old: clear_training(run, variant))


def benchmark_stage(cfg, run: RunFolder, models: dict[str, str]) -> Stage:
    """``models``: label -> what that model is (the Phase 1A model, or a train stage's digest). The
    Phase 1A model is also measured over the temperature sweep and at each trained model's effective
    temperature (``cogumi.frontier``)."""
    import shutil

    from cogumi.benchmark import benchmark_problems, run_benchmark
    from cogumi.config import engine_batch_size
    from cogumi.frontier import sweep_points

    split = cfg.benchmark.split
    measure = {k: v for k, v in asdict(cfg.benchmark).items() if k not in ("bootstrap", "engine")}
    if cfg.benchmark.engine == "vllm":
        measure.update(engine_settings("vllm", cfg.vllm), batch_size=engine_batch_size(cfg.benchmark, cfg.vllm))
    settings = {"benchmark": measure, "seed": cfg.seed, "serve_temperature": cfg.serve_temperature,
                "data": {name: c.data_settings(split) for name, c in cfg.resolved.items()}, "models": models}

    def measured_alike(found: dict) -> dict:
        """What every record depends on: not the models (each has its own file) nor the sweep (each
        temperature has its own file, and one measured is reused whatever else the sweep holds)."""
        return {**{k: v for k, v in found.items() if k != "models"},
                "benchmark": {k: v for k, v in found.get("benchmark", {}).items() if k != "sweep_temperatures"}}

    def clear(old: dict) -> None:
        from cogumi.batches import remove

        if measured_alike(old) != measured_alike(settings):
            shutil.rmtree(run.results_dir(split), ignore_errors=True)
            return
        for label in old.get("models", {}):
            if old["models"][label] != models.get(label):
                remove(run.records(split, label))

    def work() -> None:
        from functools import cache

        from cogumi.models import load_engine, release

        engine = cfg.benchmark.engine
        phase1a = cache(lambda: load_engine(cfg, run, "before", engine))  # loaded once for "before" and the sweep
        load = lambda variant: phase1a() if variant == "before" else load_engine(cfg, run, variant, engine)  # noqa: E731
        problems = benchmark_problems(cfg, split)  # drawn once for every model
        variants = [m for m in models if m != "before"]
        try:  # Phase 1A and its sweep first, then its engine goes: one vLLM engine holds a GPU at a time
            if "before" in models:
                run_benchmark(cfg, run, "before", load=load, problems=problems, keep="before")
            for label, temperature in sweep_points(cfg, run, variants).items():
                run_benchmark(cfg, run, label, temperature=temperature, load=load, problems=problems, keep="before")
        finally:
            if phase1a.cache_info().currsize:
                release(phase1a()[0])
            phase1a.cache_clear()  # each variant then has the device to itself
        for label in variants:
            run_benchmark(cfg, run, label, load=load, problems=problems)

    return Stage("benchmark" if split == "benchmark" else "benchmark_distill", settings, work, clear)


def report_stage(cfg, run: RunFolder, benchmark: Stage, timings: dict) -> Stage:
    settings = {"inputs": {"benchmark": benchmark.digest}, "bootstrap": cfg.benchmark.bootstrap, "seed": cfg.seed}
    name = "report" if cfg.benchmark.split == "benchmark" else "report_distill"
    return Stage(name, settings, lambda: write_run_report(cfg, run, list(benchmark.settings["models"]), timings))


def write_run_report(cfg, run: RunFolder, labels: list[str], timings: dict) -> dict:
    from cogumi.batches import read_batches
    from cogumi.frontier import effective_temperatures, frontier_records, sweep_points
    from cogumi.report import build_report, write_report

    split, order = cfg.benchmark.split, list(cfg.resolved)
    records = {label: read_batches(run.records(split, label), order) for label in labels}
    variants = [label for label in labels if label != "before"]
    sweep = {t: read_batches(run.records(split, label), order) for label, t in sweep_points(cfg, run, variants).items()}
    frontier = frontier_records(records["before"], sweep, cfg.serve_temperature, cfg.benchmark.samples_per_problem)
    notes = read_json(run.overlap) if run.overlap.exists() else []
    result = build_report(cfg.resolved, records, frontier, effective=effective_temperatures(cfg, run, variants),
                          serve_temperature=cfg.serve_temperature, samples_per_problem=cfg.benchmark.samples_per_problem,
                          resamples=cfg.benchmark.bootstrap, seed=cfg.seed, config=str(run.config),
                          timings={k: v for k, v in timings.items() if not k.startswith("report")},
                          extra={"split": split, "notes": notes})
    paths = write_report(result, cfg.resolved, run.report_files(split))
    _show(result)
    console.print("wrote " + ", ".join(str(p) for p in paths))
    return result


def plan_stages(cfg, run: RunFolder, command: str, timings: dict) -> list[Stage]:
    """The stages ``command`` runs, with their settings worked out from ``cfg``."""
    generate = generate_stage(cfg, run)
    data = filter_stages(cfg, run, generate)
    trains = {v: train_stage(cfg, run, data, v) for v in cfg.variants}
    if command == "benchmark":  # alone, it measures the trained variants that are up to date
        trains = {v: t for v, t in trains.items() if status(t, run.stage_record(t.name))[0] == "skip"}
    benchmark = benchmark_stage(cfg, run, {"before": "phase1a", **{v: t.digest for v, t in trains.items()}})
    stages = {"generate": [generate], "filter": list(data.values()),
              "train": list(trains.values()) if command != "benchmark" else [], "benchmark": [benchmark],
              "report": [report_stage(cfg, run, benchmark, timings)]}
    return [stage for name in COMMAND_STAGES[command] for stage in stages[name]]


def run_command(cfg, command: str) -> None:
    """Run (or resume) the stages of ``command`` on the run folder of ``cfg``."""
    from cogumi.lock import RunLock

    run = RunFolder(cfg.output_dir)
    with RunLock(run.lock):
        _run_stages(cfg, run, command)


def _run_stages(cfg, run: RunFolder, command: str) -> None:
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


def _show(report: dict) -> None:
    """The metrics table and, where there are trained models, their verdicts."""
    from cogumi.report import calibration_table, report_table, verdict_table

    show(report_table(report))
    if report["verdicts"]:
        show(verdict_table(report))
    if report.get("calibration"):
        show(calibration_table(report))


def _show_report(cfg, run: RunFolder) -> None:
    path = run.report_files(cfg.benchmark.split)[0]
    if path.exists():
        _show(read_json(path))


def fit(cfg) -> None:
    """Run (or resume) the whole experiment of ``cfg``."""
    from cogumi.plan import preflight

    problems = preflight(cfg)
    if problems:
        raise ValueError("the run cannot start; `cogumi plan` shows the whole plan:\n  " + "\n  ".join(problems))
    run_command(cfg, "fit")
