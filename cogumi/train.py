"""Train stage: TRL SFT of a new LoRA on the distilled data, with a per-category training temperature.

The pure core is ``scaled_cross_entropy``: the cross-entropy of ``softmax(logits * tau / T_serve)``
against each completion token, ``tau`` being the example's own training temperature (docs/design.md,
"The training temperature"). ``TemperatureSFTTrainer`` changes nothing in TRL's
``SFTTrainer`` but the loss; ``TemperatureCollator`` carries each example's ``tau`` to it.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import TrainerCallback
from trl import SFTConfig, SFTTrainer
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from cogumi.config import ModelConfig, TrainConfig
from cogumi.console import Meter, console
from cogumi.files import write_json
from cogumi.run import RunFolder

IGNORE = -100
FINAL_NORM = "model.norm"  # Llama's norm before the LM head


def scaled_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, scale: torch.Tensor,
                         num_items: torch.Tensor | int | None = None) -> torch.Tensor:
    """Causal-LM cross-entropy of ``softmax(logits * scale)`` against the next token.

    ``labels`` are the unshifted input ids with ``-100`` where no loss is taken; ``scale`` is one
    factor per sequence ``(batch,)`` or per token ``(batch, seq)``. The sum is divided by
    ``num_items`` (the trainer's count over a whole accumulated step) or by the batch's own count.
    """
    if scale.dim() == 1:
        scale = scale[:, None].expand_as(labels)
    logits = logits[:, :-1].float() * scale[:, 1:, None].to(torch.float32)
    targets = labels[:, 1:]
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE,
                           reduction="sum")
    count = num_items if num_items is not None else (targets != IGNORE).sum()
    return loss / torch.as_tensor(count, device=loss.device).clamp(min=1)


def decoupled_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, scale: torch.Tensor, tau_scale: torch.Tensor,
                            num_items: torch.Tensor | int | None = None) -> torch.Tensor:
    """Plain cross-entropy of the unscaled model (``logits / scale``, through which no gradient
    reaches ``scale``) plus the temperature-scaled cross-entropy of ``scale`` alone on those logits,
    detached (``tau_scale``: tau / serve_temperature per token). The LoRA then learns the completions
    at full strength, as plain SFT does, and the scale learns how sharp to make them."""
    unscaled = logits / scale  # d(scale * l / scale) / d(scale) is 0: the LoRA's term leaves the scale alone
    plain = scaled_cross_entropy(unscaled, labels, torch.ones_like(tau_scale), num_items)
    sharp = scaled_cross_entropy(unscaled.detach() * scale, labels, tau_scale, num_items)
    return plain + sharp


def teacher_cross_entropy(logits: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, tau: torch.Tensor,
                          serve_temperature: float, tau_min: float,
                          num_items: torch.Tensor | int | None = None) -> torch.Tensor:
    """Cross-entropy of the student sampled at ``serve_temperature`` against the teacher (Phase 1A)
    at each token's training temperature ``tau``: ``softmax(teacher / tau)``, or the teacher's argmax
    where ``tau`` is below ``tau_min`` (Phase 1A's greedy choice). Taken on the completion tokens
    (``labels`` not -100), next-token shifted like ``scaled_cross_entropy``."""
    mask = labels[:, 1:] != IGNORE
    student = logits[:, :-1][mask].float() / serve_temperature
    target_logits = teacher[:, :-1][mask].float()
    taus = tau[:, 1:][mask].float()[:, None]
    greedy = F.one_hot(target_logits.argmax(-1), target_logits.size(-1)).float()
    soft = torch.softmax(target_logits / taus.clamp(min=tau_min), dim=-1)
    target = torch.where(taus < tau_min, greedy, soft)
    loss = -(target * torch.log_softmax(student, dim=-1)).sum()
    count = num_items if num_items is not None else mask.sum()
    return loss / torch.as_tensor(count, device=loss.device).clamp(min=1)


def sharpness_cross_entropy(unscaled: torch.Tensor, sharpened: torch.Tensor, teacher: torch.Tensor,
                             labels: torch.Tensor, tau: torch.Tensor, serve_temperature: float, tau_min: float,
                             num_items: torch.Tensor | int | None = None) -> torch.Tensor:
    """The LoRA learns the kept completions by plain cross-entropy of ``unscaled`` (the logits through
    the original final norm); the learned final norm, per hidden dimension, learns each token's
    sharpness from ``sharpened`` (its logits on the LoRA's hidden states, detached): where tau is at
    ``tau_min`` (answers) the kept token sharpened to tau, where above (creative writing) Phase 1A's
    distribution at tau, both seen at ``serve_temperature``."""
    exact = tau <= tau_min  # training_examples floors tau at tau_min
    loss = scaled_cross_entropy(unscaled, labels, torch.ones_like(tau), num_items)
    answers = torch.where(exact, labels, IGNORE)
    loss = loss + scaled_cross_entropy(sharpened, answers, tau / serve_temperature, num_items)
    writing = torch.where(exact, IGNORE, labels)
    if (writing != IGNORE).any():
        loss = loss + teacher_cross_entropy(sharpened, teacher, writing, tau, serve_temperature, tau_min, num_items)
    return loss


@dataclass
class TemperatureCollator(DataCollatorForLanguageModeling):
    """TRL's collator plus ``tau``: each token carries its example's training temperature."""

    def torch_call(self, examples: list[dict]) -> dict:
        batch = super().torch_call(examples)
        taus = [float(example["tau"]) for example in examples]
        if self.padding_free:
            lengths = [len(example["input_ids"]) for example in examples]
            per_token = torch.repeat_interleave(torch.tensor(taus), torch.tensor(lengths))
            width = batch["input_ids"].size(1)
            batch["tau"] = F.pad(per_token, (0, width - per_token.numel()), value=1.0)[None]
        else:
            batch["tau"] = torch.tensor(taus)[:, None].expand_as(batch["input_ids"]).contiguous()
        return batch


class TemperatureSFTTrainer(SFTTrainer):
    """``SFTTrainer`` whose loss is the temperature-scaled cross-entropy; nothing else changes.

    With ``temperature_scaling`` false it is TRL's own loss, so the ablation differs in that alone.
    """

    def __init__(self, *args, serve_temperature: float, tau_min: float, temperature_scaling: bool = True,
                 loss: str = "scaled", **kwargs):
        super().__init__(*args, **kwargs)
        self.serve_temperature, self.tau_min, self.temperature_scaling = serve_temperature, tau_min, temperature_scaling
        self.loss = loss  # one of config.LOSSES

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if "tau" not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, "tau"]

    def _norm_views(self, model) -> tuple[torch.Tensor, torch.Tensor]:
        """The logits through the original final norm, and through the learned one on a detached
        input (so that only the norm learns from them)."""
        inner = self.accelerator.unwrap_model(model)
        head = inner.get_output_embeddings()
        return (head(_final_norm_wrapper(inner).original_module(self._normed)),
                head(_final_norm_copy(inner)(self._normed.detach())))

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        tau = inputs.pop("tau")
        if not self.temperature_scaling:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        labels = inputs.pop("labels")
        if self.loss == "sharpness":  # the final norm's input, for _norm_views
            wrapper = _final_norm_wrapper(self.accelerator.unwrap_model(model))
            handle = wrapper.register_forward_hook(lambda module, args, out: setattr(self, "_normed", args[0]))
        outputs = model(**inputs, use_cache=False)
        if self.loss == "sharpness":
            handle.remove()
        if self.loss in ("teacher", "sharpness"):  # Phase 1A is the model with its new adapter switched off
            with torch.no_grad(), self.accelerator.unwrap_model(model).disable_adapter():
                teacher = model(**inputs, use_cache=False).logits
        if self.loss == "sharpness":
            unscaled, sharpened = self._norm_views(model)
            loss = sharpness_cross_entropy(unscaled, sharpened, teacher, labels, tau, self.serve_temperature,
                                            self.tau_min, num_items_in_batch)
        elif self.loss == "teacher":
            loss = teacher_cross_entropy(outputs.logits, teacher, labels, tau, self.serve_temperature, self.tau_min,
                                         num_items_in_batch)
        elif self.loss == "decoupled":
            loss = decoupled_cross_entropy(outputs.logits, labels, logit_scale(self.accelerator.unwrap_model(model)),
                                           tau.clamp(min=self.tau_min) / self.serve_temperature, num_items_in_batch)
        else:
            scale = tau.clamp(min=self.tau_min) / self.serve_temperature
            loss = scaled_cross_entropy(outputs.logits, labels, scale, num_items_in_batch)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes  # DDP averages gradients; the count spans every rank
        mode = "train" if model.training else "eval"
        with torch.no_grad():
            mask = labels[:, 1:] != IGNORE
            hits = (outputs.logits[:, :-1].argmax(-1) == labels[:, 1:]) & mask
            self._metrics[mode]["mean_token_accuracy"].append((hits.sum() / mask.sum().clamp(min=1)).item())
        return (loss, outputs) if return_outputs else loss


def _loss_name(cfg: TrainConfig) -> str:
    if not cfg.temperature_scaling:
        return "plain SFT"
    return {"teacher": "distilled from Phase 1A at each tau", "decoupled": "plain SFT, sharpened by the logit scale alone",
            "scaled": "temperature-scaled SFT",
            "sharpness": "plain SFT, sharpened per hidden dimension of the final norm (creative writing: to Phase 1A at tau)"}[cfg.loss]


def training_examples(run: RunFolder, categories: list[str], tau_min: float, data: str = "data") -> list[dict]:
    """Prompt-completion rows for TRL, each with its ``tau`` (the category's training temperature,
    floored at ``tau_min``), read from ``<data>/<category>_distilled.jsonl``."""
    rows = []
    for category in categories:
        path = run.distilled(category, data)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; run `cogumi generate` with the same config first")
        with path.open() as f:
            for number, line in enumerate(f, 1):
                example = json.loads(line)
                try:
                    tau = max(float(example["metadata"]["training_temp"]), tau_min)
                    rows.append({"prompt": [{"role": "user", "content": example["instruction"]}],
                                 "completion": [{"role": "assistant", "content": example["output"]}],
                                 "tau": tau, "category": category})
                except (KeyError, TypeError, ValueError) as error:
                    raise ValueError(f"{path}:{number}: not a distilled example ({error!r}); "
                                     "expected instruction, output and metadata.training_temp") from error
    if not rows:
        raise ValueError(f"no distilled examples in {run.root / data} for {categories}; the filter kept nothing to train on")
    return rows


def sft_config(cfg: TrainConfig, checkpoints: Path, seed: int, bf16: bool) -> SFTConfig:
    return SFTConfig(
        output_dir=str(checkpoints), per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs, lr_scheduler_type="cosine", warmup_steps=cfg.warmup_ratio,
        # padding-free batches come from TemperatureCollator (TRL refuses its own flag with a custom collator)
        max_length=cfg.max_length, truncation_mode="keep_start", padding_free=False,
        completion_only_loss=True, train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        gradient_checkpointing=cfg.gradient_checkpointing, logging_steps=cfg.logging_steps, save_strategy="steps",
        save_steps=cfg.save_steps, save_total_limit=1, seed=seed, data_seed=seed, bf16=bf16,
        report_to="none", dataset_num_proc=None, disable_tqdm=True, use_cpu=not torch.cuda.is_available())


def make_trainer(model, tokenizer, rows: list[dict], cfg: TrainConfig, checkpoints: Path, seed: int,
                 serve_temperature: float, bf16: bool = False, quantization_config=None,
                 label: str = "train") -> TemperatureSFTTrainer:
    """The configured trainer over ``rows``; ``model`` is the merged Phase 1A model or its path."""
    from datasets import Dataset
    from peft import LoraConfig

    lora = LoraConfig(r=cfg.lora.rank, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=list(cfg.lora.target_modules), task_type="CAUSAL_LM",
                      modules_to_save=[FINAL_NORM] if cfg.logit_scale else None)
    trainer = TemperatureSFTTrainer(
        model=model, args=sft_config(cfg, checkpoints, seed, bf16), train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer, peft_config=lora, quantization_config=quantization_config,
        data_collator=TemperatureCollator(pad_token_id=tokenizer.pad_token_id, padding_free=cfg.padding_free),
        serve_temperature=serve_temperature, tau_min=cfg.tau_min, temperature_scaling=cfg.temperature_scaling,
        loss=cfg.loss)
    trainer.optimizer = _optimizer(trainer.model, cfg)  # the Trainer schedules it and checkpoints its state
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the loss goes to the progress display instead of raw dicts
    trainer.add_callback(TrainProgress(label))
    return trainer


class TrainProgress(TrainerCallback):
    """The train stage's one progress display: optimiser steps, the latest loss, and an ETA."""

    def __init__(self, label: str):
        self.label, self.meter = label, None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.meter = Meter(self.label, state.max_steps, "steps").__enter__()
            self.meter.advance(state.global_step, note="(resumed)" if state.global_step else "")

    def on_step_end(self, args, state, control, **kwargs):
        if self.meter:
            self.meter.advance(1)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.meter and logs and "loss" in logs:
            self.meter.note = f"loss {logs['loss']:.3f}"

    def on_train_end(self, args, state, control, **kwargs):
        if self.meter:
            self.meter.__exit__()
            self.meter = None


class UniformScale(torch.nn.Module):
    """Parametrizes a weight as ``frozen weight * exp(log_scale)``: one learned scalar, or one per
    entry of the weight (``shape``)."""

    def __init__(self, shape: tuple = ()):
        super().__init__()
        self.log_scale = torch.nn.Parameter(torch.zeros(shape))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.log_scale.exp().to(weight.dtype)


def _final_norm_wrapper(model) -> torch.nn.Module:
    """The PEFT model's final norm: PEFT's ``modules_to_save`` wrapper where the adapter has a copy."""
    return model.get_submodule("base_model.model." + FINAL_NORM)


def _final_norm_copy(model) -> torch.nn.Module | None:
    """The adapter's own trainable copy of the final norm (PEFT's ``modules_to_save``); None where
    the adapter has none (``train.logit_scale`` off)."""
    wrapper = _final_norm_wrapper(model)
    if not hasattr(wrapper, "modules_to_save"):
        return None
    return wrapper.modules_to_save[wrapper.active_adapter if isinstance(wrapper.active_adapter, str)
                                   else wrapper.active_adapter[0]]


def _scale_parametrization(model) -> UniformScale | None:
    """The single learned scale on the norm copy's weight, or None where none is learned."""
    from torch.nn.utils import parametrize

    norm = _final_norm_copy(model)
    return norm.parametrizations.weight[0] if norm is not None and parametrize.is_parametrized(norm, "weight") else None


def logit_scale(model) -> torch.Tensor:
    """The learned factor on the logits, as a tensor in the graph (1 where none is learned)."""
    found = _scale_parametrization(model)
    return torch.ones(()) if found is None else found.log_scale.exp()


def learn_logit_scale(model, per_dimension: bool = False) -> torch.nn.Parameter:
    """Make the final norm's copy learn a single scale (or, ``per_dimension``, one per hidden
    dimension); returns that parameter."""
    from torch.nn.utils import parametrize

    norm = _final_norm_copy(model)
    parametrize.register_parametrization(norm, "weight", UniformScale(tuple(norm.weight.shape) if per_dimension else ()))
    norm.parametrizations.weight.original.requires_grad_(False)
    return norm.parametrizations.weight[0].log_scale


def bake_logit_scale(model) -> float:
    """Fold the learned scale into the norm copy's weight, so the adapter saves as plain PEFT
    weights; returns the scale."""
    from torch.nn.utils import parametrize

    if _scale_parametrization(model) is None:
        return 1.0
    scale = logit_scale(model).mean().item()
    parametrize.remove_parametrizations(_final_norm_copy(model), "weight", leave_parametrized=True)
    return scale


def _optimizer(model, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with the LoRA matrices at ``learning_rate`` and the logit scale at its own rate."""
    groups = [{"params": [p for n, p in model.named_parameters() if p.requires_grad and "lora_" in n],
               "lr": cfg.learning_rate}]
    if cfg.logit_scale:
        groups.append({"params": [learn_logit_scale(model, cfg.logit_scale_per_dimension)],
                       "lr": cfg.logit_scale_learning_rate})
    return torch.optim.AdamW(groups, weight_decay=0.0)


def _complete(checkpoint: Path) -> bool:
    """Whether the Trainer finished writing ``checkpoint``: it writes ``trainer_state.json`` last, so
    a save cut by a kill or a full disk leaves it missing or cut short."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return True


def _last_checkpoint(folder: Path) -> str | None:
    """The newest complete ``checkpoint-N`` in ``folder``, or None to train from the start. A newer
    one that is incomplete is removed with a notice (the Trainer would write into it again)."""
    found = sorted((p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name[11:].isdigit()),
                   key=lambda p: int(p.name[11:])) if folder.is_dir() else []
    while found and not _complete(found[-1]):
        torn = found.pop()
        console.print(f"{torn} is incomplete (no readable trainer_state.json: its save was cut short); removing it "
                      f"and resuming from {found[-1].name if found else 'the start'}", soft_wrap=True)
        shutil.rmtree(torn, ignore_errors=True)  # every rank may try; the first one wins
    return str(found[-1]) if found else None


def run_training(cfg: TrainConfig, model_cfg: ModelConfig, run: RunFolder, variant: str, *, seed: int,
                 serve_temperature: float, categories: list[str], data: str = "data",
                 budget_of: str | None = None) -> Path:
    """Train the new LoRA of ``variant`` on the examples in folder ``data`` into its adapter folder;
    resumes from the last checkpoint and does nothing when the adapter is already complete. With
    ``budget_of`` (another data folder), the epochs are scaled so that training sees as many
    examples as ``train.epochs`` passes over that folder would. Returns the adapter folder."""
    from dataclasses import replace

    from cogumi.models import load_variant

    adapter_dir = run.adapter(variant)
    if (adapter_dir / "train_log.json").exists():
        console.print(f"{adapter_dir} is complete")
        return adapter_dir
    rows = training_examples(run, categories, cfg.tau_min, data)
    if budget_of is not None and budget_of != data:
        budget = cfg.epochs * len(training_examples(run, categories, cfg.tau_min, budget_of))
        cfg = replace(cfg, epochs=budget / len(rows))
    counts = {c: sum(r["category"] == c for r in rows) for c in categories}
    console.print(f"training a LoRA on {len(rows)} examples {counts}"
                  f" ({_loss_name(cfg)})")
    started = time.perf_counter()
    # the start point is the very model that generate and the benchmark call "before" (QLoRA on 4-bit)
    model, tokenizer = load_variant(model_cfg, run, "before")
    trainer = make_trainer(model, tokenizer, rows, cfg, run.checkpoints(variant), seed, serve_temperature,
                           bf16=model_cfg.dtype == "bfloat16", label=run.train_dir(variant).name)
    trainer.train(resume_from_checkpoint=_last_checkpoint(run.checkpoints(variant)))
    scale = bake_logit_scale(trainer.model)
    if trainer.is_world_process_zero():
        trainer.model.save_pretrained(adapter_dir)
        log = {"examples": counts, "logit_scale": round(scale, 4), "seconds": round(time.perf_counter() - started, 1),
               "epochs": cfg.epochs, "steps": trainer.state.global_step,
               "settings": asdict(cfg), "serve_temperature": serve_temperature,
               "history": trainer.state.log_history}
        write_json(adapter_dir / "train_log.json", log)
        console.print(f"saved the new LoRA to {adapter_dir} in {log['seconds']}s")
    trainer.accelerator.wait_for_everyone()
    return adapter_dir


def clear_training(run: RunFolder, variant: str) -> None:
    """Forget a variant's adapter and checkpoints (its settings changed)."""
    shutil.rmtree(run.train_dir(variant), ignore_errors=True)
