"""torchrun helpers: which rank this process is, and waiting for every rank."""

from __future__ import annotations

import os


def rank_and_size() -> tuple[int, int]:
    """(rank, world size) of this process under ``torchrun``; (0, 1) when run alone."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_main() -> bool:
    return rank_and_size()[0] == 0


def barrier() -> None:
    """Wait for every rank (a no-op when run alone)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
