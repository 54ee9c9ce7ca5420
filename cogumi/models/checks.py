"""Checks of the output, model and adapter folders that run before any weights load (and without torch)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict
from pathlib import Path

from cogumi.files import fingerprint


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


def model_settings(model_cfg) -> dict:
    """What every model of a run depends on: the model config, and what the base and adapter files
    hold (a checkpoint replaced in place is another model; ``cogumi.files.fingerprint``)."""
    return {**asdict(model_cfg), "files": {"base": fingerprint(model_cfg.base),
                                           "adapter": fingerprint(model_cfg.adapter) if model_cfg.adapter else None}}


def check_output_dir(output_dir: str) -> str:
    """Fail early when the run folder cannot be written: it is a file, read-only, or cannot be
    created under the nearest folder that exists. Returns what the folder is, in words."""
    folder = Path(output_dir).expanduser()
    fix = "pass an --output_dir this user can write"
    if folder.exists():
        if not folder.is_dir():
            raise ValueError(f"output_dir {output_dir!r} is a file, not a folder; {fix}")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ValueError(f"output_dir {output_dir!r} is read-only for this user; {fix}, or make it writable")
        held = sorted(p.name for p in folder.iterdir())
        if held and not {"run.json", "run.lock"} & set(held):
            shown = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
            what = "a model folder" if "config.json" in held else "a folder Cogumi did not make"
            raise ValueError(f"output_dir {output_dir!r} is {what} (it holds {shown}, and no run.json); Cogumi writes "
                             f"and deletes only in a run folder of its own: give a new or empty --output_dir")
        return f"{output_dir} (exists: reruns resume it)" if held else f"{output_dir} (empty)"
    parent = next(p for p in folder.absolute().parents if p.exists())
    if not parent.is_dir():
        raise ValueError(f"output_dir {output_dir!r} cannot be created: {str(parent)!r} is a file; {fix}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"output_dir {output_dir!r} cannot be created: {str(parent)!r} is read-only for this "
                         f"user; {fix}")
    return f"{output_dir} (new)"


def check_base(base: str) -> None:
    """Fail early when ``base`` names a GGUF file, a local folder that is missing or holds no model,
    or a hub id that is neither in the local cache nor reachable."""
    gguf = _gguf_in(base)
    if gguf is not None:
        raise ValueError(f"model.base {base!r} is a GGUF checkpoint; convert it once with `cogumi import-gguf "
                         f"{gguf} --output DIR` and point model.base at DIR")
    folder = _local_folder(base, "base model", "config.json and the weights, or a hub id such as "
                                               "meta-llama/Llama-3.1-8B-Instruct")
    if folder is None:
        check_hub_model(base)
    elif not (folder / "config.json").exists():
        raise FileNotFoundError(f"base model folder {base!r} has no config.json; it must be the output of "
                                "save_pretrained (or a downloaded hub snapshot)")


def _gguf_in(path: str) -> Path | None:
    """The GGUF file ``path`` is, or the one a folder without config.json holds."""
    found = Path(path).expanduser()
    if found.is_file() and found.suffix.lower() == ".gguf":
        return found
    if found.is_dir() and not (found / "config.json").exists():
        return next(iter(sorted(found.glob("*.gguf"))), None)
    return None


def check_hub_model(repo: str) -> None:
    """Fail early when hub id ``repo`` is neither in the local Hugging Face cache nor reachable."""
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo, "config.json"), str):
        return
    fix = (f"download it where there is a network (`hf download {repo}`) and point model.base at the "
           f"folder, or pass a local model folder")
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False"):
        raise ValueError(f"model.base {repo!r} is a hub id that is not in the local cache, and HF_HUB_OFFLINE "
                         f"is set; {fix}")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    try:
        HfApi().model_info(repo, timeout=10)
    except GatedRepoError:
        return  # it exists; loading it needs a token with access, which transformers reports itself
    except RepositoryNotFoundError:
        raise ValueError(f"model.base {repo!r} is not a local folder and the hub has no such model; "
                         f"check the name, or pass a local model folder") from None
    except HfHubHTTPError:
        return  # the hub answered
    except Exception as error:  # no network: DNS, connection, timeout
        raise ValueError(f"model.base {repo!r} is a hub id that is not in the local cache, and the hub cannot "
                         f"be reached ({type(error).__name__}: {str(error)[:120]}); {fix}") from None


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
    if not (_is_local(adapter) and _is_local(base)):
        return  # hub ids are checked by PEFT while loading
    recorded = json.loads((Path(adapter) / "adapter_config.json").read_text()).get("base_model_name_or_path")
    config = json.loads((Path(base) / "config.json").read_text())
    # a recorded folder that still holds a model is the user's own copy; otherwise compare names
    if recorded and not (Path(recorded) / "config.json").exists() and Path(recorded).name != Path(base).name:
        raise ValueError(f"adapter {adapter!r} was trained on {recorded!r}, not on base {base!r}; "
                         "point model.base at the model the adapter was trained on")
    weights = Path(adapter) / "adapter_model.safetensors"
    if not weights.exists():
        return
    from safetensors import safe_open

    with safe_open(str(weights), "numpy") as f:
        for name in f.keys():
            if "lora_A" in name and any(m in name for m in ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")):
                width = f.get_slice(name).get_shape()[1]
                if width != config["hidden_size"]:
                    raise ValueError(f"adapter {adapter!r} has {name} of input width {width}, but base {base!r} "
                                     f"has hidden_size {config['hidden_size']}; it belongs to another model")
            layer = re.search(r"\.layers\.(\d+)\.", name)
            if layer and int(layer.group(1)) >= config["num_hidden_layers"]:
                raise ValueError(f"adapter {adapter!r} has weights for layer {layer.group(1)}, but base {base!r} has "
                                 f"{config['num_hidden_layers']} layers; it belongs to another model")
