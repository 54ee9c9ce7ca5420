"""Resuming training after a checkpoint was torn: a SIGKILL or a full disk while ``checkpoint-N`` is
written leaves it without ``trainer_state.json`` (the Trainer writes that last). A rerun resumes
from the last complete checkpoint instead of failing on the torn one; a run stopped after a
checkpoint and started again ends with the uninterrupted run's adapter."""

import errno
import json

import pytest
import torch
from support import PAIRS, example_metadata
from transformers import TrainerState

import cogumi.stages.train as train
from cogumi.cli import parse
from cogumi.files import write_jsonl
from cogumi.run import RunFolder


def _trainings(tmp_path, names, epochs=1, save_steps=2):
    """``run_training(name)``: the distilled model of the tiny config trained on the same few examples
    (four steps an epoch) in the run folder ``tmp_path / name``, one per name, saving a checkpoint
    every ``save_steps`` steps."""
    rows = [{"instruction": q, "output": a, "metadata": example_metadata(0.0)} for q, a in PAIRS * 4]
    for name in names:
        RunFolder(tmp_path / name).distilled("math").parent.mkdir(parents=True)
        write_jsonl(RunFolder(tmp_path / name).distilled("math"), rows)
    _, cfg = parse(["train", "--config", "configs/tiny.yaml", "--train.epochs", str(epochs), "--train.batch_size",
                    "4", "--train.save_steps", str(save_steps)])
    return lambda name: train.run_training(cfg.train, cfg.model, RunFolder(tmp_path / name), "after", seed=0,
                                           serve_temperature=0.7, categories=["math"])


def test_a_torn_last_checkpoint_resumes_from_the_one_before_to_the_uninterrupted_adapter(tmp_path, monkeypatch):
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    run_training = _trainings(tmp_path, ("whole", "torn"))
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


@pytest.mark.parametrize("epochs, save_steps, after", [(1, 2, [3, 4]), (2, 5, [6, 7, 8])],
                         ids=["in-the-first-epoch", "in-a-later-epoch"])
def test_training_cut_short_resumes_to_the_uninterrupted_adapter(tmp_path, monkeypatch, epochs, save_steps, after):
    """A run stopped after its first checkpoint and started again ends with the same adapter, with
    the default length-grouped batches too: a later epoch's order comes from the seed and the epoch
    alone, not from whatever the global generator held when the epoch began."""
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    run_training = _trainings(tmp_path, ("whole", "cut"), epochs, save_steps)
    run_training("whole")

    class StopAtFirstCheckpoint(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise KeyboardInterrupt

    make = train.make_trainer
    monkeypatch.setattr(train, "make_trainer", lambda *a, **k: (t := make(*a, **k), t.add_callback(StopAtFirstCheckpoint()))[0])
    with pytest.raises(KeyboardInterrupt):
        run_training("cut")
    assert not (tmp_path / "cut" / "train" / "adapter").exists() and (tmp_path / "cut" / "train" / "checkpoints").is_dir()
    steps = []

    class CountSteps(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            steps.append(state.global_step)

    monkeypatch.setattr(train, "make_trainer", lambda *a, **k: (t := make(*a, **k), t.add_callback(CountSteps()))[0])
    run_training("cut")
    assert steps == after  # the second start trained only the steps after the checkpoint
    whole = load_file(tmp_path / "whole" / "train" / "adapter" / "adapter_model.safetensors")
    resumed = load_file(tmp_path / "cut" / "train" / "adapter" / "adapter_model.safetensors")
    assert whole.keys() == resumed.keys() and all(torch.equal(whole[k], resumed[k]) for k in whole)
