"""Run-directory files: atomic JSON/JSONL writes and the settings fingerprint that guards resuming."""

from __future__ import annotations

import json
from pathlib import Path


def _atomic_write(path: Path, text: str) -> None:
    """A crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_json(path: Path, payload) -> None:
    _atomic_write(path, json.dumps(payload, indent=2) + "\n")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    _atomic_write(path, "".join(json.dumps(row) + "\n" for row in rows))


def read_jsonl(path: Path) -> list[dict]:
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def check_fingerprint(path: Path, settings: dict) -> None:
    """Record ``settings`` beside a stage's output, or refuse to resume output made with others."""
    if path.exists():
        recorded = json.loads(path.read_text())
        if recorded != settings:
            changed = sorted(k for k in settings.keys() | recorded.keys() if settings.get(k) != recorded.get(k))
            raise SystemExit(
                f"{path.parent} was made with different settings ({', '.join(changed)}); resuming would mix "
                f"them. Use a new output_dir, or delete {path.parent} to redo that stage.")
    write_json(path, settings)
