"""The ``cogumi`` command: one subcommand per stage, each configured by YAML plus overrides."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

from jsonargparse import ActionConfigFile, ArgumentParser
from rich.console import Console

from cogumi.build_tiny import TinyBuildConfig, build
from cogumi.config import Experiment

console = Console()


def run_build_tiny(cfg: TinyBuildConfig) -> None:
    """Rebuild the tiny checkpoint (tokenizer, base, Phase 1A adapter) from its seed."""
    build(cfg)


def _use_threads(cfg: Experiment) -> None:
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)


def run_benchmark(cfg: Experiment) -> None:
    """Measure the policy model's greedy and sampled figures on every category's benchmark split."""
    from cogumi.benchmark import measure, metrics_table, write_json
    from cogumi.models import load_policy

    _use_threads(cfg)
    model, tokenizer = load_policy(cfg.model.base, cfg.model.adapter, load_in_4bit=cfg.model.load_in_4bit,
                                   dtype=cfg.model.dtype)
    results = measure(model, tokenizer, cfg.benchmark)
    console.print(metrics_table(results, f"{cfg.model.adapter or cfg.model.base} on the benchmark split "
                                         f"(sampled at T={cfg.benchmark.serve_temperature}, "
                                         f"{cfg.benchmark.samples_per_problem} samples)"))
    out = Path(cfg.output_dir) / "benchmark_policy.json"
    write_json(out, {"model": asdict(cfg.model), "settings": asdict(cfg.benchmark), "results": results})
    console.print(f"wrote {out}")


def run_generate(cfg: Experiment) -> None:
    """Answer every category's distill split with its decoding policy and filter the answers into
    data/<category>_distilled.jsonl plus data/audit.json. Rerunning resumes."""
    from cogumi.distill import generate_and_filter

    _use_threads(cfg)
    generate_and_filter(cfg)


COMMANDS = {
    "build-tiny": (TinyBuildConfig, run_build_tiny),
    "generate": (Experiment, run_generate),
    "benchmark": (Experiment, run_benchmark),
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
    COMMANDS[name][1](cfg)


if __name__ == "__main__":
    main(sys.argv[1:])
