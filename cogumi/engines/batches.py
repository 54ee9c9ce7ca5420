"""The resumable batch file: JSONL rows, each finished batch closed by a marker line
``{"batch_done": KEY, "rows": N}`` in the same fsynced write. Batches have a fixed composition and
seed, so a rerun skips every marked batch, regenerates the rest identically, and ends with the same
file as an uninterrupted run. Under torchrun each rank appends to its own file beside the first
(``NAME.rankN.jsonl``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cogumi.files import write_text
from cogumi.types import Problem


def plan_batches(problems: list[Problem], sizes: dict[str, int], order: list[str],
                 seeds: dict[str, int]) -> list[dict]:
    """Fixed batches: one category each (in ``order``), in problem order, of that category's size
    in ``sizes``. A batch's key and its ``seed`` (its category's own, ``seeds``) never change
    between runs of the same settings, nor with the other categories of the run."""
    batches = []
    for category in order:
        rows = [p for p in problems if p.category == category]
        size = sizes[category]
        for start in range(0, len(rows), size):
            batches.append({"key": f"{category}:{start // size:05d}", "category": category, "seed": seeds[category],
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


def read_batches(path: Path, order: list[str]) -> list[dict]:
    """Every row of finished batches, each batch once (a distributed sampler may have run one on two
    ranks), ordered by category (in ``order``) and batch number."""
    finished_batches(path)
    batches: dict[str, list[dict]] = {}
    for part in rank_files(path):
        if not part.exists():
            continue
        pending: list[dict] = []
        with part.open() as f:
            for row in map(json.loads, f):
                if "batch_done" in row:
                    batches.setdefault(row["batch_done"], pending)
                    pending = []
                else:
                    pending.append(row)

    def position(key: str) -> tuple[int, int]:
        category, number = key.rsplit(":", 1)
        return order.index(category), int(number)

    return [row for key in sorted(batches, key=position) for row in batches[key]]


def append_batch(path: Path, key: str, rows: list[dict], rank: int = 0) -> None:
    """Append one finished batch's rows and its completion marker in one fsynced write."""
    lines = [json.dumps(row) for row in rows]
    lines.append(json.dumps({"batch_done": key, "rows": len(rows)}))
    target = rank_path(path, rank)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a") as f:
        f.write("\n".join(lines) + "\n")
        f.flush()
        os.fsync(f.fileno())


def remove(path: Path) -> None:
    """Delete ``path`` and its rank files."""
    for part in rank_files(path):
        part.unlink(missing_ok=True)


def remove_batches(path: Path, categories: list[str]) -> None:
    """Drop the finished batches of ``categories`` from ``path`` and its rank files (their settings
    changed), keeping every other batch as it was; each file is rewritten whole, then renamed."""
    if not categories:
        return
    finished_batches(path)  # cut any unfinished tail first
    for part in rank_files(path):
        if not part.exists():
            continue
        kept: list[str] = []
        pending: list[str] = []
        with part.open() as f:
            for line in f:
                pending.append(line)
                key = json.loads(line).get("batch_done")
                if key is not None:
                    if key.rsplit(":", 1)[0] not in categories:
                        kept.extend(pending)
                    pending = []
        write_text(part, "".join(kept))
