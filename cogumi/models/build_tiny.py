"""Rebuild the tiny world's checkpoint: tokenizer, base model, and the imperfect "Phase 1A" LoRA.

The base is trained on clean worked solutions (an "instruct" model of the tiny world); the Phase 1A
adapter is then trained on solutions with deliberate mistakes, so that the merged model still
solves most problems greedily but answers inconsistently when sampled, as the seed model does. The
mistakes are of two kinds: independent slips at rate ``noise``, which lower the sampled accuracy
but leave the right answer the most likely, and, on each misconception family, a wrong rule in a
set share of the examples, which makes the most likely answer wrong where sampling still finds the
right one some of the time.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cogumi.console import Meter, console
from cogumi.files import write_json
from cogumi.models.load import LlamaDims
from cogumi.types import Problem
from cogumi.world import CATEGORIES, check_categories, draw_pretrain, in_misconception_family, misconception_of, respond
from cogumi.world.knowledge import fact_prompts


def _default_noise() -> dict[str, float]:
    # a code answer has one or two decisions and a reasoning answer one or two steps, so they slip more
    # often per decision than math for sampling at 0.7 to lose as much
    return {"math": 0.25, "code": 0.4, "reasoning": 0.3, "creativity": 0.15, "knowledge": 0.15, "instruction": 0.2}


def _default_misconception() -> dict[str, float]:
    return {"math": 0.65, "code": 0.65, "reasoning": 0.65}


def _default_counts() -> dict[str, int]:
    return {"math": 60000, "code": 24000, "reasoning": 18000, "creativity": 4000, "knowledge": 4000, "instruction": 16000}


@dataclass
class TinyBuildConfig:
    """How the tiny checkpoint is built. The defaults rebuild the shipped ``checkpoints/tiny``."""

    output_dir: str = "checkpoints/tiny"
    """Folder that receives base/, phase1a/ and build.json."""
    seed: int = 0
    """Seed for problem sampling, initialisation and batch order."""
    examples: dict[str, int] = field(default_factory=_default_counts)
    """Training examples per category, drawn afresh from the pretrain split (a problem may recur,
    worded anew)."""
    fact_repeats: int = 40
    """Times the base sees each fact of the knowledge world, in its own wording."""
    noise: dict[str, float] = field(default_factory=_default_noise)
    """Rate of independent slips per category in the Phase 1A training data."""
    misconception: dict[str, float] = field(default_factory=_default_misconception)
    """Share of a category's misconception-family examples whose Phase 1A response follows the wrong
    rule (exactly this share, rounded); above 0.5 the Phase 1A model is wrong there when greedy."""
    dims: LlamaDims = field(default_factory=lambda: LlamaDims(hidden_size=128, intermediate_size=384,
                                                              num_attention_heads=4, num_key_value_heads=2))
    """Model dimensions."""
    vocab_size: int = 1024
    """BPE vocabulary size, special tokens included."""
    base_steps: int = 7000
    """Optimiser steps of full training for the base model."""
    adapter_steps: int = 1500
    """Optimiser steps of LoRA training for the Phase 1A adapter."""
    batch_size: int = 16
    """Sequences per optimiser step."""
    base_lr: float = 3e-3
    """Peak learning rate for the base (cosine decay after a short warm-up)."""
    adapter_lr: float = 1e-3
    """Peak learning rate for the Phase 1A adapter."""
    lora_rank: int = 16
    """Rank of the Phase 1A adapter."""
    threads: int = 2
    """CPU threads for torch."""

    def __post_init__(self) -> None:
        for name in ("examples", "noise", "misconception"):
            check_categories(getattr(self, name), name)
        bad = {c: v for c, v in self.noise.items() if not 0 <= v < 0.5}
        if bad:
            raise ValueError(f"noise must be in [0, 0.5) so the right answer stays the most likely; got {bad}")
        without = sorted(c for c in self.misconception if misconception_of(c) is None)
        if without:
            raise ValueError(f"misconception names {without}, which have no misconception family; "
                             f"use {[c for c in CATEGORIES if misconception_of(c)]}")
        bad = {c: v for c, v in self.misconception.items() if not 0 <= v <= 1}
        if bad:
            raise ValueError(f"misconception shares must be in [0, 1]; got {bad}")
        if self.base_steps < 1 or self.adapter_steps < 1 or self.batch_size < 1:
            raise ValueError("base_steps, adapter_steps and batch_size must be positive")


@dataclass
class TrainingData:
    """What the base and the Phase 1A adapter are trained on."""

    clean: list[tuple[str, str]]
    """(prompt, response) pairs for the base: right answers, and every fact in the base's wording."""
    problems: list[Problem]
    """The problems of the Phase 1A data, in order."""
    noisy: list[str]
    """The Phase 1A response to each of ``problems``: slips, and the wrong rule where drawn."""
    wrong_rule: list[bool]
    """Whether each of ``problems`` was answered by its category's wrong rule."""

    def misconception_counts(self) -> dict[str, dict[str, int]]:
        """Per category with a misconception: its family's examples and how many follow the wrong rule."""
        counts: dict[str, dict[str, int]] = {}
        for problem, wrong in zip(self.problems, self.wrong_rule):
            if in_misconception_family(problem):
                row = counts.setdefault(problem.category, {"family": 0, "wrong_rule": 0})
                row["family"] += 1
                row["wrong_rule"] += wrong
        return counts


def _wrong_rule_draws(problems: list[Problem], shares: dict[str, float], rng: random.Random) -> list[bool]:
    """Exactly ``round(share * n)`` of each family's ``n`` examples, chosen at random, take the wrong rule."""
    wrong = [False] * len(problems)
    for category, share in sorted(shares.items()):
        members = [i for i, p in enumerate(problems) if p.category == category and in_misconception_family(p)]
        for i in rng.sample(members, round(share * len(members))):
            wrong[i] = True
    return wrong


def training_data(cfg: TinyBuildConfig) -> TrainingData:
    """The base's clean data and the Phase 1A adapter's noisy data, reproducibly from ``cfg.seed``."""
    rng = random.Random(cfg.seed)
    problems = [p for c in CATEGORIES for p in draw_pretrain(c, cfg.examples.get(c, 0), cfg.seed)]
    clean = [(p.prompt, respond(p, rng)) for p in problems] + fact_prompts() * cfg.fact_repeats
    wrong = _wrong_rule_draws(problems, cfg.misconception, rng)
    noisy = [respond(p, rng, cfg.noise.get(p.category, 0.0), misconception=float(w)) for p, w in zip(problems, wrong)]
    return TrainingData(clean, problems, noisy, wrong)


def _encode(tokenizer, prompt: str, response: str) -> tuple[list[int], list[int]]:
    prefix = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                           tokenize=False)
    prompt_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(response + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    return prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids


def _batches(examples: list[tuple[list[int], list[int]]], batch_size: int, pad_id: int, rng: random.Random):
    """Endless batches of similar-length sequences, right-padded; labels -100 on prompt and padding."""
    import torch

    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    while True:
        rng.shuffle(chunks)
        for chunk in chunks:
            width = max(len(examples[i][0]) for i in chunk)
            ids = torch.full((len(chunk), width), pad_id)
            labels = torch.full((len(chunk), width), -100)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                x, y = examples[i]
                ids[row, :len(x)], labels[row, :len(y)], mask[row, :len(x)] = torch.tensor(x), torch.tensor(y), 1
            yield ids, labels, mask


def train_steps(model, examples, steps: int, lr: float, batch_size: int, pad_id: int, seed: int, label: str) -> float:
    """AdamW with warm-up and cosine decay over ``steps``; returns the mean loss of the last 50 steps."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    batches = _batches(examples, batch_size, pad_id, random.Random(seed))
    model.train()
    losses: list[float] = []
    with Meter(label, steps, "steps") as meter:
        for step in range(steps):
            ids, labels, mask = next(batches)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            recent = sum(losses[-20:]) / len(losses[-20:])
            meter.advance(1, note=f"loss {recent:.3f}")
    model.eval()
    return sum(losses[-50:]) / len(losses[-50:])


def build(cfg: TinyBuildConfig) -> Path:
    """Build tokenizer, base and Phase 1A adapter into ``cfg.output_dir``; returns that folder."""
    import torch
    from peft import LoraConfig, get_peft_model

    from cogumi.models.load import build_llama
    from cogumi.models.tokenizer import build_tokenizer

    torch.set_num_threads(cfg.threads)
    started = time.perf_counter()
    out = Path(cfg.output_dir)
    data = training_data(cfg)
    clean, noisy = data.clean, list(zip((p.prompt for p in data.problems), data.noisy))
    console.print(f"{len(data.problems)} pretrain examples: {len(clean)} clean and {len(noisy)} noisy")

    corpus = [f"{q}\n{a}" for q, a in clean]
    tokenizer = build_tokenizer(corpus, cfg.vocab_size)
    model = build_llama(cfg.dims, tokenizer, cfg.seed)
    console.print(f"base model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")
    pad = tokenizer.pad_token_id
    base_loss = train_steps(model, [_encode(tokenizer, q, a) for q, a in clean], cfg.base_steps,
                            cfg.base_lr, cfg.batch_size, pad, cfg.seed, "base")
    model.save_pretrained(out / "base")
    tokenizer.save_pretrained(out / "base")

    lora = LoraConfig(r=cfg.lora_rank, lora_alpha=2 * cfg.lora_rank, lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    torch.manual_seed(cfg.seed + 1)  # LoRA's A matrices start random
    peft_model = get_peft_model(model, lora)
    adapter_loss = train_steps(peft_model, [_encode(tokenizer, q, a) for q, a in noisy], cfg.adapter_steps,
                               cfg.adapter_lr, cfg.batch_size, pad, cfg.seed + 1, "phase1a adapter")
    peft_model.save_pretrained(out / "phase1a")
    record = {"config": asdict(cfg), "base_final_loss": base_loss, "adapter_final_loss": adapter_loss,
              "examples": {"clean": len(clean), "noisy": len(noisy)},
              "misconception_examples": data.misconception_counts(),
              "seconds": round(time.perf_counter() - started, 1), "torch": torch.__version__}
    write_json(out / "build.json", record)
    console.print(f"built {out} in {record['seconds']}s (base loss {base_loss:.3f}, adapter loss {adapter_loss:.3f})")
    return out
