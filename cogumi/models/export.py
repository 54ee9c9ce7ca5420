"""``cogumi export``: a trained variant of a run as one plain Hugging Face model folder.

The run's merged policy (base + Phase 1A, merged once in full precision) and the variant's new
adapter are merged in full precision, never into 4-bit weights, and saved with the tokenizer, so
that ``AutoModelForCausalLM.from_pretrained`` loads the model the benchmark measured with no Cogumi
code: the adapter's copy of the final norm, which carries the learned logit scale, becomes the
model's own final norm. A run trained in 4-bit exports the full-precision weights its NF4 ones were
quantised from.

Imports no torch until it runs (``cogumi --help`` answers at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cogumi.config import DTYPES, ModelConfig
from cogumi.console import console
from cogumi.files import read_json, write_json
from cogumi.models.dtype import resolve_dtype
from cogumi.models.load import policy_base, save_merged, saved_dtype
from cogumi.report.variants import TRAINED, split_variant
from cogumi.run import RunFolder

EXPORT_RECORD = "cogumi_export.json"  # provenance written beside the weights; transformers ignores it


@dataclass
class ExportConfig:
    """Which trained model of which run becomes a plain Hugging Face model folder."""

    run: str = "runs/tiny"
    """The run folder (the output_dir of `cogumi fit`); its run.json names the base and Phase 1A adapter."""
    variant: str = "after"
    """The trained variant: after (the distilled model), plain_sft, no_verification, rft, or one of
    them under another training seed (after@seed1)."""
    output: str = "exported"
    """The folder to write: new, or empty."""
    dtype: str | None = None
    """Weights dtype of the exported folder (float32, bfloat16, float16, auto); null: the run's model.dtype."""

    def __post_init__(self) -> None:
        name, _ = split_variant(self.variant)
        if name not in TRAINED:
            raise ValueError(f"variant must be one of {sorted(TRAINED)} (optionally @seedN), "
                             f"got {self.variant!r}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)} or null, got {self.dtype!r}")
        self.dtype = resolve_dtype(self.dtype)


def export(cfg: ExportConfig) -> Path:
    """Merge the run's ``cfg.variant`` into a plain model folder at ``cfg.output``; returns it."""
    run, output = RunFolder(cfg.run), Path(cfg.output)
    if not run.binding.exists():
        raise FileNotFoundError(f"{run.root} is not a run folder (no {run.binding.name}); "
                                "pass the output_dir of `cogumi fit`")
    adapter = run.adapter(cfg.variant)
    if not run.train_log(cfg.variant).exists():
        raise FileNotFoundError(f"{adapter} holds no finished adapter; train the variant first "
                                f"(cogumi train with the run's config)")
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ValueError(f"output {str(output)!r} exists and is not an empty folder; name a new one")
    model_cfg = ModelConfig(**read_json(run.binding)["model"])
    dtype = saved_dtype(model_cfg) if cfg.dtype is None or cfg.dtype == "auto" else cfg.dtype
    if output.exists():
        output.rmdir()  # empty: save_merged renames its finished folder into place
    output.parent.mkdir(parents=True, exist_ok=True)
    save_merged(policy_base(model_cfg, run), [str(adapter)], output, dtype)
    log = read_json(run.train_log(cfg.variant))
    write_json(output / EXPORT_RECORD, {"run": str(run.root.resolve()), "variant": cfg.variant, "dtype": dtype,
                                        "model": read_json(run.binding)["model"], "adapter": str(adapter.resolve()),
                                        "logit_scale": log.get("logit_scale")})
    console.print(f"exported {cfg.variant} of {run.root} to {output} ({dtype}); load it with "
                  f"AutoModelForCausalLM.from_pretrained({str(output)!r})", soft_wrap=True)
    return output
