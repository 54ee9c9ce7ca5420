"""The Lightning shell that generate and benchmark share: a datamodule serving fixed batches of
problems, a module that answers each batch with a stage's pure function, a callback that appends
each finished batch to its resumable file, and the Trainer factory. Lightning's Trainer owns the
loop and the devices (``predict`` for generate, ``test`` for benchmark)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter, Callback
from torch.utils.data import DataLoader

from cogumi.console import Meter
from cogumi.dist import is_main, rank_and_size
from cogumi.engines.base import batch_seed
from cogumi.engines.batches import append_batch

# Lightning's start-up lines ("GPU available: False, used: False", "TPU available ...") say nothing
# a user of this command can act on.
logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
logging.getLogger("lightning.fabric.utilities.rank_zero").setLevel(logging.WARNING)


class ProblemBatches(L.LightningDataModule):
    """Serves planned batches of problems (one batch per loader step)."""

    def __init__(self, batches: list[dict]):
        super().__init__()
        self.batches = batches

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(self.batches, batch_size=None, shuffle=False)

    test_dataloader = predict_dataloader


class Answering(L.LightningModule):
    """Wraps the engine (its model, where it runs one in this process, is this module's, so that
    Lightning places it); each step answers one batch with ``answer(engine, batch, seed)``, which
    returns the batch's rows. ``seed`` is the batch's own (``batch_seed``)."""

    def __init__(self, engine, answer: Callable, seed: int):
        super().__init__()
        self.engine, self.answer, self.seed = engine, answer, seed
        if engine.module is not None:
            self.model = engine.module

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch  # problems, not tensors: the engine tokenizes and places the inputs itself

    def predict_step(self, batch: dict, batch_idx: int = 0) -> dict:
        rows = self.answer(self.engine, batch, batch_seed(self.seed, batch["seed"], int(batch["key"].rsplit(":", 1)[1])))
        return {"key": batch["key"], "category": batch["category"], "rows": rows}

    test_step = predict_step


class BatchWriter(BasePredictionWriter):
    """Appends each finished batch to ``path_of(category)``, from ``predict`` and ``test`` alike."""

    def __init__(self, path_of: Callable[[str], Path]):
        super().__init__(write_interval="batch")
        self.path_of = path_of

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0):
        append_batch(self.path_of(prediction["category"]), prediction["key"], prediction["rows"], trainer.global_rank)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        append_batch(self.path_of(outputs["category"]), outputs["key"], outputs["rows"], trainer.global_rank)


class Progress(Callback):
    """One progress display over the batches of a stage (rank 0 shows it)."""

    def __init__(self, label: str, total: int):
        self.meter = Meter(label, total) if is_main() else None

    def _start(self, *args) -> None:
        if self.meter:
            self.meter.__enter__()

    def _advance(self, trainer, pl_module, outputs, batch, *args) -> None:
        if self.meter:
            self.meter.advance(1, note=f"({batch['category']})")

    def _stop(self, *args) -> None:
        if self.meter:
            self.meter.__exit__()

    on_predict_start = on_test_start = _start
    on_predict_batch_end = on_test_batch_end = _advance
    on_predict_end = on_test_end = _stop


def run_batches(engine, answer: Callable, seed: int, batches: list[dict],
                path_of: Callable[[str], Path], label: str, test: bool = False) -> None:
    """Answer ``batches`` under Lightning's Trainer, each finished one appended to its file. Alone:
    one device; under ``torchrun`` every rank's device with DDP, each rank answering its share of the
    batches (Lightning's distributed sampler) into its own rank file."""
    _, size = rank_and_size()
    local = int(os.environ.get("LOCAL_WORLD_SIZE", size))
    trainer = L.Trainer(accelerator="auto", devices=local, num_nodes=max(1, size // local),
                        strategy="ddp" if size > 1 else "auto", logger=False, enable_checkpointing=False,
                        callbacks=[BatchWriter(path_of), Progress(label, len(batches))],
                        enable_progress_bar=False, enable_model_summary=False)
    module, data = Answering(engine, answer, seed), ProblemBatches(batches)
    if test:
        trainer.test(module, datamodule=data, verbose=False)
    else:
        trainer.predict(module, datamodule=data, return_predictions=False)
