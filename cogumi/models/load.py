"""Building and loading policy models: one code path for the tiny checkpoint and for Llama-3.1.

Every model a run uses is built by ``load_variant`` on one base: the run's merged policy, base +
Phase 1A merged once in full precision and saved in the run folder (``policy_base``). Generate,
the benchmark's "before", and the training start point load that folder (quantised to NF4 when
``model.load_in_4bit``); a trained variant is that model plus its new adapter, merged into the
weights in full precision and kept unmerged on 4-bit weights. So the model that is trained is the
model that is measured, on a GPU or a CPU alike.

torch and transformers are imported where they are used: ``cogumi plan`` asks ``four_bit_problem``
without loading them.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cogumi.console import console
from cogumi.files import fingerprint, read_record, write_json
from cogumi.models.chat import PAD
from cogumi.models.checks import check_adapter, check_adapter_matches, check_base

FULL_PRECISION = "float32"  # what merges compute in


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


def build_llama(dims: LlamaDims, tokenizer, seed: int):
    """A randomly initialised ``LlamaForCausalLM`` whose special-token ids match ``tokenizer``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

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


def four_bit_problem() -> str | None:
    """Why 4-bit loading cannot run on this machine, or None when it can: bitsandbytes loads NF4
    weights, generates and trains a QLoRA on a CUDA GPU and on the CPU alike."""
    from importlib.util import find_spec

    if find_spec("bitsandbytes") is None:
        return ("model.load_in_4bit needs bitsandbytes, which is not installed here "
                "(pip install 'bitsandbytes>=0.50'); "
                "or set model.load_in_4bit: false to load in full precision")
    return None


def quantization_config():
    """The QLoRA recipe: 4-bit NF4 with double quantisation, computing in bf16 (on the CPU too);
    fp16 only on a GPU without bf16."""
    import torch
    from transformers import BitsAndBytesConfig

    old_gpu = torch.cuda.is_available() and not torch.cuda.is_bf16_supported()
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.float16 if old_gpu else torch.bfloat16)


def _device_map(device: str | None) -> dict:
    """Where bitsandbytes puts a 4-bit model: ``device``, else this rank's GPU, else the CPU."""
    import torch

    if device is None:
        device = int(os.environ.get("LOCAL_RANK", 0)) if torch.cuda.is_available() else "cpu"
    return {"": device}


def load_policy(base: str, adapter: str | None = None, *, merge: bool = True, load_in_4bit: bool = False,
                dtype: str = "auto", device: str | None = None):
    """Load base + optional LoRA adapter from a local folder or a hub id.

    Args:
        base: folder or hub id of the base model (and its tokenizer).
        adapter: folder or hub id of a PEFT adapter, or None for the base alone.
        merge: fold the adapter into the base weights (never into 4-bit weights).
        load_in_4bit: quantise the base to 4-bit NF4 with bitsandbytes (a CUDA GPU or the CPU).
        dtype: "auto", "float32", "bfloat16" or "float16".
        device: where to put the model; None keeps the CPU (for 4-bit: this rank's GPU, else the CPU).

    Returns:
        (model, tokenizer), the model in eval mode; a ``PeftModel`` when an adapter is loaded unmerged.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_base(base)
    if adapter is not None:
        check_adapter(adapter)
        check_adapter_matches(base, adapter)
    kwargs: dict = {"dtype": dtype if dtype == "auto" else getattr(torch, dtype)}
    if load_in_4bit:
        kwargs.update(quantization_config=quantization_config(), device_map=_device_map(device))
    model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(base)
    if adapter is not None:
        model = add_adapter(model, adapter, merge=merge)
    if device is not None and not load_in_4bit:
        model = model.to(device)
    if tokenizer.pad_token_id is None:  # Llama-3.1 ships no pad token but reserves one that is not EOS
        tokenizer.pad_token = PAD if PAD in tokenizer.get_vocab() else tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model.eval(), tokenizer


def add_adapter(model, adapter: str, merge: bool = True):
    """Put a LoRA on a loaded model: merged into its weights, unless they are 4-bit. On 4-bit
    weights the adapter keeps the dtype it was saved in, the one QLoRA trained it in."""
    from peft import PeftModel

    check_adapter(adapter)
    quantized = getattr(model, "is_loaded_in_4bit", False)
    model = PeftModel.from_pretrained(model, adapter, autocast_adapter_dtype=not quantized)
    return (model.merge_and_unload() if merge and not quantized else model).eval()


def load_variant(model_cfg, run, label: str):
    """The model the run calls ``label``, built the same way by every stage: ``"before"`` (Phase
    1A: the run's merged policy, 4-bit when asked) or a trained variant (``"after"``, an ablation:
    that model plus the variant's new adapter). Returns (model, tokenizer)."""
    model, tokenizer = load_policy(policy_base(model_cfg, run), load_in_4bit=model_cfg.load_in_4bit,
                                   dtype=model_cfg.dtype)
    if label != "before":
        model = add_adapter(model, str(run.adapter(label)))
    return model, tokenizer


def policy_base(model_cfg, run) -> str:
    """The folder every model of the run is built on: base + Phase 1A merged in full precision,
    saved once to ``run.merged_policy`` (the base itself when there is no Phase 1A adapter)."""
    if model_cfg.adapter is None:
        return model_cfg.base
    return str(merged_policy_path(model_cfg, run.merged_policy))


def saved_dtype(model_cfg) -> str:
    """The dtype a merged model is saved in: ``model.dtype``, or for "auto" the base's own."""
    if model_cfg.dtype != "auto":
        return model_cfg.dtype
    from transformers import AutoConfig

    dtype = getattr(AutoConfig.from_pretrained(model_cfg.base), "dtype", None)
    return str(dtype).removeprefix("torch.") if dtype is not None else FULL_PRECISION


def merged_policy_path(model_cfg, folder: Path) -> Path:
    """Base + Phase 1A merged in full precision, saved once to ``folder`` in the run's dtype;
    returns ``folder``. Several processes (torchrun ranks) wait for the first to write it."""
    return merged_once(model_cfg.base, [model_cfg.adapter], folder, saved_dtype(model_cfg))


def merged_variant_path(model_cfg, run, label: str) -> Path:
    """A trained variant merged into the run's merged policy, saved once beside its adapter (what
    the vLLM engine serves)."""
    return merged_once(policy_base(model_cfg, run), [str(run.adapter(label))], run.merged_variant(label),
                       saved_dtype(model_cfg))


MERGED_FROM = "cogumi_merged_from.json"  # what a merged folder was made of, beside its weights


def merged_once(base: str, adapters: list[str], folder: Path, dtype: str) -> Path:
    """``save_merged`` unless ``folder`` already holds this model: made of the same base and adapter
    files (their fingerprints), in ``dtype``; one made of other files is replaced. One process
    writes it while the others wait, and a half-written copy left by a killed writer is removed first."""
    made_of = {"base": fingerprint(base), "adapters": [fingerprint(a) for a in adapters], "dtype": dtype}
    if _holds(folder, made_of):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(folder.with_name(folder.name + ".lock")):
        if not _holds(folder, made_of):
            for torn in folder.parent.glob(folder.name + ".tmp*"):  # left by a writer that was killed
                shutil.rmtree(torn, ignore_errors=True)
            if folder.exists():
                console.print(f"{folder} was merged from other files than the model and adapter now hold; merging "
                              "it again", soft_wrap=True)
                shutil.rmtree(folder)
            save_merged(base, adapters, folder, dtype, made_of)
    return folder


def _holds(folder: Path, made_of: dict) -> bool:
    record = read_record(folder / MERGED_FROM) if (folder / MERGED_FROM).exists() else None
    return (folder / "config.json").exists() and record == made_of


def free_accelerator_memory() -> None:
    """Hand back what this process's CUDA allocator still holds (a trainer's, a model's just dropped)."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def save_merged(base: str, adapters: list[str], folder: Path, dtype: str, made_of: dict | None = None) -> Path:
    """``base`` with each of ``adapters`` merged in turn in full precision, cast to ``dtype`` and
    saved with its tokenizer as a plain Hugging Face model folder (written whole, then renamed)."""
    import socket

    import torch

    model, tokenizer = load_policy(base, adapters[0], dtype=FULL_PRECISION)
    for adapter in adapters[1:]:
        model = add_adapter(model, adapter)
    model = model.to(getattr(torch, dtype))
    tmp = folder.with_name(folder.name + f".tmp-{socket.gethostname()}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if made_of is not None:
        write_json(tmp / MERGED_FROM, made_of)
    tmp.replace(folder)
    return folder


@contextmanager
def _exclusive(lock: Path):
    """Hold an exclusive ``flock`` on ``lock`` (released by the kernel if the process dies)."""
    import fcntl

    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
