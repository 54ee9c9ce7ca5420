"""The ``cogumi`` command: one subcommand per stage, each configured by YAML plus overrides."""

from __future__ import annotations

import logging
import os
import sys
import warnings

# What the libraries print that a user of this command can do nothing about. Set before the
# libraries are imported, since bitsandbytes logs while it is being imported.
_LIBRARY_NOISE = (
    r"`is_gradient_checkpointing` is deprecated",  # PEFT and TRL read transformers' old property name
    r"`gradient_checkpointing` is deprecated",  # its replacement is newer than the oldest supported transformers
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # Lightning against newer torch
    r"You have overridden `transfer_batch_to_device`",  # on purpose: batches hold problems, not tensors
    r"Couldn't infer the batch indices",  # the prediction writer does not need them
)
# One progress display per stage is Cogumi's own: no tqdm bars from loading weights or mapping datasets.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
for _message in _LIBRARY_NOISE:
    warnings.filterwarnings("ignore", message=_message)
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)  # CPU 4-bit kernels: never used here


class _NoAdvert(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NoAdvert())

from jsonargparse import ActionConfigFile, ArgumentParser  # noqa: E402
from rich.markup import escape  # noqa: E402

from cogumi.build_tiny import TinyBuildConfig  # noqa: E402
from cogumi.config import Experiment  # noqa: E402
from cogumi.console import console  # noqa: E402
from cogumi.perf import PerfConfig  # noqa: E402


def _use_threads(cfg) -> None:
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)


def _stages_of(command: str):
    def run(cfg: Experiment) -> None:
        from cogumi.fit import run_command

        _use_threads(cfg)
        run_command(cfg, command)
    return run


def run_fit(cfg: Experiment) -> None:
    """The whole experiment: generate -> filter -> train -> benchmark -> report, in output_dir.
    Rerunning resumes where it stopped, skips every stage whose settings are unchanged and redoes
    from the first stage whose settings changed."""
    from cogumi.fit import fit

    _use_threads(cfg)
    fit(cfg)


run_generate = _stages_of("generate")
run_generate.__doc__ = """Answer every category's distill split with its decoding policy and filter the answers into
    data/<category>_distilled.jsonl plus data/audit.json. Rerunning resumes."""
run_train = _stages_of("train")
run_train.__doc__ = """Train the new LoRA (and the plain-SFT ablation when asked) on data/<category>_distilled.jsonl
    with each category's training temperature; saves it to train/adapter. Rerunning resumes."""
run_benchmark = _stages_of("benchmark")
run_benchmark.__doc__ = """Benchmark the Phase 1A model and every up-to-date trained adapter of the run on the held-out
    benchmark split (or, with --benchmark.split distill, on the problems they learned from), then write
    the report (report.json, report.md, report.png). Rerunning resumes."""


def run_plan(cfg: Experiment) -> None:
    """Print what `cogumi fit` would load and run, and every problem found, without loading weights."""
    from cogumi.plan import plan

    if plan(cfg):
        sys.exit(2)


def run_build_tiny(cfg: TinyBuildConfig) -> None:
    """Rebuild the tiny checkpoint (tokenizer, base, Phase 1A adapter) from its seed."""
    from cogumi.build_tiny import build

    build(cfg)


def run_perf(cfg: PerfConfig) -> None:
    """Measure generation and training speed and memory against their baselines."""
    from cogumi.perf import run_perf as measure

    measure(cfg)


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
    from importlib.metadata import version

    parser = ArgumentParser(prog="cogumi", description="Category-specific self-consistency distillation.")
    parser.add_argument("--version", action="version", version=f"cogumi {version('cogumi')}")
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


def _keep_traceback(name: str, cfg):
    """Write the current exception's traceback into the run's logs/ folder; returns the file."""
    import traceback

    if not isinstance(cfg, Experiment):
        return None
    from cogumi.run import RunFolder

    path = RunFolder(cfg.output_dir).logs / f"{name}-error.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(traceback.format_exc())
    except OSError:
        return None
    return path


def main(argv: list[str] | None = None) -> None:
    name, cfg = parse(argv)
    try:
        COMMANDS[name][1](cfg)
    except KeyboardInterrupt:
        resume = "; what finished is on disk and the same command resumes" if isinstance(cfg, Experiment) else ""
        console.print(f"cogumi {name}: interrupted{resume}", soft_wrap=True)
        sys.exit(130)
    except (ValueError, FileNotFoundError, RuntimeError) as error:  # bad input found by a stage: say it plainly
        # a RuntimeError may come from deep in torch (out of memory, a bug): keep where it came from
        kept = _keep_traceback(name, cfg) if isinstance(error, RuntimeError) else None
        console.print(f"[bold red]cogumi {name}: error:[/bold red] {escape(str(error))}"
                      + (f" (traceback in {kept})" if kept else ""), soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
