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


def test_a_wrong_key_on_the_command_line_is_named_with_the_nearest_valid_one(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.parse(["fit", "--config", "configs/tiny.yaml", "--benchmark.bootstrapp", "5"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "unknown key benchmark.bootstrapp" in err and "did you mean benchmark.bootstrap?" in err
    assert "on the command line" in err
    assert "usage:" not in err and len(err.splitlines()) == 1


def test_a_wrong_key_in_the_config_file_names_the_file_and_line(tmp_path, capsys):
    config = tmp_path / "typo.yaml"
    config.write_text("seed: 0\nbenchmark:\n  samples_per_problem: 4\n  bootstrapp: 5\n")
    with pytest.raises(SystemExit):
        cli.parse(["fit", "--config", "configs/tiny.yaml", "--config", str(config)])
    err = capsys.readouterr().err
    assert f"{config}:4: unknown key benchmark.bootstrapp; did you mean benchmark.bootstrap?" in err
    assert "usage:" not in err and len(err.splitlines()) == 1


def test_a_bad_value_in_the_config_file_names_the_file_and_line(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("train:\n  batch_size: 0\n")
    with pytest.raises(SystemExit):
        cli.parse(["train", "--config", str(config)])
    assert f"{config}:2: invalid configuration: train.batch_size must be > 0" in capsys.readouterr().err


def test_a_wrong_command_is_named_with_the_nearest_one(capsys):
    with pytest.raises(SystemExit):
        cli.parse(["fti"])
    err = capsys.readouterr().err
    assert "no command 'fti'; did you mean fit?" in err and "usage:" not in err


def _fit_help(capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        cli.parse(["fit", "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_help_shows_each_key_with_its_field_docstring(capsys):
    out = " ".join(_fit_help(capsys).split())
    for key, doc in [("--train.save_steps", "Optimiser steps between resumable checkpoints"),
                     ("--benchmark.bootstrap", "Bootstrap resamples for the 95% interval"),
                     ("--model.base", "Folder or hub id of the base model"),
                     ("--overlap.ngram", "Word n-gram length of the near-duplicate check")]:
        assert f"{key} {key.split('.')[-1].upper().lstrip('-')} {doc}" in out


def test_no_group_title_is_cut_mid_sentence(capsys):
    """Each group's title is the whole docstring of its field (a title cut at the end of the
    docstring's first line read "... several samples per problem at a:")."""
    from dataclasses import fields, is_dataclass

    from docstring_parser import parse_from_object

    from cogumi.config import Experiment

    def titles(cls):
        docs = {p.arg_name: p.description for p in parse_from_object(cls).params}
        for f in fields(cls):
            if is_dataclass(f.default_factory):
                yield " ".join(docs[f.name].split()).rstrip(".")
                yield from titles(f.default_factory)

    groups = [line[:-1] for line in _fit_help(capsys).splitlines() if line[:1].isupper() and line.endswith(":")]
    expected = list(titles(Experiment))
    assert groups == expected


def test_a_run_folder_in_use_is_one_line_without_a_traceback(monkeypatch, capsys, tmp_path):
    from cogumi.lock import RunInUse

    monkeypatch.setitem(cli.COMMANDS, "fit", (Experiment, _failing(RunInUse(f"{tmp_path} is in use (PID 7)"))))
    with pytest.raises(SystemExit) as stop:
        cli.main(["fit", "--output_dir", str(tmp_path)])
    assert stop.value.code == 2 and "is in use (PID 7)" in capsys.readouterr().out
    assert not (tmp_path / "logs").exists()


def _saving_fails_on_a_full_disk():
    try:
        raise OSError(28, "No space left on device", "runs/x/merged_policy/model.safetensors")
    except OSError as full:
        raise RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull })") from full


@pytest.mark.parametrize("error", [OSError(28, "No space left on device", "/r/raw/math.jsonl"),
                                   RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
                                                "message: \"No space left on device\" })"),
                                   "chained"], ids=["oserror", "safetensors", "chained"])
def test_a_full_disk_is_one_line_that_says_what_to_free_and_that_it_resumes(monkeypatch, capsys, tmp_path, error):
    run = _failing(error) if error != "chained" else (lambda cfg: _saving_fails_on_a_full_disk())
    monkeypatch.setitem(cli.COMMANDS, "generate", (Experiment, run))
    with pytest.raises(SystemExit) as stop:
        cli.main(["generate", "--output_dir", str(tmp_path)])
    assert stop.value.code == 2
    out = capsys.readouterr().out
    assert "the disk is full" in out and f"free space under {tmp_path}" in out.replace("\n", "")
    assert "resumes where it stopped" in out and "Traceback" not in out
    assert not (tmp_path / "logs").exists()
