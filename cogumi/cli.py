"""The ``cogumi`` command: one subcommand per stage, each configured by YAML plus overrides."""

from __future__ import annotations

import sys
from pathlib import Path

from jsonargparse import ActionConfigFile, ArgumentParser
from rich.console import Console
from rich.markup import escape

from cogumi.build_tiny import TinyBuildConfig, build
from cogumi.config import Experiment
from cogumi.perf import PerfConfig, run_perf

console = Console()


def run_build_tiny(cfg: TinyBuildConfig) -> None:
    """Rebuild the tiny checkpoint (tokenizer, base, Phase 1A adapter) from its seed."""
    build(cfg)


def _use_threads(cfg: Experiment) -> None:
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)


def run_benchmark(cfg: Experiment) -> None:
    """Benchmark the Phase 1A model and every trained adapter of the run on the benchmark split,
    then write the report (report.json, report.md, report.png). Rerunning resumes."""
    from cogumi.fit import benchmark_models, report
    from cogumi.generate import is_main

    _use_threads(cfg)
    records = benchmark_models(cfg)
    if is_main():
        report(cfg, records, timings={})


def run_fit(cfg: Experiment) -> None:
    """The whole experiment: generate -> filter -> train -> benchmark -> report, in output_dir.
    Rerunning the same command resumes where it stopped."""
    from cogumi.fit import fit

    _use_threads(cfg)
    fit(cfg)


def run_generate(cfg: Experiment) -> None:
    """Answer every category's distill split with its decoding policy and filter the answers into
    data/<category>_distilled.jsonl plus data/audit.json. Rerunning resumes."""
    from cogumi.distill import generate_and_filter

    _use_threads(cfg)
    generate_and_filter(cfg)


def run_train(cfg: Experiment) -> None:
    """Train a new LoRA on data/<category>_distilled.jsonl with each category's training temperature,
    on the merged Phase 1A model; saves it to train/adapter. Rerunning resumes."""
    from cogumi.train import run_training

    _use_threads(cfg)
    run_training(cfg, Path(cfg.output_dir) / "train")


def run_plan(cfg: Experiment) -> None:
    """Print what `cogumi fit` would load and run, and every problem found, without loading weights."""
    from cogumi.plan import plan

    if plan(cfg):
        sys.exit(2)


COMMANDS = {
    "fit": (Experiment, run_fit),
    "build-tiny": (TinyBuildConfig, run_build_tiny),
    "generate": (Experiment, run_generate),
    "train": (Experiment, run_train),
    "benchmark": (Experiment, run_benchmark),
    "plan": (Experiment, run_plan),
    "perf": (PerfConfig, run_perf),
}


def make_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="cogumi", description="Category-specific self-consistency distillation.")
    subcommands = parser.add_subcommands(dest="command")
    for name, (config_class, runner) in COMMANDS.items():
        sub = ArgumentParser(description=runner.__doc__)
        sub.add_argument("--config", action=ActionConfigFile, help="YAML file with the settings below")
        sub.add_class_arguments(config_class, None, as_group=False)
        subcommands.add_subcommand(name, sub, help=runner.__doc__)
    return parser


def parse(argv: list[str] | None = None):
    """Parse ``argv`` into (command name, validated config object); bad input exits with a message."""
    parser = make_parser()
    namespace = parser.parse_args(argv)
    name = namespace.command
    config_class = COMMANDS[name][0]
    try:
        values = parser.instantiate(namespace)[name]
        fields = {k: v for k, v in vars(values).items() if k != "config" and not k.startswith("__")}
        return name, config_class(**fields)
    except (ValueError, TypeError) as error:
        parser.error(f"{name}: invalid configuration: {error}")
        raise  # parser.error exits; this only tells type checkers so


def main(argv: list[str] | None = None) -> None:
    name, cfg = parse(argv)
    try:
        COMMANDS[name][1](cfg)
    except (ValueError, FileNotFoundError, RuntimeError) as error:  # bad input found by a stage: say it plainly
        console.print(f"[bold red]cogumi {name}: error:[/bold red] {escape(str(error))}", soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
