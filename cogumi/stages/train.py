"""Train stage: a new LoRA on the distilled data of each trained variant (the distilled model and
the ablations, under each training seed), by ``cogumi.training``'s trainer, on the very model that
generate and the benchmark call "before" (QLoRA where it is 4-bit). TRL owns the loop; this module
owns the stage: its fingerprint, its inputs read and checked, resuming from checkpoints, the saved
adapter and its ``train_log.json``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

from cogumi.config import ModelConfig, TrainConfig
from cogumi.console import console
from cogumi.files import write_json
from cogumi.models.checks import model_settings
from cogumi.models.load import load_variant
from cogumi.report.variants import VARIANTS, split_variant
from cogumi.run import RunFolder
from cogumi.stages.contract import Stage
from cogumi.stages.filter import validate_example
from cogumi.training import LOSS_NAMES
from cogumi.training.logit_scale import bake_logit_scale
from cogumi.training.trainer import make_trainer


def stage(cfg, run: RunFolder, data: dict[str, Stage], variant: str) -> Stage:
    """Training ``variant`` ("after", an ablation, or either "@seedN") on its data folder's examples;
    the ablations train on the distilled data's budget (examples seen)."""
    name, seed = split_variant(variant)
    seed = cfg.seed if seed is None else seed
    train = replace(cfg.train, temperature_scaling=False) if name == "plain_sft" else cfg.train
    folder = VARIANTS[name].data
    settings = {"inputs": {"data": data[folder].digest, **({"budget": data["data"].digest} if folder != "data" else {})},
                "model": model_settings(cfg.model), "seed": seed, "serve_temperature": cfg.serve_temperature,
                "train": asdict(train), "categories": cfg.trained_categories}
    work = lambda: run_training(train, cfg.model, run, variant, seed=seed,  # noqa: E731
                                serve_temperature=cfg.serve_temperature, categories=cfg.trained_categories,
                                data=folder, budget_of="data")
    return Stage(run.train_dir(variant).name, settings, work, lambda old: clear_training(run, variant),
                 lambda: [p for p in run.adapter(variant).iterdir() if p.is_file()] if run.adapter(variant).is_dir() else [])


def _loss_name(cfg: TrainConfig) -> str:
    return LOSS_NAMES[cfg.loss] if cfg.temperature_scaling else "plain SFT"


def training_examples(run: RunFolder, categories: list[str], tau_min: float, data: str = "data") -> list[dict]:
    """Prompt-completion rows for TRL, each with its ``tau`` (the category's training temperature,
    floored at ``tau_min``), read from ``<data>/<category>_distilled.jsonl``; every line is checked
    against the distilled-example schema first."""
    rows = []
    for category in categories:
        path = run.distilled(category, data)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; run `cogumi generate` with the same config first")
        with path.open() as f:
            for number, line in enumerate(f, 1):
                where = f"{path}:{number}"
                try:
                    example = json.loads(line)
                except ValueError as error:
                    raise ValueError(f"{where}: not JSON ({error}); delete {path} and rerun `cogumi generate`") from error
                validate_example(example, where)
                rows.append({"prompt": [{"role": "user", "content": example["instruction"]}],
                             "completion": [{"role": "assistant", "content": example["output"]}],
                             "tau": max(float(example["metadata"]["training_temp"]), tau_min), "category": category})
    if not rows:
        raise ValueError(f"no distilled examples in {run.data_dir(data)} for {categories}; the filter kept nothing to train on")
    return rows


def fitting(rows: list[dict], tokenizer, max_length: int, where: Path | None = None) -> list[dict]:
    """The rows that leave some of their answer to learn within ``max_length`` tokens: a prompt
    that alone fills it would be trained on nothing (TRL drops it). Says how many went where
    ``where`` is given; refuses when none is left."""
    lengths = [len(tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=True,
                                                 return_dict=False)) for r in rows]
    kept = [r for r, n in zip(rows, lengths) if n < max_length]
    if not kept:
        raise ValueError(f"every one of the {len(rows)} training examples has a prompt of at least train.max_length "
                         f"({max_length}) tokens (the shortest has {min(lengths)}), so none leaves an answer to "
                         f"learn; raise train.max_length")
    dropped = Counter(r["category"] for r, n in zip(rows, lengths) if n >= max_length)
    if dropped and where is not None:
        console.print(f"notice: {sum(dropped.values())} examples of {where} are left out, their prompt alone filling "
                      f"train.max_length ({max_length} tokens): {dict(dropped)}; raise train.max_length to keep "
                      f"them", soft_wrap=True)
    return kept


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
    adapter_dir = run.adapter(variant)
    if run.train_log(variant).exists():
        console.print(f"{adapter_dir} is complete")
        return adapter_dir
    rows = training_examples(run, categories, cfg.tau_min, data)
    started = time.perf_counter()
    # the start point is the very model that generate and the benchmark call "before" (QLoRA on 4-bit)
    model, tokenizer = load_variant(model_cfg, run, "before")
    rows = fitting(rows, tokenizer, cfg.max_length, run.data_dir(data))
    if budget_of is not None and budget_of != data:
        seen = fitting(training_examples(run, categories, cfg.tau_min, budget_of), tokenizer, cfg.max_length)
        cfg = replace(cfg, epochs=cfg.epochs * len(seen) / len(rows))
    counts = {c: sum(r["category"] == c for r in rows) for c in categories}
    console.print(f"training a LoRA on {len(rows)} examples {counts}"
                  f" ({_loss_name(cfg)})")
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
        write_json(run.train_log(variant), log)
        console.print(f"saved the new LoRA to {adapter_dir} in {log['seconds']}s")
    trainer.accelerator.wait_for_everyone()
    return adapter_dir


def clear_training(run: RunFolder, variant: str) -> None:
    """Forget a variant's adapter and checkpoints (its settings changed)."""
    shutil.rmtree(run.train_dir(variant), ignore_errors=True)
