"""Resuming training after a checkpoint was torn: a SIGKILL or a full disk while ``checkpoint-N`` is
written leaves it without ``trainer_state.json`` (the Trainer writes that last). A rerun resumes
from the last complete checkpoint instead of failing on the torn one (issue 16, finding E)."""

import errno
import json

import pytest
import torch
from transformers import TrainerState

import cogumi.train as train
from cogumi.cli import parse
from cogumi.run import RunFolder

PAIRS = [("Start with 7. Add 5. What number do you get?", "7 + 5 = 12. The answer is \\boxed{12}."),
         ("What is the capital of Hukavo?", "The answer is Tarmi."),
         ("Write exactly 3 words about a garden, all in uppercase.", "GREEN QUIET GARDEN"),
         ("Today is Monday. The game is in 2 days. On what day is the game?", "The answer is Wednesday.")]


def test_a_torn_last_checkpoint_resumes_from_the_one_before_to_the_uninterrupted_adapter(tmp_path, monkeypatch):
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    rows = [{"instruction": q, "output": a, "metadata": {"training_temp": 0.0}} for q, a in PAIRS * 4]
    for name in ("whole", "torn"):
        (tmp_path / name / "data").mkdir(parents=True)
        (tmp_path / name / "data" / "math_distilled.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _, cfg = parse(["train", "--config", "configs/tiny.yaml", "--train.epochs", "1", "--train.batch_size", "4",
                    "--train.save_steps", "2"])

    def run_training(name: str):
        return train.run_training(cfg.train, cfg.model, RunFolder(tmp_path / name), "after", seed=0,
                                  serve_temperature=0.7, categories=["math"])

    run_training("whole")

    save = TrainerState.save_to_json

    def disk_full_at_step_4(state, path):  # checkpoint-4 gets its weights and optimiser, not its state
        if state.global_step == 4:
            raise OSError(errno.ENOSPC, "No space left on device", path)
        save(state, path)

    monkeypatch.setattr(TrainerState, "save_to_json", disk_full_at_step_4)
    with pytest.raises(OSError, match="No space left"):
        run_training("torn")
    monkeypatch.setattr(TrainerState, "save_to_json", save)
    checkpoints = RunFolder(tmp_path / "torn").checkpoints("after")
    assert (checkpoints / "checkpoint-2" / "trainer_state.json").exists()
    torn = checkpoints / "checkpoint-4"
    assert (torn / "adapter_model.safetensors").exists() and not (torn / "trainer_state.json").exists()

    steps = []

    class CountSteps(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            steps.append(state.global_step)

    make = train.make_trainer
    monkeypatch.setattr(train, "make_trainer", lambda *a, **k: (t := make(*a, **k), t.add_callback(CountSteps()))[0])
    run_training("torn")
    assert steps == [3, 4]  # resumed from checkpoint-2, the last complete one
    whole = load_file(tmp_path / "whole" / "train" / "adapter" / "adapter_model.safetensors")
    resumed = load_file(tmp_path / "torn" / "train" / "adapter" / "adapter_model.safetensors")
    assert whole.keys() == resumed.keys() and all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_only_torn_checkpoints_start_from_the_beginning_with_a_notice(tmp_path, capsys):
    folder = tmp_path / "checkpoints"
    (folder / "checkpoint-2").mkdir(parents=True)
    (folder / "checkpoint-2" / "adapter_model.safetensors").write_bytes(b"")
    (folder / "checkpoint-4").mkdir()
    (folder / "checkpoint-4" / "trainer_state.json").write_text('{"global_step": 4, "log_hist')  # cut mid-write
    assert train._last_checkpoint(folder) is None
    out = " ".join(capsys.readouterr().out.split())
    assert "checkpoint-4 is incomplete" in out and "checkpoint-2 is incomplete" in out and "from the start" in out
    assert not (folder / "checkpoint-4").exists() and not (folder / "checkpoint-2").exists()
    assert train._last_checkpoint(tmp_path / "none") is None


def test_the_last_complete_checkpoint_is_chosen(tmp_path, capsys):
    folder = tmp_path / "checkpoints"
    for step in (2, 10):
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        (folder / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    assert train._last_checkpoint(folder) == str(folder / "checkpoint-10")
    assert capsys.readouterr().out == ""
