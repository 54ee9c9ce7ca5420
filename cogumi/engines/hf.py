"""The HF engine: transformers' ``generate`` in this process, in static batches (the pure core,
``generate``, is what the tests and ``cogumi perf`` drive directly).

Prompts are rendered with the model's chat template, sorted by length, left-padded and decoded
with a KV cache; each sequence stops at its own end-of-turn token.
"""

from __future__ import annotations

import inspect
from typing import ClassVar

from cogumi.engines.base import DEFAULT_DECODING, Engine, completion, offset_seed, render_prompts, stop_ids
from cogumi.models.load import load_variant
from cogumi.types import Completion, Decoding


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


def _cache_kwarg(model) -> str:
    """The KV-cache argument's name (``cache`` in recent transformers, ``past_key_values`` before)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def shared_prefix_cache(model, ids, mask, copies: int):
    """Prefill every prompt but its last token once, then repeat the KV cache ``copies`` times, so
    ``copies`` continuations share one prefill instead of each paying for its own."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)  # as generate numbers left-padded rows
    model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1], use_cache=True,
          **{_cache_kwarg(model): cache})
    cache.batch_repeat_interleave(copies)
    return cache


def generate(model, tokenizer, prompts: list[str], decoding: Decoding, *, batch_size: int = 32,
             seed: int = 0, share_prefix: bool = True) -> list[list[Completion]]:
    """``decoding.samples`` completions for each user prompt, in the order of ``prompts``.

    Sampling is seeded per batch, so the same prompts, seed and batch size give the same samples.
    With ``share_prefix`` the samples of a prompt share one prefill of it (``shared_prefix_cache``);
    without, each sample prefills it again (``num_return_sequences``).
    """
    import torch

    with torch.inference_mode():
        return _generate(model, tokenizer, prompts, decoding, batch_size, seed, share_prefix)


def _generate(model, tokenizer, prompts, decoding, batch_size, seed, share_prefix):
    import torch

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
            torch.manual_seed(offset_seed(seed, start))
        out = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=decoding.max_new_tokens,
            do_sample=sampling, temperature=decoding.temperature if sampling else None, top_p=None, top_k=None,
            eos_token_id=stop, pad_token_id=pad, **expand)
        new = out[:, width:].cpu()
        for row, tokens in enumerate(new.tolist()):
            results[chunk[row // decoding.samples]].append(completion(tokenizer, tokens, stop))
    return results


class HfEngine(Engine):
    """The model loaded in this process, as every stage builds it (``cogumi.models.load.load_variant``)."""

    name: ClassVar[str] = "hf"
    perf_labels: ClassVar[tuple[str, ...]] = ("HF engine", "generate stage")

    def __init__(self, model, tokenizer):
        super().__init__(tokenizer)
        self.model = self.module = model

    @classmethod
    def open(cls, cfg, run, label: str) -> HfEngine:
        return cls(*load_variant(cfg.model, run, label))

    def generate(self, prompts, decoding, *, seed, batch_size):
        return generate(self.model, self.tokenizer, prompts, decoding, batch_size=batch_size, seed=seed)

    def batch_sizes(self, problems, decodings, section, cfg) -> dict[str, int]:
        """``section.batch_size``, or what fits ``generate.memory_budget_gb`` for each category's policy."""
        budget = getattr(section, "memory_budget_gb", None)
        if budget is None:
            return super().batch_sizes(problems, decodings, section, cfg)
        sizes = {}
        for name, policy in decodings.items():
            lengths = [len(self.tokenizer(p.prompt)["input_ids"]) for p in problems if p.category == name]
            sizes[name] = batch_size_for(self.model, max(lengths, default=1) + 16, policy.max_new_tokens,
                                         policy.samples, budget, most=section.batch_size)
        return sizes

    @classmethod
    def batch_size(cls, section, cfg) -> int | None:
        return None if getattr(section, "memory_budget_gb", None) is not None else section.batch_size

    @classmethod
    def settings(cls, cfg) -> dict:
        return {}  # runs made before engines could be chosen keep their fingerprints
