"""The generation engine: batched output equals one-at-a-time output; shared-prefix sampling equals
the expanded form."""

import pytest
import torch

from cogumi.engines.hf import batch_size_for, generate
from cogumi.models.load import LlamaDims, build_llama
from cogumi.types import Decoding
from cogumi.world import make_split

DIMS = LlamaDims(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=256)


@pytest.fixture(scope="module")
def model(tokenizer):
    model = build_llama(DIMS, tokenizer, seed=0).eval()
    with torch.no_grad():  # sharpen the random model so that greedy paths are not decided by float noise
        model.lm_head.weight.mul_(4)
    return model


def _prompts(n):
    # different lengths, so the batch really is left-padded
    return [p.prompt for c in ("math", "knowledge", "instruction") for p in make_split(c, "benchmark", n, 0)]


def test_batched_greedy_equals_one_prompt_at_a_time(model, tokenizer):
    prompts = _prompts(4)
    batched = generate(model, tokenizer, prompts, Decoding(0.0, 1, 12), batch_size=len(prompts))
    single = [generate(model, tokenizer, [p], Decoding(0.0, 1, 12), batch_size=1)[0] for p in prompts]
    assert len({len(tokenizer(p)["input_ids"]) for p in prompts}) > 1
    assert [c[0].text for c in batched] == [c[0].text for c in single]
    assert [c[0].tokens for c in batched] == [c[0].tokens for c in single]


def test_shared_prefix_sampling_equals_the_expanded_form(model, tokenizer):
    prompts = _prompts(3)
    shared = generate(model, tokenizer, prompts, Decoding(1.0, 5, 10), batch_size=4, seed=7, share_prefix=True)
    expanded = generate(model, tokenizer, prompts, Decoding(1.0, 5, 10), batch_size=4, seed=7, share_prefix=False)
    assert [[c.text for c in g] for g in shared] == [[c.text for c in g] for g in expanded]
    assert all(len(g) == 5 for g in shared)
    assert len({c.text for g in shared for c in g}) > len(prompts)  # the samples really differ


def test_sampling_is_seeded(model, tokenizer):
    prompts = _prompts(2)
    first = generate(model, tokenizer, prompts, Decoding(1.0, 3, 8), seed=1)
    assert generate(model, tokenizer, prompts, Decoding(1.0, 3, 8), seed=1) == first
    assert generate(model, tokenizer, prompts, Decoding(1.0, 3, 8), seed=2) != first


def test_batch_size_follows_the_memory_budget(model):
    small = batch_size_for(model, prompt_tokens=100, new_tokens=100, samples=10, budget_gb=0.01)
    assert 1 <= small < batch_size_for(model, prompt_tokens=100, new_tokens=100, samples=1, budget_gb=0.01)
    assert batch_size_for(model, 100, 100, 10, budget_gb=0.02) >= 2 * small - 1
    assert batch_size_for(model, 100, 100, 1, budget_gb=100.0, most=64) == 64
    assert batch_size_for(model, 100, 100, 1, budget_gb=1e-9) == 1
