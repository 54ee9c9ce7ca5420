"""Typed configuration of every command; YAML files in configs/ map onto these dataclasses.

This module imports no torch, Lightning, TRL or transformers, so that ``cogumi --help``,
``--print_config`` and ``cogumi plan`` answer at once; the stages import them when they run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cogumi import engines
from cogumi.categories import builtin
from cogumi.categories.spec import CategorySpec, resolve_categories  # noqa: F401  (configs name it)
from cogumi.models.dtype import resolve_dtype
from cogumi.training import LOSS_NAMES

DTYPES = ("float32", "bfloat16", "float16", "auto", "fast")


def _positive(owner: str, **values) -> None:
    """Refuse every value of ``values`` that is not > 0, naming it by its dotted key under ``owner``
    ("" for a top-level key)."""
    bad = {k: v for k, v in values.items() if v is not None and v <= 0}
    if bad:
        prefix = f"{owner}." if owner else ""
        raise ValueError(", ".join(f"{prefix}{k} must be > 0 (got {v})" for k, v in bad.items()))


TINY_BASE, TINY_ADAPTER = "checkpoints/tiny/base", "checkpoints/tiny/phase1a"  # the shipped tiny model


@dataclass
class ModelConfig:
    """The policy model: a base plus its Phase 1A adapter."""

    base: str = TINY_BASE
    """Folder or hub id of the base model (and tokenizer)."""
    adapter: str | None = TINY_ADAPTER
    """Folder or hub id of the Phase 1A LoRA adapter; null when the base model itself is the policy
    (an instruct or already merged model): every stage, the report and export then use it as Phase 1A."""
    load_in_4bit: bool = False
    """Quantise the base to 4-bit NF4 with bitsandbytes (CUDA only)."""
    dtype: str = "float32"
    """Weights dtype of every stage: float32, bfloat16, float16, auto (the base's own) or fast
    (bfloat16 where this machine computes it fast: a GPU with bf16, a CPU with AMX or AVX512-BF16;
    float32 elsewhere). The run records the dtype it resolved to."""

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"model.dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        self.dtype = resolve_dtype(self.dtype)


def check_counts(counts: dict[str, int], names, setting: str) -> None:
    """Refuse a count for a category the run does not have (a typo, usually) or a negative one."""
    unknown = set(counts) - set(names)
    if unknown:
        raise ValueError(f"{setting} names unknown categories {sorted(unknown)}; the run has {list(names)} "
                         "(declare your own under categories:)")
    negative = {k: v for k, v in counts.items() if v < 0}
    if negative:
        raise ValueError(f"{setting} must not be negative, got {negative}")


@dataclass
class OverlapConfig:
    """The guard between the distill and benchmark problems."""

    ngram: int = 13
    """Word n-gram length of the near-duplicate check between the distill and benchmark sources."""
    allow_overlap: bool = False
    """Go on when distill and benchmark problems overlap; the report then says so."""

    def __post_init__(self) -> None:
        _positive("overlap", ngram=self.ngram)


def _check_engine(section: str, engine: str) -> None:
    if engine not in engines.names():
        raise ValueError(f"{section}.engine must be one of {engines.names()}, got {engine!r}")


@dataclass
class VllmSettings:
    """The vLLM engine (``generate.engine`` or ``benchmark.engine`` set to ``vllm``), which runs in its
    own process."""

    python: str | None = None
    """Python interpreter of an environment with vLLM; null: $COGUMI_VLLM_PYTHON, else this one if
    it has vLLM, else .venv-vllm (made by `bash .ci/setup` on machines without CUDA)."""
    chunk: int = 512
    """Prompts handed to vLLM per call; its scheduler batches them continuously. Each finished
    chunk is one resumable batch of the stage."""
    tensor_parallel_size: int = 1
    """GPUs one engine shards the model over (for a model larger than one GPU)."""
    gpu_memory_utilization: float = 0.85
    """Share of the GPU's memory vLLM takes for weights and KV cache."""
    max_model_len: int | None = None
    """Longest prompt + completion in tokens; null: the model's own limit."""
    cpu_kv_cache_gb: int = 1
    """KV cache size of vLLM's CPU build, GiB (its VLLM_CPU_KVCACHE_SPACE)."""
    enforce_eager: bool = False
    """Skip CUDA graphs and compilation (faster start, slower decoding)."""
    quantization: str | None = None
    """A vLLM quantization method (fp8 on H100s, for one); null serves the merged weights in
    ``model.dtype``. vLLM has no NF4: a 4-bit run trains in NF4 and generates from the merged
    full-precision weights, as ``cogumi export`` saves them."""
    start_timeout_s: float = 900.0
    """How long the engine may take to load the model before the stage gives up."""
    request_timeout_s: float = 7200.0
    """How long one chunk may take."""

    def __post_init__(self) -> None:
        _positive("vllm", chunk=self.chunk, tensor_parallel_size=self.tensor_parallel_size,
                  cpu_kv_cache_gb=self.cpu_kv_cache_gb, start_timeout_s=self.start_timeout_s,
                  request_timeout_s=self.request_timeout_s)
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(f"vllm.gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}")


@dataclass
class GenerateConfig:
    """How the distill split is answered."""

    problems: dict[str, int] = field(default_factory=lambda: {c: 100 for c in builtin()})
    """Distill-split problems per category."""
    batch_size: int = 32
    """Prompts per generation batch (each expands to its category's samples); the most a batch
    holds when ``memory_budget_gb`` chooses the size."""
    memory_budget_gb: float | None = None
    """Choose each category's batch size so that its KV cache fits this many GiB (at most
    ``batch_size``); null uses ``batch_size`` for every category."""
    engine: str = "hf"
    """"hf": transformers' generate in this process, in static batches of ``batch_size``; "vllm": vLLM
    in its own process, ``vllm.chunk`` prompts per call (see ``vllm``)."""

    def __post_init__(self) -> None:
        _positive("generate", batch_size=self.batch_size, memory_budget_gb=self.memory_budget_gb)
        _check_engine("generate", self.engine)


@dataclass
class LoraSettings:
    """The new LoRA adapter."""

    rank: int = 16
    """Rank of the LoRA matrices."""
    alpha: int = 32
    """LoRA scaling numerator (the update is scaled by alpha / rank)."""
    dropout: float = 0.0
    """Dropout on the LoRA input."""
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj",
                                                               "gate_proj", "up_proj", "down_proj"])
    """Linear layers that receive a LoRA."""

    def __post_init__(self) -> None:
        _positive("train.lora", rank=self.rank, alpha=self.alpha)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"train.lora.dropout must be in [0, 1), got {self.dropout}")




@dataclass
class TrainConfig:
    """How the new LoRA is trained on ``data/<category>_distilled.jsonl``."""

    temperature_scaling: bool = True
    """Scale each example's logits by tau / serve_temperature; false trains plain SFT (the ablation)."""
    tau_min: float = 0.05
    """Floor of the training temperature (tau = 0 would need infinite logits)."""
    lora: LoraSettings = field(default_factory=LoraSettings)
    """The new adapter."""
    learning_rate: float = 2e-4
    """Peak learning rate of the LoRA matrices (linear warm-up, then cosine decay)."""
    logit_scale: bool = True
    """Also learn one scalar that multiplies the logits, stored as the final norm's weight in the
    adapter. A training temperature below serve_temperature asks for logits up to
    serve_temperature / tau times larger than a LoRA behind a frozen final norm can make; a single
    scale sharpens them without changing any token's rank."""
    logit_scale_learning_rate: float = 0.05
    """Peak learning rate of the logit scale (it is learned in log space, per dimension too)."""
    logit_scale_per_dimension: bool = False
    """Learn one scale per hidden dimension of the final norm instead of one scalar (a scale that can
    differ with what the hidden state holds, so with the prompt)."""
    loss: str = "decoupled"
    """"scaled": cross-entropy on the kept completions with logits scaled by tau / serve_temperature;
    "teacher": cross-entropy of the model at serve_temperature against Phase 1A at each category's
    tau on those completions (its argmax where tau is 0; Phase 1A is the model with the new adapter off);
    "decoupled" (default): the LoRA learns the completions by plain cross-entropy (full gradients) while
    the learned logit scale alone learns the sharpening to each tau (needs train.logit_scale, one scalar);
    "sharpness": as decoupled, but the scale is learned per hidden dimension and, where tau is above
    tau_min (creative writing), against Phase 1A at tau (needs train.logit_scale_per_dimension)."""
    epochs: float = 2.0
    """Passes over the distilled data."""
    batch_size: int = 8
    """Sequences per device per optimiser step."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimiser step."""
    max_length: int = 1024
    """Longest training sequence in tokens (prompt + completion); longer ones are cut at the end."""
    warmup_ratio: float = 0.05
    """Fraction of steps spent warming the learning rate up."""
    gradient_checkpointing: bool = True
    """Recompute activations in the backward pass: less memory, ~30% more compute."""
    group_by_length: bool = True
    """Draw batches of similar length (less padding, the same loss); false draws them at random."""
    padding_free: bool = False
    """Flatten each batch into one sequence without padding; attention stays within each example
    (position ids restart per example)."""
    categories: list[str] | None = None
    """Categories whose distilled data is trained on; null trains on every category the run generates for."""
    logging_steps: int = 10
    """Optimiser steps between loss log lines."""
    save_steps: int = 50
    """Optimiser steps between resumable checkpoints (a LoRA and its optimiser state are small, so
    a crash costs at most this many steps)."""

    def __post_init__(self) -> None:
        _positive("train", tau_min=self.tau_min, learning_rate=self.learning_rate, epochs=self.epochs,
                  batch_size=self.batch_size, gradient_accumulation_steps=self.gradient_accumulation_steps,
                  max_length=self.max_length, logging_steps=self.logging_steps, save_steps=self.save_steps,
                  logit_scale_learning_rate=self.logit_scale_learning_rate)
        if self.loss not in LOSS_NAMES:
            raise ValueError(f"train.loss must be one of {list(LOSS_NAMES)}, got {self.loss!r}")
        if self.temperature_scaling and self.loss == "decoupled" and (not self.logit_scale or
                                                                      self.logit_scale_per_dimension):
            raise ValueError("train.loss 'decoupled' (the default) sharpens through one learned logit scale: set "
                             "train.logit_scale true and train.logit_scale_per_dimension false, or choose "
                             "train.loss 'scaled' or 'teacher'")
        if self.temperature_scaling and self.loss == "sharpness" and not (self.logit_scale and
                                                                          self.logit_scale_per_dimension):
            raise ValueError("train.loss 'sharpness' learns the final norm per hidden dimension: set "
                             "train.logit_scale true and train.logit_scale_per_dimension true")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"train.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")


# The splits a benchmark can measure: the held-out one, or the problems the new adapter learned from.
MEASURED_SPLITS = ("benchmark", "distill")


@dataclass
class BenchmarkConfig:
    """Which problems are measured and how the model is sampled."""

    problems: dict[str, int] = field(default_factory=lambda: {c: 60 for c in builtin()})
    """Benchmark-split problems per category (capped at what the split holds)."""
    samples_per_problem: int = 8
    """Samples per problem at the experiment's ``serve_temperature``."""
    max_new_tokens: int | dict[str, int] = 96
    """Generation limit per response: one for every category, or one per category with a default for
    the rest ({math: 384, knowledge: 32, default: 96})."""
    batch_size: int = 32
    """Prompts per generation batch."""
    bootstrap: int = 1000
    """Bootstrap resamples for the 95% interval of each before/after delta."""
    min_problems: int = 20
    """The fewest problems of a category on which the report calls a model "matched" or "beyond" the
    frontier; below it the verdict is "too few problems to decide"."""
    split: str = "benchmark"
    """Problems measured: "benchmark" (held out, what the report is for) or "distill" (the first of
    the problems the new adapter was trained on: how well it learned them, not how it generalises;
    records and report go to benchmark_distill/)."""
    sweep_temperatures: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.5, 0.7])
    """Temperatures the Phase 1A model is also measured at (the decoding frontier every trained model
    is compared with); each trained model's effective temperature is added."""
    engine: str = "hf"
    """An engine name (`hf`, `vllm`, or one registered with cogumi.engines.register), as ``generate.engine``."""

    def __post_init__(self) -> None:
        _check_engine("benchmark", self.engine)
        if any(t < 0 for t in self.sweep_temperatures):
            raise ValueError(f"benchmark.sweep_temperatures must be >= 0, got {self.sweep_temperatures}")
        if self.split not in MEASURED_SPLITS:
            raise ValueError(f"benchmark.split must be one of {list(MEASURED_SPLITS)}, got {self.split!r}")
        if self.samples_per_problem < 2:
            raise ValueError("benchmark.samples_per_problem must be >= 2 for agreement to mean anything")
        if isinstance(self.max_new_tokens, dict):
            bad = {k: v for k, v in self.max_new_tokens.items() if isinstance(v, bool) or not isinstance(v, int) or v < 1}
            if bad:
                raise ValueError(f"benchmark.max_new_tokens must be > 0 for every category (whole numbers), got {bad}")
            _positive("benchmark", batch_size=self.batch_size, bootstrap=self.bootstrap, min_problems=self.min_problems)
        else:
            _positive("benchmark", max_new_tokens=self.max_new_tokens, batch_size=self.batch_size,
                      bootstrap=self.bootstrap, min_problems=self.min_problems)

    def tokens_for(self, category: str) -> int:
        """The generation limit of ``category``'s answers."""
        if not isinstance(self.max_new_tokens, dict):
            return self.max_new_tokens
        return self.max_new_tokens.get(category, self.max_new_tokens.get("default"))


# Trained variants beside the distilled model ("after"), each a switch in ``ablations``.
ABLATIONS = ("plain_sft", "no_verification", "rft")


@dataclass
class RftConfig:
    """Rejection-sampling fine-tuning (the "rft" ablation): several samples per problem at a
    temperature above 0 where a verifier decides, keeping distinct correct ones."""

    categories: list[str] = field(default_factory=lambda: ["math", "code"])
    """Categories sampled this way; the others keep the distilled data."""
    samples: int = 8
    """Samples per problem."""
    temperature: float = 0.7
    """Their sampling temperature."""
    keep: int = 8
    """Most distinct correct samples kept per problem."""

    def __post_init__(self) -> None:
        _positive("rft", samples=self.samples, temperature=self.temperature, keep=self.keep)


@dataclass
class Experiment:
    """One experiment: the model, the output folder, the categories and each stage's settings."""

    output_dir: str = "runs/tiny"
    """Folder that receives everything the run writes; rerunning resumes it."""
    seed: int = 0
    """Seed for every random choice of the run."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The policy model."""
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Settings per category, each a mapping with the keys of CategorySpec: decoding {temperature,
    samples, max_new_tokens}, training_temperature, init_args (the category's own options), distill
    and benchmark (data sources), prompt_template, and class_path to declare your own category
    (package.module:ClassName). A built-in category left out keeps its defaults."""
    overlap: OverlapConfig = field(default_factory=OverlapConfig)
    """The overlap guard between the distill and benchmark problems."""
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    """How the distill split is answered."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """How the new LoRA is trained."""
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    """How the benchmark split is measured."""
    serve_temperature: float = 0.7
    """Temperature the model is served at: the benchmark samples at it, and the temperature-scaled
    loss makes the trained model sampled at it match its data sharpened to each training temperature."""
    ablations: list[str] = field(default_factory=list)
    """Also train and benchmark these, on the same budget (examples seen) as the distilled model:
    plain_sft (the same data, train.temperature_scaling false), no_verification (every generated
    sample, unfiltered), rft (rejection sampling, see ``rft``)."""
    rft: RftConfig = field(default_factory=RftConfig)
    """How the rft ablation samples and keeps."""
    vllm: VllmSettings = field(default_factory=VllmSettings)
    """The vLLM engine, where generate.engine or benchmark.engine is "vllm"."""
    train_seeds: list[int] = field(default_factory=list)
    """Train (and benchmark) every model under each of these seeds besides ``seed``; the report gives
    mean +- sd over them. Empty: ``seed`` alone."""
    threads: int | None = None
    """CPU threads for torch; null leaves torch's default."""

    def __post_init__(self) -> None:
        _positive("", serve_temperature=self.serve_temperature, threads=self.threads)
        self.resolved = resolve_categories(self.categories)
        check_counts(self.generate.problems, self.resolved, "generate.problems")
        check_counts(self.benchmark.problems, self.resolved, "benchmark.problems")
        if isinstance(limits := self.benchmark.max_new_tokens, dict):
            named = {k: 0 for k in limits if k != "default"}
            check_counts(named, self.resolved, "benchmark.max_new_tokens")
            if "default" not in limits and (missing := [c for c in self.resolved if c not in limits]):
                raise ValueError(f"benchmark.max_new_tokens names no limit for {missing}; add them or a default "
                                 f"({{default: 96, ...}})")
        if self.train.categories is not None:
            check_counts({c: 0 for c in self.train.categories}, self.resolved, "train.categories")
        unknown = sorted(set(self.ablations) - set(ABLATIONS))
        if unknown:
            raise ValueError(f"ablations names unknown ablations {unknown}; choose from {list(ABLATIONS)}")
        check_counts({c: 0 for c in self.rft.categories}, self.resolved, "rft.categories")
        # Phase 1A is measured at the serving temperature and at every training temperature (each
        # category's calibration target), besides the sweep asked for
        wanted = {self.serve_temperature, *(c.training_temperature for c in self.resolved.values())}
        if not wanted <= set(self.benchmark.sweep_temperatures):
            self.benchmark.sweep_temperatures = sorted({*self.benchmark.sweep_temperatures, *wanted})

    @property
    def variants(self) -> list[str]:
        """Every trained model of the run: the distilled one ("after"), then the ablations, each under
        every training seed ("after@seed1", ...)."""
        names = ["after", *[a for a in ABLATIONS if a in self.ablations]]
        extra = [s for s in self.train_seeds if s != self.seed]
        return names + [f"{name}@seed{s}" for s in extra for name in names]

    @property
    def trained_categories(self) -> list[str]:
        """The categories whose distilled data the new LoRA is trained on: ``train.categories``, or
        every category the run generates for."""
        if self.train.categories is not None:
            return list(self.train.categories)
        return [name for name in self.resolved if self.generate.problems.get(name, 0) > 0]
