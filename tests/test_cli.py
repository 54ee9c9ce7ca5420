"""The `cogumi` entry point: how it ends when a stage fails or is interrupted."""

import pytest

from cogumi import cli
from cogumi.config import Experiment


def _failing(error):
    def run(cfg):
        raise error
    return run


def test_an_interrupted_stage_says_it_resumes(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(cli.COMMANDS, "generate", (Experiment, _failing(KeyboardInterrupt())))
    with pytest.raises(SystemExit) as stop:
        cli.main(["generate", "--output_dir", str(tmp_path)])
    assert stop.value.code == 130
    assert "interrupted; what finished is on disk and the same command resumes" in capsys.readouterr().out


def test_a_runtime_error_keeps_its_traceback_in_the_run(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(cli.COMMANDS, "train", (Experiment, _failing(RuntimeError("CUDA out of memory"))))
    with pytest.raises(SystemExit) as stop:
        cli.main(["train", "--output_dir", str(tmp_path)])
    assert stop.value.code == 2
    out = capsys.readouterr().out
    assert "cogumi train: error:" in out and "CUDA out of memory" in out
    kept = tmp_path / "logs" / "train-error.log"
    assert str(kept) in out.replace("\n", "") and "Traceback" in kept.read_text()


def test_bad_input_is_one_line_without_a_traceback(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(cli.COMMANDS, "train", (Experiment, _failing(ValueError("data/math_distilled.jsonl:3: bad row"))))
    with pytest.raises(SystemExit):
        cli.main(["train", "--output_dir", str(tmp_path)])
    assert "data/math_distilled.jsonl:3: bad row" in capsys.readouterr().out
    assert not (tmp_path / "logs").exists()


def test_version(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.startswith("cogumi ")
