"""What every ``cogumi perf`` measurement shares: its settings, the model and prompts it runs on,
its peak memory and its timing (one cold run for the memory, the median of warm runs for the time)."""

from __future__ import annotations

import resource
import statistics
import threading
import time
from dataclasses import dataclass, field

from cogumi.config import DTYPES, VllmSettings
from cogumi.models.dtype import resolve_dtype
from cogumi.models.load import load_policy
from cogumi.world import make_split
from cogumi.world.knowledge import fact_prompts

SKIPPABLE = ("naive", "continuous", "sampling", "sft")


@dataclass
class PerfConfig:
    """What the performance harness measures."""

    base: str = "checkpoints/tiny/base"
    """Folder or hub id of the base model."""
    adapter: str | None = "checkpoints/tiny/phase1a"
    """Phase 1A adapter, merged before measuring; null for the base alone."""
    dtype: str = "float32"
    """Weights dtype."""
    prompts: int = 64
    """Prompts answered greedily by the engine and by the one-at-a-time loop."""
    max_new_tokens: int = 64
    """Generation limit for the greedy comparison."""
    batch_size: int = 64
    """The engine's batch size."""
    long_prompts: int = 8
    """Prompts of the shared-prefix comparison."""
    long_prompt_tokens: int = 160
    """Approximate length of each of those prompts."""
    samples: int = 10
    """Samples per long prompt (the reasoning and creativity policy)."""
    sample_new_tokens: int = 16
    """Generation limit per sample in the shared-prefix comparison."""
    sft_examples: int = 256
    """Examples per SFT measurement."""
    sft_batch_size: int = 16
    """Sequences per SFT step."""
    threads: int = 2
    """CPU threads for torch."""
    repeats: int = 3
    """Timed runs of each measurement after a first, cold one (which gives the peak memory); the
    median counts."""
    seed: int = 0
    """Seed for the prompts and the samples."""
    output: str = "runs/perf.json"
    """Where the figures are written."""
    engines: list[str] = field(default_factory=lambda: ["hf", "vllm"])
    """Engines measured; the vLLM rows need vLLM (see ``vllm``)."""
    compare_dtype: str | None = None
    """Measure each engine's greedy generation and the SFT step again in this dtype (float32 against a
    bfloat16 run, say) as their baselines, with the greedy outputs that agree counted; null: no such rows."""
    skip: list[str] = field(default_factory=list)
    """Measurements left out: naive (one prompt at a time), continuous (transformers' generate_batch),
    sampling, sft; each takes minutes on a real model on a CPU."""
    vllm: VllmSettings = field(default_factory=VllmSettings)
    """The vLLM engine measured (its own process; its start-up is timed apart)."""

    def __post_init__(self) -> None:
        if isinstance(self.vllm, dict):  # from the JSON an isolated measurement is handed
            self.vllm = VllmSettings(**self.vllm)
        unknown = set(self.engines) - {"hf", "vllm"}
        if unknown:
            raise ValueError(f"engines names unknown engines {sorted(unknown)}; choose from hf, vllm")
        unknown = set(self.skip) - set(SKIPPABLE)
        if unknown:
            raise ValueError(f"skip names unknown measurements {sorted(unknown)}; choose from {', '.join(SKIPPABLE)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.compare_dtype is not None and self.compare_dtype not in DTYPES:
            raise ValueError(f"compare_dtype must be one of {', '.join(DTYPES)} or null, got {self.compare_dtype!r}")
        self.dtype, self.compare_dtype = resolve_dtype(self.dtype), resolve_dtype(self.compare_dtype)


def load(cfg: PerfConfig):
    import torch


    torch.set_num_threads(cfg.threads)
    device = "cuda" if torch.cuda.is_available() else None
    return load_policy(cfg.base, cfg.adapter, dtype=cfg.dtype, device=device)


class PeakMemory:
    """Peak memory above the level at entry while the block runs: CUDA's allocator statistics on a
    GPU, otherwise the process's resident set sampled every 10 ms."""

    def __enter__(self):
        import torch

        self.cuda = torch.cuda.is_available()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        else:
            self.start = self.peak = rss()
            self.running = True
            self.thread = threading.Thread(target=self._poll, daemon=True)
            self.thread.start()
        return self

    def _poll(self):
        while self.running:
            self.peak = max(self.peak, rss())
            time.sleep(0.01)  # rarely enough to leave the measured loop its speed

    def __exit__(self, *exc):
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            self.mb = (torch.cuda.max_memory_allocated() - self.start) / 2**20
        else:
            self.running = False
            self.thread.join()
            self.mb = (max(self.peak, rss()) - self.start) / 2**20
        return False


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def greedy_prompts(cfg: PerfConfig) -> list[str]:
    per = cfg.prompts // 3 + 1
    prompts = [p.prompt for c in ("math", "knowledge", "code") for p in make_split(c, "benchmark", per, cfg.seed)]
    return prompts[:cfg.prompts]


def long_prompts(cfg: PerfConfig, tokenizer) -> list[str]:
    """Reasoning questions behind a long shared-world preamble (facts of the knowledge world)."""
    import random


    facts = [answer for _, answer in fact_prompts()]
    rng = random.Random(cfg.seed)
    prompts = []
    for problem in make_split("reasoning", "benchmark", cfg.long_prompts, cfg.seed):
        preamble = []
        while len(tokenizer(" ".join(preamble + [problem.prompt]))["input_ids"]) < cfg.long_prompt_tokens:
            preamble.append(rng.choice(facts))
        prompts.append(" ".join(preamble[:-1] + [problem.prompt]))
    return prompts


def measure(run, repeats: int) -> dict:
    """Call ``run`` once cold, which gives the peak memory, then ``repeats`` times more; ``run``
    returns (seconds of its timed part, payload), the payload with its own ``peak_mb`` where only
    part of the call should count. Returns the last payload with the median seconds."""
    with PeakMemory() as memory:
        _, cold = run()
    timings, payload = [], cold
    for _ in range(repeats):
        seconds, payload = run()
        timings.append(seconds)
    return {**payload, "seconds": statistics.median(timings), "all_seconds": [round(t, 4) for t in timings],
            "peak_mb": cold.get("peak_mb", memory.mb)}
