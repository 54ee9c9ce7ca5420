"""The SFT of a new LoRA with a per-category training temperature: TRL's ``SFTTrainer``, subclassed
for the loss alone (``TemperatureSFTTrainer``, any loss of ``cogumi.training.losses.LOSSES``), a
collator that carries each example's ``tau`` to it, the optimizer with the logit scale at its own
rate, and the trainer's one progress display. The train stage (``cogumi.stages.train``) drives it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback
from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices
from trl import SFTConfig, SFTTrainer
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from cogumi.config import TrainConfig
from cogumi.console import Meter
from cogumi.training.logit_scale import FINAL_NORM, final_norm_copy, final_norm_wrapper, learn_logit_scale, logit_scale
from cogumi.training.losses import IGNORE, LOSSES, LossInputs


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
    """``SFTTrainer`` whose loss is ``loss`` (a name of ``LOSSES``); nothing else changes. With
    ``temperature_scaling`` false it is TRL's own loss, so the ablation differs in that alone."""

    def __init__(self, *args, serve_temperature: float, tau_min: float, temperature_scaling: bool = True,
                 loss: str = TrainConfig.loss, **kwargs):
        super().__init__(*args, **kwargs)
        self.serve_temperature, self.tau_min, self.temperature_scaling = serve_temperature, tau_min, temperature_scaling
        self.loss = LOSSES[loss]
        self.resumed_from, self.length_sampler = None, None

    def train(self, resume_from_checkpoint: str | None = None, **kwargs):
        self.resumed_from = resume_from_checkpoint
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def _get_train_sampler(self, train_dataset=None):
        sampler = super()._get_train_sampler(train_dataset)
        if type(sampler) is LengthGroupedSampler:
            sampler = ResumableLengthGroupedSampler(sampler.batch_size, lengths=sampler.lengths)
            saved = Path(self.resumed_from) / SAMPLER_STATE if isinstance(self.resumed_from, str) else None
            if saved is not None and saved.is_file():
                epoch, state = torch.load(saved, weights_only=True)
                sampler.restored = {int(epoch): state}
        self.length_sampler = sampler
        return sampler

    def _save_rng_state(self, output_dir: str) -> None:  # before trainer_state.json, which completes a checkpoint
        super()._save_rng_state(output_dir)
        drawn = getattr(self.length_sampler, "drawn", None)  # only the length-grouped sampler draws so
        if drawn is not None:
            torch.save([torch.tensor(drawn[0]), drawn[1]], Path(output_dir) / SAMPLER_STATE)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if "tau" not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, "tau"]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        tau = inputs.pop("tau")
        if not self.temperature_scaling:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        labels = inputs.pop("labels")
        inner = self.accelerator.unwrap_model(model)
        if self.loss.needs_norm_views:  # the final norm's input
            seen = {}
            handle = final_norm_wrapper(inner).register_forward_hook(lambda m, args, out: seen.update(normed=args[0]))
        outputs = model(**inputs, use_cache=False)
        given = LossInputs(outputs.logits, labels, tau, self.serve_temperature, self.tau_min, num_items_in_batch)
        if self.loss.needs_norm_views:
            handle.remove()
            head = inner.get_output_embeddings()
            given.unscaled = head(final_norm_wrapper(inner).original_module(seen["normed"]))
            given.sharpened = head(final_norm_copy(inner)(seen["normed"].detach()))  # only the norm learns here
        if self.loss.needs_teacher:  # Phase 1A is the model with its new adapter switched off
            with torch.no_grad(), inner.disable_adapter():
                given.teacher = model(**inputs, use_cache=False).logits
        if self.loss.needs_scale:
            given.scale = logit_scale(inner)
        loss = self.loss.compute(given)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes  # DDP averages gradients; the count spans every rank
        mode = "train" if model.training else "eval"
        with torch.no_grad():
            mask = labels[:, 1:] != IGNORE
            hits = (outputs.logits[:, :-1].argmax(-1) == labels[:, 1:]) & mask
            self._metrics[mode]["mean_token_accuracy"].append((hits.sum() / mask.sum().clamp(min=1)).item())
        return (loss, outputs) if return_outputs else loss


class ResumableLengthGroupedSampler(LengthGroupedSampler):
    """The Trainer's length-grouped order, unchanged, made repeatable on resume. Each epoch's order is
    drawn from the global generator as the epoch begins; a run resumed mid-epoch starts that epoch
    with the generator elsewhere. So the sampler keeps the state its epoch drew from, a checkpoint
    saves it (``SAMPLER_STATE``), and a resumed run draws its first epoch from that state again."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.epoch, self.drawn, self.restored = 0, None, {}

    def set_epoch(self, epoch: int) -> None:  # the Trainer calls it as each epoch begins
        self.epoch = epoch

    def __iter__(self):
        state = self.restored.pop(self.epoch, None)
        self.drawn = (self.epoch, torch.get_rng_state() if state is None else state)
        generator = None if state is None else torch.Generator().set_state(state)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))


SAMPLER_STATE = "sampler_state.pt"


def sft_config(cfg: TrainConfig, checkpoints: Path, seed: int, bf16: bool) -> SFTConfig:
    return SFTConfig(
        output_dir=str(checkpoints), per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs, lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_ratio,  # transformers reads a value below 1 as the share of all steps
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


def _optimizer(model, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with the LoRA matrices at ``learning_rate`` and the logit scale at its own rate."""
    groups = [{"params": [p for n, p in model.named_parameters() if p.requires_grad and "lora_" in n],
               "lr": cfg.learning_rate}]
    if cfg.logit_scale:
        groups.append({"params": [learn_logit_scale(model, cfg.logit_scale_per_dimension)],
                       "lr": cfg.logit_scale_learning_rate})
    return torch.optim.AdamW(groups, weight_decay=0.0)


