"""Run-folder files: atomic JSON/JSONL writes and reads."""

from __future__ import annotations

import json
from pathlib import Path


def write_text(path: Path, text: str) -> None:
    """A crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_json(path: Path, payload) -> None:
    write_text(path, json.dumps(payload, indent=2) + "\n")


def read_json(path: Path):
    return json.loads(path.read_text())


def write_jsonl(path: Path, rows: list[dict]) -> None:
    write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def read_jsonl(path: Path) -> list[dict]:
    with path.open() as f:
        return [json.loads(line) for line in f.read().split("\n") if line.strip()]
