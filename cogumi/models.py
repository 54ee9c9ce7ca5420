"""Building and loading policy models: one code path for the tiny checkpoint and for Llama-3.1."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from cogumi.chat import PAD
from cogumi.checks import check_adapter, check_adapter_matches, check_base
from cogumi.config import LlamaDims


def build_llama(dims: LlamaDims, tokenizer: PreTrainedTokenizerBase, seed: int) -> LlamaForCausalLM:
    """A randomly initialised ``LlamaForCausalLM`` whose special-token ids match ``tokenizer``."""
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=dims.hidden_size, intermediate_size=dims.intermediate_size,
        num_hidden_layers=dims.num_hidden_layers, num_attention_heads=dims.num_attention_heads,
        num_key_value_heads=dims.num_key_value_heads, max_position_embeddings=dims.max_position_embeddings,
        tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, rope_theta=10000.0,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def quantization_config():
    """The QLoRA recipe: 4-bit NF4 with double quantisation, computing in bf16 where the GPU has it."""
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute)


def load_policy(base: str, adapter: str | None = None, *, merge: bool = True, load_in_4bit: bool = False,
                dtype: str = "auto", device: str | None = None):
    """Load base + optional LoRA adapter from a local folder or a hub id.

    Args:
        base: folder or hub id of the base model (and its tokenizer, unless the adapter ships one).
        adapter: folder or hub id of a PEFT adapter, or None for the base alone.
        merge: fold the adapter into the base weights (not possible on a 4-bit base).
        load_in_4bit: quantise the base to 4-bit NF4 with bitsandbytes; needs CUDA.
        dtype: "auto", "float32", "bfloat16" or "float16".
        device: where to put the model; None keeps the CPU (or bitsandbytes' placement).

    Returns:
        (model, tokenizer), the model in eval mode; a ``PeftModel`` when an adapter is loaded unmerged.
    """
    if load_in_4bit and not torch.cuda.is_available():
        raise RuntimeError("load_in_4bit needs a CUDA GPU and none is visible; set load_in_4bit: false "
                           "to load in full precision on this machine")
    check_base(base)
    if adapter is not None:
        check_adapter(adapter)
        check_adapter_matches(base, adapter)
    kwargs: dict = {"dtype": dtype if dtype == "auto" else getattr(torch, dtype)}
    if load_in_4bit:
        kwargs["quantization_config"] = quantization_config()
        kwargs["device_map"] = {"": device if device is not None else int(os.environ.get("LOCAL_RANK", 0))}
    model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(base)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
        if merge and not load_in_4bit:
            model = model.merge_and_unload()
    if device is not None and not load_in_4bit:
        model = model.to(device)
    if tokenizer.pad_token_id is None:  # Llama-3.1 ships no pad token but reserves one that is not EOS
        tokenizer.pad_token = PAD if PAD in tokenizer.get_vocab() else tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model.eval(), tokenizer


def add_adapter(model, adapter: str, merge: bool = True):
    """Put a further LoRA (e.g. the distilled one) on an already loaded policy; merged unless on 4-bit."""
    from peft import PeftModel

    check_adapter(adapter)
    model = PeftModel.from_pretrained(model, adapter)
    quantized = getattr(model.base_model.model, "is_loaded_in_4bit", False)
    return (model.merge_and_unload() if merge and not quantized else model).eval()


def load_variant(model_cfg, run, label: str):
    """The model the run calls ``label``: ``"before"`` is the Phase 1A policy, a trained variant
    (``"after"``, ``"ablation"``) that policy with the variant's new adapter. Returns (model, tokenizer)."""
    model, tokenizer = load_policy(model_cfg.base, model_cfg.adapter, load_in_4bit=model_cfg.load_in_4bit,
                                   dtype=model_cfg.dtype)
    if label != "before":
        model = add_adapter(model, str(run.adapter(label)))
    return model, tokenizer


def merged_policy_path(model_cfg, folder: Path) -> Path:
    """Base + Phase 1A adapter merged in full precision and saved once to ``folder`` (for QLoRA,
    which quantises the merged weights); returns ``folder``."""
    if (folder / "config.json").exists():
        return folder
    dtype = "auto" if model_cfg.dtype == "auto" else model_cfg.dtype
    model, tokenizer = load_policy(model_cfg.base, model_cfg.adapter, dtype=dtype)
    tmp = folder.with_name(folder.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.replace(folder)
    return folder
