"""Typed configuration shared by the stages; YAML files in configs/ map onto these dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field

from cogumi.benchmark import Measure
from cogumi.data import DataConfig
from cogumi.filter import FilterConfig
from cogumi.generate import GenerateConfig
from cogumi.train import TrainConfig


@dataclass
class ModelConfig:
    """The policy model: a base plus its Phase 1A adapter."""

    base: str = "checkpoints/tiny/base"
    """Folder or hub id of the base model (and tokenizer)."""
    adapter: str | None = "checkpoints/tiny/phase1a"
    """Folder or hub id of the Phase 1A LoRA adapter; null for the base alone."""
    load_in_4bit: bool = False
    """Quantise the base to 4-bit NF4 with bitsandbytes (CUDA only)."""
    dtype: str = "float32"
    """Weights dtype: float32, bfloat16, float16 or auto."""

    def __post_init__(self) -> None:
        if self.dtype not in ("float32", "bfloat16", "float16", "auto"):
            raise ValueError(f"model.dtype must be float32, bfloat16, float16 or auto, got {self.dtype!r}")


@dataclass
class Experiment:
    """One experiment: the model, the output folder and each stage's settings."""

    output_dir: str = "runs/tiny"
    """Folder that receives everything the run writes; rerunning resumes it."""
    seed: int = 0
    """Seed for every random choice of the run."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The policy model."""
    data: DataConfig = field(default_factory=DataConfig)
    """Where each category's distill and benchmark problems come from (default: the tiny world)."""
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    """How the distill split is answered."""
    filter: FilterConfig = field(default_factory=FilterConfig)
    """What each category keeps."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """How the new LoRA is trained."""
    benchmark: Measure = field(default_factory=Measure)
    """How the benchmark split is measured."""
    serve_temperature: float = 0.7
    """Temperature the model is served at: the benchmark samples at it, and the temperature-scaled
    loss makes the trained model sampled at it match its data sharpened to each training temperature."""
    ablation: bool = False
    """Also train plain SFT (train.temperature_scaling false) on the same data and benchmark it."""
    threads: int | None = None
    """CPU threads for torch; null leaves torch's default."""

    def __post_init__(self) -> None:
        if self.serve_temperature <= 0:
            raise ValueError(f"serve_temperature must be > 0 (it is a sampling temperature), got {self.serve_temperature}")
