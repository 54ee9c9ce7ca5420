"""Every file in configs/ goes through the real parser, so configs never drift from the code."""

from pathlib import Path

import pytest

from cogumi.build_tiny import TinyBuildConfig
from cogumi.cli import COMMANDS, parse
from cogumi.config import Experiment

CONFIGS = sorted(Path(__file__).parents[1].joinpath("configs").glob("*.yaml"))


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
