"""Batched generation: the pure core that the generate and benchmark stages drive.

Prompts are rendered with the model's chat template, sorted by length, left-padded and decoded
with a KV cache; each sequence stops at its own end-of-turn token.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import torch

from cogumi.categories.base import Decoding
from cogumi.chat import extract_response

# What a Decoding leaves null: one greedy completion of at most 96 tokens.
DEFAULT_DECODING = Decoding(0.0, 1, 96)


@dataclass(frozen=True)
class Completion:
    text: str
    """The assistant's response, cut at end-of-turn."""
    finished: bool
    """True when the model ended its turn itself (not cut by max_new_tokens)."""
    tokens: int
    """Generated tokens, the end-of-turn token included."""


def batch_size_for(model, prompt_tokens: int, new_tokens: int, samples: int, budget_gb: float,
                   most: int = 1024) -> int:
    """Prompts per batch whose KV cache, prefill activations and last-position logits fit ``budget_gb``
    (each prompt counted with its ``samples`` continuations)."""
    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    width = 2 if getattr(model, "is_loaded_in_4bit", False) else next(model.parameters()).element_size()
    kv_per_token = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * head_dim * width
    per_sample = (prompt_tokens + new_tokens) * kv_per_token + 2 * cfg.vocab_size * 4
    prefill = prompt_tokens * (cfg.intermediate_size + 4 * cfg.hidden_size) * width
    return max(1, min(most, int(budget_gb * 2**30 // (samples * per_sample + prefill))))


def render_prompts(tokenizer, prompts: list[str]) -> list[str]:
    return [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
            for p in prompts]


def stop_ids(model, tokenizer) -> list[int]:
    """The tokens that end a turn: the generation config's end tokens, the tokenizer's, Llama 3's
    ``<|eot_id|>``. ``model`` is a loaded model or a model folder."""
    if isinstance(model, (str, Path)):
        from transformers import AutoConfig, GenerationConfig

        try:
            ids = GenerationConfig.from_pretrained(model).eos_token_id
        except OSError:  # no generation_config.json: what transformers derives from config.json
            ids = GenerationConfig.from_model_config(AutoConfig.from_pretrained(model)).eos_token_id
    else:
        ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    return sorted(set(ids) | {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|eot_id|>")} - {None})


def _cache_kwarg(model) -> str:
    """The KV-cache argument's name (``cache`` in recent transformers, ``past_key_values`` before)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def shared_prefix_cache(model, ids: torch.Tensor, mask: torch.Tensor, copies: int):
    """Prefill every prompt but its last token once, then repeat the KV cache ``copies`` times, so
    ``copies`` continuations share one prefill instead of each paying for its own."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)  # as generate numbers left-padded rows
    model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1], use_cache=True,
          **{_cache_kwarg(model): cache})
    cache.batch_repeat_interleave(copies)
    return cache


@torch.inference_mode()
def generate(model, tokenizer, prompts: list[str], decoding: Decoding, *, batch_size: int = 32,
             seed: int = 0, share_prefix: bool = True) -> list[list[Completion]]:
    """``decoding.samples`` completions for each user prompt, in the order of ``prompts``.

    Sampling is seeded per batch, so the same prompts, seed and batch size give the same samples.
    With ``share_prefix`` the samples of a prompt share one prefill of it (``shared_prefix_cache``);
    without, each sample prefills it again (``num_return_sequences``).
    """
    from cogumi.vllm_engine import VllmEngine

    if isinstance(model, VllmEngine):
        return model.generate(tokenizer, prompts, decoding, seed=seed)
    decoding = decoding.over(DEFAULT_DECODING)
    rendered = render_prompts(tokenizer, prompts)
    encoded = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in rendered]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    stop = stop_ids(model, tokenizer)
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
        ids, mask = ids.to(device), mask.to(device)
        expand: dict = {"num_return_sequences": decoding.samples}
        if share_prefix and decoding.samples > 1:
            expand = {_cache_kwarg(model): shared_prefix_cache(model, ids, mask, decoding.samples)}
            ids, mask = ids.repeat_interleave(decoding.samples, 0), mask.repeat_interleave(decoding.samples, 0)
        if sampling:
            torch.manual_seed(seed * 1_000_003 + start)
        out = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=decoding.max_new_tokens,
            do_sample=sampling, temperature=decoding.temperature if sampling else None, top_p=None, top_k=None,
            eos_token_id=stop, pad_token_id=pad, **expand)
        new = out[:, width:].cpu()
        for row, tokens in enumerate(new.tolist()):
            results[chunk[row // decoding.samples]].append(completion(tokenizer, tokens, stop))
    return results


def completion(tokenizer, tokens: list[int], stop: list[int]) -> Completion:
    """A generated token sequence as a ``Completion``: cut after its first end-of-turn token
    (padding past it dropped), decoded, and the assistant's response taken out."""
    ended = next((k for k, t in enumerate(tokens) if t in stop), None)
    kept = tokens if ended is None else tokens[:ended + 1]
    return Completion(extract_response(tokenizer.decode(kept, skip_special_tokens=False)), ended is not None, len(kept))
