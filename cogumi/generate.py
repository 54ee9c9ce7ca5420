"""Generate stage: the policy model answers every category's distill split.

Lightning's Trainer owns the loop (``predict``); ``Policy.predict_step`` calls the pure engine. A
``BatchWriter`` callback appends each finished batch to ``raw/samples.jsonl`` with a completion
marker, fsynced. Batches have a fixed composition and seed, so a rerun skips every marked batch,
regenerates the rest identically, and ends with the same file as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader

from cogumi.engine import Decoding, batch_size_for, generate
from cogumi.world import CATEGORIES, Problem, check_categories

RAW_FILE = "raw/samples.jsonl"


@dataclass
class Policies:
    """Decoding per category; the defaults are DESIGN.md's table (greedy where a verifier decides,
    sampling where a vote or variety does)."""

    math: Decoding = field(default_factory=lambda: Decoding(0.0, 1))
    """Math: greedy."""
    code: Decoding = field(default_factory=lambda: Decoding(0.0, 1, 128))
    """Code: greedy."""
    reasoning: Decoding = field(default_factory=lambda: Decoding(0.1, 10))
    """Reasoning: 10 samples at 0.1 for the majority vote."""
    creativity: Decoding = field(default_factory=lambda: Decoding(0.7, 10))
    """Creativity: 10 samples at 0.7 to choose diverse outputs from."""
    knowledge: Decoding = field(default_factory=lambda: Decoding(0.0, 1))
    """Knowledge: greedy."""
    instruction: Decoding = field(default_factory=lambda: Decoding(0.2, 4))
    """Instruction: 4 samples at 0.2; the first that meets every constraint is kept."""

    def __getitem__(self, category: str) -> Decoding:
        return getattr(self, category)


@dataclass
class GenerateConfig:
    """How the distill split is answered."""

    problems: dict[str, int] = field(default_factory=lambda: {c: 100 for c in CATEGORIES})
    """Distill-split problems per category."""
    decoding: Policies = field(default_factory=Policies)
    """Decoding policy per category: temperature (0 = greedy), samples, max_new_tokens."""
    batch_size: int = 32
    """Prompts per generation batch (each expands to its category's samples); the most a batch
    holds when ``memory_budget_gb`` chooses the size."""
    memory_budget_gb: float | None = None
    """Choose each category's batch size so that its KV cache fits this many GiB (at most
    ``batch_size``); null uses ``batch_size`` for every category."""

    def __post_init__(self) -> None:
        check_categories(self.problems, "generate.problems")
        if self.batch_size < 1:
            raise ValueError("generate.batch_size must be >= 1")


def plan_batches(problems: list[Problem], batch_size: int | dict[str, int]) -> list[dict]:
    """Fixed batches: one category each, in problem order, of ``batch_size`` prompts (one size, or
    one per category). A batch's key never changes between runs of the same settings."""
    batches = []
    for category in CATEGORIES:
        rows = [p for p in problems if p.category == category]
        size = batch_size if isinstance(batch_size, int) else batch_size[category]
        for start in range(0, len(rows), size):
            batches.append({"key": f"{category}:{start // size:05d}", "category": category,
                            "problems": rows[start:start + size]})
    return batches


def rank_files(path: Path) -> list[Path]:
    """``path`` and the files other ranks of a distributed run wrote beside it (``NAME.rankN.jsonl``)."""
    others = sorted(path.parent.glob(f"{path.stem}.rank*{path.suffix}"), key=lambda p: int(p.suffixes[-2][5:]))
    return [path, *others]


def rank_path(path: Path, rank: int) -> Path:
    return path if rank == 0 else path.with_name(f"{path.stem}.rank{rank}{path.suffix}")


def finished_batches(path: Path) -> set[str]:
    """Keys of batches whose completion marker is in ``path`` or its rank files; cuts any
    unfinished tail off each."""
    return set().union(*(_finished_in(p) for p in rank_files(path)))


def _finished_in(path: Path) -> set[str]:
    if not path.exists():
        return set()
    done: set[str] = set()
    keep = 0
    with path.open("rb") as f:
        offset = 0
        for line in f:
            offset += len(line)
            if not line.endswith(b"\n"):
                break
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                break
            if "batch_done" in row:
                done.add(row["batch_done"])
                keep = offset
    if keep != path.stat().st_size:
        with path.open("r+b") as f:
            f.truncate(keep)
    return done


def read_rows(path: Path) -> list[dict]:
    """Every row of finished batches, each batch once (a distributed sampler may have run one on two
    ranks), ordered by batch key."""
    finished_batches(path)
    batches: dict[str, list[dict]] = {}
    for part in rank_files(path):
        pending: list[dict] = []
        with part.open() as f:
            for row in map(json.loads, f):
                if "batch_done" in row:
                    batches.setdefault(row["batch_done"], pending)
                    pending = []
                else:
                    pending.append(row)
    return [row for key in sorted(batches, key=_batch_order) for row in batches[key]]


def _batch_order(key: str) -> tuple[int, int]:
    category, number = key.rsplit(":", 1)
    return CATEGORIES.index(category), int(number)


class Prompts(L.LightningDataModule):
    """Serves the planned batches that are not on disk yet (one batch per loader step)."""

    def __init__(self, batches: list[dict]):
        super().__init__()
        self.batches = batches

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(self.batches, batch_size=None, shuffle=False)

    test_dataloader = predict_dataloader


class Policy(L.LightningModule):
    """Wraps the policy model; ``predict_step`` answers one batch with its category's decoding."""

    def __init__(self, model, tokenizer, decoding: Policies, seed: int):
        super().__init__()
        self.model, self.tokenizer, self.decoding, self.seed = model, tokenizer, decoding, seed

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch  # problems, not tensors: the engine tokenizes and places the inputs itself

    def batch_seed(self, batch: dict) -> int:
        """A batch's own seed: the same batch samples the same way whenever and wherever it runs."""
        return self.seed * 100_003 + int(batch["key"].rsplit(":", 1)[1]) * 101 + CATEGORIES.index(batch["category"])

    def predict_step(self, batch: dict, batch_idx: int = 0) -> dict:
        problems = batch["problems"]
        decoding = self.decoding[batch["category"]]
        completions = generate(self.model, self.tokenizer, [p.prompt for p in problems], decoding,
                               batch_size=len(problems), seed=self.batch_seed(batch))
        rows = [{"problem_id": p.id, "category": p.category, "sample": i, "text": c.text, "finished": c.finished,
                 "tokens": c.tokens, "temperature": decoding.temperature}
                for p, group in zip(problems, completions) for i, c in enumerate(group)]
        return {"key": batch["key"], "rows": rows}


class BatchWriter(BasePredictionWriter):
    """Appends each finished batch's rows and its completion marker in one fsynced write, from
    ``Trainer.predict`` (generate) and ``Trainer.test`` (benchmark) alike."""

    def __init__(self, path: Path):
        super().__init__(write_interval="batch")
        self.path = path

    def append(self, output: dict, rank: int = 0) -> None:
        lines = [json.dumps(row) for row in output["rows"]]
        lines.append(json.dumps({"batch_done": output["key"], "rows": len(output["rows"])}))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with rank_path(self.path, rank).open("a") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0):
        self.append(prediction, trainer.global_rank)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.append(outputs, trainer.global_rank)


def batch_sizes(model, tokenizer, problems: list[Problem], cfg: GenerateConfig) -> dict[str, int]:
    """Each category's batch size: ``cfg.batch_size``, or what fits ``cfg.memory_budget_gb``."""
    if cfg.memory_budget_gb is None:
        return {c: cfg.batch_size for c in CATEGORIES}
    sizes = {}
    for category in CATEGORIES:
        lengths = [len(tokenizer(p.prompt)["input_ids"]) for p in problems if p.category == category]
        policy = cfg.decoding[category]
        sizes[category] = batch_size_for(model, max(lengths, default=1) + 16, policy.max_new_tokens, policy.samples,
                                         cfg.memory_budget_gb, most=cfg.batch_size)
    return sizes


def run_generation(model, tokenizer, problems: list[Problem], cfg: GenerateConfig, out_dir: Path, seed: int) -> Path:
    """Answer ``problems`` into ``out_dir/raw/samples.jsonl``, resuming whatever is already there."""
    path = out_dir / RAW_FILE
    done = finished_batches(path)
    todo = [b for b in plan_batches(problems, batch_sizes(model, tokenizer, problems, cfg)) if b["key"] not in done]
    if todo:
        trainer = make_trainer(BatchWriter(path))
        trainer.predict(Policy(model, tokenizer, cfg.decoding, seed), datamodule=Prompts(todo), return_predictions=False)
    barrier()
    return path


def world() -> tuple[int, int]:
    """(rank, world size) of this process under ``torchrun``; (0, 1) when run alone."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_main() -> bool:
    return world()[0] == 0


def barrier() -> None:
    """Wait for every rank (a no-op when run alone)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def make_trainer(writer: BatchWriter) -> L.Trainer:
    """Lightning's Trainer for generation and benchmark: one device alone; under ``torchrun`` every
    rank's device with DDP, each rank answering its share of the batches (Lightning's distributed
    sampler) into its own rank file."""
    _, size = world()
    local = int(os.environ.get("LOCAL_WORLD_SIZE", size))
    return L.Trainer(accelerator="auto", devices=local, num_nodes=max(1, size // local),
                     strategy="ddp" if size > 1 else "auto", logger=False, enable_checkpointing=False,
                     callbacks=[writer], enable_progress_bar=True, enable_model_summary=False)
