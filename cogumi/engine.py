"""Batched generation: the pure core that the generate and benchmark stages drive.

Prompts are rendered with the model's chat template, sorted by length, left-padded and decoded
with a KV cache; each sequence stops at its own end-of-turn token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cogumi.chat import extract_response


@dataclass
class Decoding:
    """How one category is decoded."""

    temperature: float = 0.0
    """0 means greedy (``do_sample=False``); otherwise the sampling temperature."""
    samples: int = 1
    """Completions per prompt (1 for greedy)."""
    max_new_tokens: int = 96
    """Generation stops here if no end-of-turn token came first."""

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 is greedy), got {self.temperature}")
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")
        if self.temperature == 0 and self.samples != 1:
            raise ValueError("greedy decoding (temperature 0) gives one sample per prompt; set samples: 1")


@dataclass(frozen=True)
class Completion:
    text: str
    """The assistant's response, cut at end-of-turn."""
    finished: bool
    """True when the model ended its turn itself (not cut by max_new_tokens)."""
    tokens: int
    """Generated tokens, the end-of-turn token included."""


def render_prompts(tokenizer, prompts: list[str]) -> list[str]:
    return [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
            for p in prompts]


def _stop_ids(model, tokenizer) -> list[int]:
    ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    return sorted(set(ids) | {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|eot_id|>")} - {None})


@torch.inference_mode()
def generate(model, tokenizer, prompts: list[str], decoding: Decoding, *, batch_size: int = 32,
             seed: int = 0) -> list[list[Completion]]:
    """``decoding.samples`` completions for each user prompt, in the order of ``prompts``.

    Sampling is seeded per batch, so the same prompts, seed and batch size give the same samples.
    """
    rendered = render_prompts(tokenizer, prompts)
    encoded = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in rendered]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    stop = _stop_ids(model, tokenizer)
    pad = tokenizer.pad_token_id
    device = next(model.parameters()).device
    results: list[list[Completion]] = [[] for _ in prompts]
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        width = max(len(encoded[i]) for i in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, i in enumerate(chunk):
            ids[row, width - len(encoded[i]):] = torch.tensor(encoded[i])
            mask[row, width - len(encoded[i]):] = 1
        sampling = decoding.temperature > 0
        if sampling:
            torch.manual_seed(seed * 1_000_003 + start)
        out = model.generate(
            input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=decoding.max_new_tokens,
            do_sample=sampling, temperature=decoding.temperature if sampling else None, top_p=None, top_k=None,
            num_return_sequences=decoding.samples, eos_token_id=stop, pad_token_id=pad)
        new = out[:, width:].cpu()
        for row, tokens in enumerate(new.tolist()):
            ended = next((k for k, t in enumerate(tokens) if t in stop), None)
            kept = tokens if ended is None else tokens[:ended + 1]
            text = extract_response(tokenizer.decode(kept, skip_special_tokens=False))
            results[chunk[row // decoding.samples]].append(Completion(text, ended is not None, len(kept)))
    return results
