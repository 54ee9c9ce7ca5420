import json

import pytest
import torch
import torch.nn.functional as F
from support import PAIRS, example_metadata
from trl import SFTTrainer

from cogumi.config import TrainConfig
from cogumi.models.chat import EOT
from cogumi.models.load import LlamaDims, add_adapter, build_llama, load_policy
from cogumi.run import RunFolder
from cogumi.stages.train import training_examples
from cogumi.training.logit_scale import bake_logit_scale
from cogumi.training.losses import scaled_cross_entropy
from cogumi.training.trainer import make_trainer

DIMS = LlamaDims(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=128)
SERVE = 0.7


def _rows(taus):
    return [{"prompt": [{"role": "user", "content": q}], "completion": [{"role": "assistant", "content": a}],
             "tau": tau, "category": "math"} for (q, a), tau in zip(PAIRS, taus)]


def _trainer(tokenizer, tmp_path, taus, scaling=True, model=None, epochs=1, **overrides):
    """A trainer with the scaled loss unless ``overrides`` name another (its formula is what most tests check)."""
    cfg = TrainConfig(temperature_scaling=scaling, batch_size=len(taus), epochs=epochs, logging_steps=1,
                      learning_rate=1e-2, warmup_ratio=0.0, **{"loss": "scaled", **overrides})
    model = model or build_llama(DIMS, tokenizer, seed=0)
    return make_trainer(model, tokenizer, _rows(taus), cfg, tmp_path, seed=0, serve_temperature=SERVE)


def _batch(trainer):
    return dict(next(iter(trainer.get_train_dataloader())))


def _plain_forward_logits(trainer, batch):
    with torch.no_grad():
        return trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def test_at_serve_temperature_the_loss_is_trl_plain_sft_loss(tokenizer, tmp_path):
    trainer = _trainer(tokenizer, tmp_path, [SERVE] * 4)
    batch = _batch(trainer)
    ours = trainer.compute_loss(trainer.model, dict(batch))
    plain = {k: v for k, v in batch.items() if k != "tau"}
    theirs = SFTTrainer.compute_loss(trainer, trainer.model, plain)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_below_serve_temperature_the_loss_is_cross_entropy_of_scaled_logits(tokenizer, tmp_path):
    trainer = _trainer(tokenizer, tmp_path, [0.2] * 4)
    batch = _batch(trainer)
    logits = _plain_forward_logits(trainer, batch) * (0.2 / SERVE)
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), batch["labels"][:, 1:].reshape(-1),
                               ignore_index=-100)
    torch.testing.assert_close(trainer.compute_loss(trainer.model, dict(batch)), expected, atol=1e-5, rtol=1e-5)
    plain = SFTTrainer.compute_loss(trainer, trainer.model, {k: v for k, v in batch.items() if k != "tau"})
    assert abs(plain.item() - expected.item()) > 1e-3  # the scale really changes the loss


def test_a_mixed_batch_scales_each_example_by_its_own_tau(tokenizer, tmp_path):
    taus = [0.1, SERVE, 0.3, SERVE]
    trainer = _trainer(tokenizer, tmp_path, taus)
    batch = _batch(trainer)
    assert sorted(batch["tau"][:, 0].tolist()) == pytest.approx(sorted(taus))
    logits = _plain_forward_logits(trainer, batch)
    total, count = 0.0, 0
    for row in range(logits.size(0)):
        labels = batch["labels"][row, 1:]
        scaled = logits[row, :-1] * (batch["tau"][row, 0] / SERVE)
        total += F.cross_entropy(scaled, labels, ignore_index=-100, reduction="sum")
        count += int((labels != -100).sum())
    torch.testing.assert_close(trainer.compute_loss(trainer.model, dict(batch)), total / count, atol=1e-5, rtol=1e-5)


def test_tau_is_floored_at_tau_min(tokenizer, tmp_path):
    trainer = _trainer(tokenizer, tmp_path, [0.0] * 4, tau_min=0.05)
    batch = _batch(trainer)
    logits = _plain_forward_logits(trainer, batch) * (0.05 / SERVE)
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), batch["labels"][:, 1:].reshape(-1),
                               ignore_index=-100)
    torch.testing.assert_close(trainer.compute_loss(trainer.model, dict(batch)), expected, atol=1e-5, rtol=1e-5)


def test_only_completion_tokens_and_the_end_of_turn_carry_loss(tokenizer, tmp_path):
    trainer = _trainer(tokenizer, tmp_path, [SERVE] * 4)
    batch = _batch(trainer)
    eot = tokenizer.convert_tokens_to_ids(EOT)
    assert eot != tokenizer.pad_token_id
    for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"]):
        ids, labels = ids[mask.bool()].tolist(), labels[mask.bool()].tolist()
        text = tokenizer.decode(ids)
        prompt = next(tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False)
                      for r in _rows([SERVE] * 4) if r["prompt"][0]["content"] in text)
        prompt_len = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        assert all(label == -100 for label in labels[:prompt_len])
        assert labels[prompt_len:] == ids[prompt_len:]
        assert labels[-1] == eot  # the model learns to end its turn
    assert (batch["labels"][~batch["attention_mask"].bool()] == -100).all()  # padding carries no loss


@pytest.mark.parametrize("loss", ["scaled", "decoupled"])
def test_training_changes_only_the_new_lora_and_the_logit_scale(tokenizer, tmp_path, loss):
    trainer = _trainer(tokenizer, tmp_path, [0.1, SERVE, 0.3, SERVE], epochs=30, loss=loss)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()  # long enough for the LoRA to fit the data: only then do sharper logits help
    after = dict(trainer.model.named_parameters())
    learned = [n for n in before if "lora_" in n or "log_scale" in n]
    frozen = [n for n in before if n not in learned]
    assert any("log_scale" in n for n in learned) and frozen
    assert all(torch.equal(before[n], after[n]) for n in frozen)
    assert all(not torch.equal(before[n], after[n]) for n in learned if "lora_A" not in n)
    assert after[next(n for n in learned if "log_scale" in n)].item() > 0  # low tau asks for sharper logits


LOSS_SETTINGS = {"scaled": {"loss": "scaled"}, "decoupled": {"loss": "decoupled"},
                 "sharpness": {"loss": "sharpness", "logit_scale_per_dimension": True}}


@pytest.mark.parametrize("loss", list(LOSS_SETTINGS))
def test_the_saved_adapter_carries_the_learned_scale(tokenizer, tmp_path, loss):
    build_llama(DIMS, tokenizer, seed=0).save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    trainer = _trainer(tokenizer, tmp_path / "run", [0.1, 0.1, 0.1, 0.1], model=load_policy(str(tmp_path / "base"))[0],
                       epochs=30, **LOSS_SETTINGS[loss])
    trainer.train()
    batch = _batch(trainer)
    trained = _plain_forward_logits(trainer, batch)
    assert bake_logit_scale(trainer.model) > 1
    torch.testing.assert_close(_plain_forward_logits(trainer, batch), trained)
    trainer.model.save_pretrained(tmp_path / "adapter")
    base, _ = load_policy(str(tmp_path / "base"))
    loaded = add_adapter(base, str(tmp_path / "adapter"))
    with torch.no_grad():
        logits = loaded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    torch.testing.assert_close(logits, trained, atol=1e-4, rtol=1e-4)


def test_scaled_cross_entropy_accepts_per_token_scales():
    torch.manual_seed(0)
    logits, labels = torch.randn(2, 5, 11), torch.randint(0, 11, (2, 5))
    labels[0, :2] = -100
    per_sequence = scaled_cross_entropy(logits, labels, torch.tensor([0.5, 2.0]))
    per_token = scaled_cross_entropy(logits, labels, torch.tensor([[0.5] * 5, [2.0] * 5]))
    torch.testing.assert_close(per_sequence, per_token)
    assert scaled_cross_entropy(logits, labels, torch.ones(2), num_items=100) < per_sequence


def test_the_losses_on_completion_tokens_alone_equal_cross_entropy_over_the_whole_bf16_batch():
    """Only the completion rows of the logits are turned into fp32; the loss and its gradients are
    those of cross-entropy over every position with the prompt's ignored."""
    from cogumi.training.losses import decoupled_cross_entropy

    torch.manual_seed(0)
    logits = torch.randn(3, 7, 13).bfloat16().requires_grad_()
    labels = torch.randint(0, 13, (3, 7))
    labels[0, :4], labels[1, :2], labels[2, 5:] = -100, -100, -100
    tau_scale, scale = torch.tensor([0.2, 1.0, 1.5])[:, None].expand(3, 7), torch.tensor(1.7, requires_grad=True)

    def reference(values, by):
        full = values[:, :-1].float() * by[:, 1:, None]
        return F.cross_entropy(full.reshape(-1, 13), labels[:, 1:].reshape(-1), ignore_index=-100, reduction="sum")

    count = (labels[:, 1:] != -100).sum()
    unscaled = logits.float() / scale
    want = (reference(unscaled, torch.ones(3, 7)) + reference(unscaled.detach() * scale, tau_scale)) / count
    got = decoupled_cross_entropy(logits, labels, scale, tau_scale)
    torch.testing.assert_close(got, want)
    want_grads = torch.autograd.grad(want, (logits, scale))
    got_grads = torch.autograd.grad(decoupled_cross_entropy(logits, labels, scale, tau_scale), (logits, scale))
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g.float(), w.float())
    torch.testing.assert_close(scaled_cross_entropy(logits, labels, tau_scale), reference(logits, tau_scale) / count)

def test_training_examples_read_tau_from_metadata_and_name_bad_rows(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    good = {"instruction": "q", "output": "a", "metadata": example_metadata(0.0)}
    (data / "math_distilled.jsonl").write_text(json.dumps(good) + "\n")
    (data / "creativity_distilled.jsonl").write_text(json.dumps({**good, "metadata": example_metadata(0.3)}) + "\n")
    rows = training_examples(RunFolder(tmp_path), ["math", "creativity"], tau_min=0.05)
    assert [r["tau"] for r in rows] == [0.05, 0.3]
    (data / "code_distilled.jsonl").write_text(json.dumps({"instruction": "q", "output": "a"}) + "\n")
    with pytest.raises(ValueError, match="code_distilled.jsonl:1"):
        training_examples(RunFolder(tmp_path), ["code"], tau_min=0.05)
    with pytest.raises(FileNotFoundError, match="cogumi generate"):
        training_examples(RunFolder(tmp_path), ["knowledge"], tau_min=0.05)


def test_teacher_loss_targets_phase1a_at_each_tokens_training_temperature():
    from cogumi.training.losses import teacher_cross_entropy

    torch.manual_seed(0)
    student, teacher = torch.randn(2, 5, 11), torch.randn(2, 5, 11)
    labels = torch.tensor([[-100, -100, 3, 4, 5], [-100, 1, 2, 3, -100]])
    tau = torch.tensor([[0.0] * 5, [0.35] * 5])
    loss = teacher_cross_entropy(student, teacher, labels, tau, serve_temperature=0.7, tau_min=0.05)
    mask = labels[:, 1:] != -100
    s, t = student[:, :-1][mask] / 0.7, teacher[:, :-1][mask]
    greedy = torch.nn.functional.cross_entropy(s[:3], t[:3].argmax(-1), reduction="sum")  # tau 0: Phase 1A's argmax
    soft = -(torch.softmax(t[3:] / 0.35, -1) * torch.log_softmax(s[3:], -1)).sum()
    torch.testing.assert_close(loss, (greedy + soft) / 6)  # six completion tokens


def test_teacher_loss_trains_towards_the_model_without_its_new_adapter(tokenizer, tmp_path):
    trainer = _trainer(tokenizer, tmp_path, [SERVE] * 4, loss="teacher", logit_scale=False)
    batch = _batch(trainer)
    inputs = {k: v for k, v in batch.items()}
    loss = trainer.compute_loss(trainer.model, dict(inputs))
    # a fresh LoRA starts at zero: the student is its own teacher, and at tau = T_serve the loss is
    # the teacher's entropy, not the (larger) cross-entropy against the data's tokens
    plain = trainer.compute_loss(trainer.model, {**inputs, "tau": torch.full_like(batch["tau"], SERVE)})
    assert torch.isclose(loss, plain)
    data_loss = _trainer(tokenizer, tmp_path / "b", [SERVE] * 4, loss="scaled", logit_scale=False).compute_loss(
        trainer.model, dict(inputs))
    assert loss < data_loss


def test_without_a_learned_logit_scale_the_adapter_bakes_to_scale_one_and_has_no_norm(tokenizer, tmp_path):
    from safetensors.torch import load_file

    trainer = _trainer(tokenizer, tmp_path, [SERVE] * 4, scaling=False, logit_scale=False)
    trainer.train()
    assert bake_logit_scale(trainer.model) == 1.0
    trainer.model.save_pretrained(tmp_path / "adapter")
    saved = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    assert saved and all("lora_" in k for k in saved)


def test_decoupled_loss_gives_the_lora_plain_gradients_and_the_scale_the_sharpening():
    from cogumi.training.losses import decoupled_cross_entropy

    torch.manual_seed(0)
    base = torch.randn(2, 6, 9, requires_grad=True)  # what the LoRA controls: the unscaled logits
    scale = torch.tensor(3.0, requires_grad=True)
    labels = torch.tensor([[-100, -100, 3, 4, 5, 1], [-100, 1, 2, 3, -100, -100]])
    tau_scale = torch.full(labels.shape, 0.05 / 0.7)
    decoupled_cross_entropy(base * scale, labels, scale, tau_scale).backward()

    plain_base = base.detach().clone().requires_grad_(True)
    scaled_cross_entropy(plain_base, labels, torch.ones_like(tau_scale)).backward()
    torch.testing.assert_close(base.grad, plain_base.grad)  # the LoRA sees plain SFT, not a 0.07-times smaller one
    alone = scale.detach().clone().requires_grad_(True)
    scaled_cross_entropy(base.detach() * alone, labels, tau_scale).backward()
    torch.testing.assert_close(scale.grad, alone.grad)  # the scale sees the sharpening alone


def test_sharpness_loss_gives_the_lora_plain_gradients_and_the_norm_each_tokens_target():
    from cogumi.training.losses import sharpness_cross_entropy, teacher_cross_entropy

    torch.manual_seed(0)
    unscaled = torch.randn(2, 6, 9, requires_grad=True)  # through the original final norm: the LoRA's view
    sharpened = torch.randn(2, 6, 9, requires_grad=True)  # through the learned norm, its input detached
    teacher = torch.randn(2, 6, 9)
    labels = torch.tensor([[-100, -100, 3, 4, 5, 1], [-100, 1, 2, 3, -100, -100]])
    tau = torch.tensor([[0.05] * 6, [0.3] * 6])  # an answer (tau floored at tau_min) and a poem
    count = (labels[:, 1:] != -100).sum()  # the trainer's count of loss tokens over the whole step
    sharpness_cross_entropy(unscaled, sharpened, teacher, labels, tau, 0.7, 0.05, count).backward()

    plain = unscaled.detach().clone().requires_grad_(True)
    scaled_cross_entropy(plain, labels, torch.ones_like(tau), count).backward()
    torch.testing.assert_close(unscaled.grad, plain.grad)  # the LoRA learns both completions as plain SFT
    answer, poem = labels.clone(), labels.clone()
    answer[1], poem[0] = -100, -100
    alone = sharpened.detach().clone().requires_grad_(True)
    (scaled_cross_entropy(alone, answer, tau / 0.7, count)
     + teacher_cross_entropy(alone, teacher, poem, tau, 0.7, 0.05, count)).backward()
    torch.testing.assert_close(sharpened.grad, alone.grad)  # the answer sharpened to tau, the poem to Phase 1A at 0.3
    assert sharpened.grad[1].abs().sum() > 0 and sharpened.grad[0].abs().sum() > 0


def test_sharpness_loss_needs_a_per_dimension_scale():
    with pytest.raises(ValueError, match="logit_scale_per_dimension true"):
        TrainConfig(loss="sharpness")
    assert TrainConfig(loss="sharpness", logit_scale_per_dimension=True).loss == "sharpness"


def test_decoupled_loss_is_the_default_and_needs_one_learned_scale():
    assert TrainConfig().loss == "decoupled"
    with pytest.raises(ValueError, match="decoupled"):
        TrainConfig(logit_scale=False)
    with pytest.raises(ValueError, match="decoupled"):
        TrainConfig(logit_scale_per_dimension=True)
    assert TrainConfig(temperature_scaling=False, logit_scale=False).loss == "decoupled"  # plain SFT: no scale needed


def test_an_example_whose_prompt_fills_max_length_is_left_out_with_a_notice_and_counted_out(tokenizer, capsys):
    from cogumi.stages.train import fitting

    short = {"prompt": [{"role": "user", "content": "What is 2 + 3?"}],
             "completion": [{"role": "assistant", "content": "5"}], "tau": 0.1, "category": "math"}
    long = {**short, "prompt": [{"role": "user", "content": "Tell me more. " * 80}], "category": "knowledge"}
    kept = fitting([short, long, short], tokenizer, 64, "runs/x/data")
    assert kept == [short, short]
    said = capsys.readouterr().out.replace("\n", "")
    assert "1 examples of runs/x/data are left out" in said and "{'knowledge': 1}" in said
    with pytest.raises(ValueError, match=r"every one of the 1 training examples .* raise train.max_length"):
        fitting([long], tokenizer, 64)
