"""Every file in configs/ goes through the real parser, so configs never drift from the code."""

from pathlib import Path

import pytest
from support import ROOT

from cogumi.cli import COMMANDS, parse
from cogumi.config import Experiment
from cogumi.models.build_tiny import TinyBuildConfig

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def _command_of(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# cogumi "), f"{path.name} must start with the command that runs it"
    return first.split()[2]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_file_loads_through_the_parser(path):
    command = _command_of(path)
    assert command in COMMANDS
    name, cfg = parse([command, "--config", str(path)])
    assert isinstance(cfg, COMMANDS[name][0])


def test_command_line_overrides_the_file():
    _, cfg = parse(["benchmark", "--config", "configs/tiny.yaml", "--benchmark.samples_per_problem", "3",
                    "--model.adapter", "null"])
    assert isinstance(cfg, Experiment)
    assert cfg.benchmark.samples_per_problem == 3 and cfg.model.adapter is None


@pytest.mark.parametrize("argv, message", [
    (["benchmark", "--model.bsae", "x"], "model.bsae"),
    (["build-tiny", "--noise", '{"math": 0.9}'], "noise must be in [0, 0.5)"),
    (["build-tiny", "--examples", '{"maths": 10}'], "unknown categories ['maths']"),
    (["fit", "--generate.problems", '{"math": -1}'], "generate.problems must not be negative"),
    (["benchmark", "--benchmark.split", "test"], "benchmark.split must be one of"),
], ids=["unknown-key", "bad-noise", "unknown-category", "negative-count", "unknown-split"])
def test_unknown_keys_and_bad_values_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        parse(argv)
    assert message in capsys.readouterr().err


def test_print_config_shows_the_resolved_config(capsys):
    with pytest.raises(SystemExit):
        parse(["build-tiny", "--config", "configs/build_tiny.yaml", "--seed", "7", "--print_config"])
    out = capsys.readouterr().out
    assert "seed: 7" in out and "hidden_size:" in out
    assert isinstance(parse(["build-tiny"])[1], TinyBuildConfig)


NUMERIC_REFUSALS = [
    (["--threads", "-1"], "threads must be > 0"),
    (["--serve_temperature", "0"], "serve_temperature must be > 0"),
    (["--categories", '{"math": {"training_temperature": -0.5}}'], "categories.math.training_temperature must be >= 0"),
    (["--categories", '{"creativity": {"decoding": {"temperature": -1}}}'],
     "categories.creativity.decoding.temperature"),
    (["--categories", '{"reasoning": {"decoding": {"temperature": 0}}}'], "categories.reasoning.decoding"),
    (["--categories", '{"creativity": {"init_args": {"max_similarity": -0.1}}}'],
     "categories.creativity.init_args.max_similarity"),
    (["--categories", '{"knowledge": {"distill": {"path": "kb.jsonl", "limit": 0}}}'], "categories.knowledge.distill"),
    (["--overlap.ngram", "0"], "overlap.ngram must be > 0"),
    (["--generate.batch_size", "0"], "generate.batch_size must be > 0"),
    (["--benchmark.batch_size", "0"], "benchmark.batch_size must be > 0"),
    (["--benchmark.bootstrap", "0"], "benchmark.bootstrap must be > 0"),
    (["--benchmark.max_new_tokens", "0"], "benchmark.max_new_tokens must be > 0"),
    (["--train.gradient_accumulation_steps", "0"], "train.gradient_accumulation_steps must be > 0"),
    (["--train.max_length", "0"], "train.max_length must be > 0"),
    (["--train.batch_size", "0"], "train.batch_size must be > 0"),
    (["--train.tau_min", "-0.1"], "train.tau_min must be > 0"),
    (["--train.lora.rank", "0"], "train.lora.rank must be > 0"),
    (["--train.warmup_ratio", "1"], "train.warmup_ratio must be in [0, 1)"),
    (["--categories", '{"math": {"training_temperature": "hot"}}'], "categories.math.training_temperature must be a"),
    (["--categories", '{"math": {"decodng": {"samples": 1}}}'], "categories.math has unknown settings ['decodng'] "
                                                                  "(did you mean decoding?)"),
]


@pytest.mark.parametrize("argv, key", NUMERIC_REFUSALS, ids=[message.split()[0] for _, message in NUMERIC_REFUSALS])
@pytest.mark.parametrize("command", ["fit", "plan"])
def test_every_numeric_setting_is_refused_at_parse_time_naming_its_key(command, argv, key, capsys):
    with pytest.raises(SystemExit) as stop:
        parse([command, "--config", "configs/tiny.yaml", *argv])
    assert stop.value.code == 2
    assert key in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "expected"), [
    ("fpu sse avx2 fma", "float32"),  # bf16 would run emulated: far slower than float32
    ("fpu avx2 avx512f avx512_bf16", "bfloat16"),
    ("fpu avx2 amx_bf16 amx_tile amx_int8", "bfloat16"),
    ("", "float32"),
])
def test_the_fast_dtype_is_bf16_only_on_a_cpu_that_computes_it_natively(flags, expected):
    from cogumi.models.dtype import fast_dtype

    dtype, why = fast_dtype(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    assert dtype == expected and why


def test_model_dtype_fast_resolves_to_a_concrete_dtype_that_the_run_records():
    from cogumi.config import ModelConfig
    from cogumi.models.dtype import fast_dtype

    assert ModelConfig(dtype="fast").dtype == fast_dtype()[0] in ("float32", "bfloat16")
    with pytest.raises(ValueError, match="model.dtype must be one of .*fast"):
        ModelConfig(dtype="quick")
