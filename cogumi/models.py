"""Building and loading policy models: one code path for the tiny checkpoint and for Llama-3.1."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from cogumi.chat import PAD
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase


@dataclass
class LlamaDims:
    """Dimensions of a Llama-architecture model built from scratch."""

    hidden_size: int = 128
    """Width of the residual stream."""
    intermediate_size: int = 384
    """Width of the MLP's hidden layer."""
    num_hidden_layers: int = 4
    """Number of transformer blocks."""
    num_attention_heads: int = 4
    """Number of query heads."""
    num_key_value_heads: int = 2
    """Number of key/value heads (grouped-query attention when fewer than the query heads)."""
    max_position_embeddings: int = 256
    """Longest sequence the model is built for."""


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


def _is_local(path: str) -> bool:
    return Path(path).expanduser().exists()


def _local_folder(path: str, what: str, holds: str) -> Path | None:
    """``path`` as a local folder, or None for a hub id; a name written as a path that does not
    exist is an error."""
    folder = Path(path).expanduser()
    if folder.exists():
        return folder
    if path.startswith((".", "/", "~")):
        raise FileNotFoundError(f"{what} folder {path!r} does not exist; pass the folder that holds {holds}")
    return None


def check_base(base: str) -> None:
    """Fail early when ``base`` names a local folder that is missing or holds no model."""
    folder = _local_folder(base, "base model", "config.json and the weights, or a hub id such as "
                                               "meta-llama/Llama-3.1-8B-Instruct")
    if folder is not None and not (folder / "config.json").exists():
        raise FileNotFoundError(f"base model folder {base!r} has no config.json; it must be the output of "
                                "save_pretrained (or a downloaded hub snapshot)")


def check_adapter(adapter: str) -> None:
    """Fail early, before any weights load, when a local adapter folder is incomplete."""
    folder = _local_folder(adapter, "adapter", "adapter_config.json and adapter_model.safetensors")
    if folder is None:
        return  # a hub id
    missing = [f for f in ("adapter_config.json",) if not (folder / f).exists()]
    weights = [f for f in ("adapter_model.safetensors", "adapter_model.bin") if (folder / f).exists()]
    if missing or not weights:
        raise FileNotFoundError(f"adapter folder {adapter!r} lacks {missing + ([] if weights else ['adapter_model.safetensors'])}; "
                                "it must be the output of PeftModel.save_pretrained")


def check_adapter_matches(base: str, adapter: str) -> None:
    """Fail before loading weights when a local adapter was not trained on ``base``: its recorded
    base model differs by name, or its LoRA shapes do not fit the base's dimensions."""
    import json

    from transformers import AutoConfig

    if not (_is_local(adapter) and _is_local(base)):
        return  # hub ids are checked by PEFT while loading
    recorded = json.loads((Path(adapter) / "adapter_config.json").read_text()).get("base_model_name_or_path")
    config = AutoConfig.from_pretrained(base)
    # a recorded folder that still holds a model is the user's own copy; otherwise compare names
    if recorded and not (Path(recorded) / "config.json").exists() and Path(recorded).name != Path(base).name:
        raise ValueError(f"adapter {adapter!r} was trained on {recorded!r}, not on base {base!r}; "
                         "point model.base at the model the adapter was trained on")
    weights = Path(adapter) / "adapter_model.safetensors"
    if not weights.exists():
        return
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as f:
        for name in f.keys():
            if "lora_A" in name and any(m in name for m in ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")):
                width = f.get_slice(name).get_shape()[1]
                if width != config.hidden_size:
                    raise ValueError(f"adapter {adapter!r} has {name} of input width {width}, but base {base!r} "
                                     f"has hidden_size {config.hidden_size}; it belongs to another model")
            layer = re.search(r"\.layers\.(\d+)\.", name)
            if layer and int(layer.group(1)) >= config.num_hidden_layers:
                raise ValueError(f"adapter {adapter!r} has weights for layer {layer.group(1)}, but base {base!r} has "
                                 f"{config.num_hidden_layers} layers; it belongs to another model")


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
