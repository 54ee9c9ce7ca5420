"""The stage contract: each stage records the settings its output was made with (its fingerprint,
in ``stages/<name>.json``), and a rerun skips a stage whose fingerprint still holds, resumes one
that was cut short, and redoes one whose settings changed, clearing what it made before.

A stage's settings are exactly what its output depends on, upstream stages included by their
digest: a changed training temperature changes the filter's settings and so the train stage's, but
not generate's; a changed ``benchmark.bootstrap`` changes only the report's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cogumi.engines.batches import rank_files
from cogumi.files import read_record, unreadable, write_json


def digest(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def flatten(settings: dict, prefix: str = "") -> dict[str, object]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: settings by the dotted name a user would recognise."""
    flat: dict[str, object] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def changed_settings(old: dict, new: dict) -> list[str]:
    """The dotted names whose values differ between two settings."""
    a, b = flatten(old), flatten(new)
    return sorted(k for k in a.keys() | b.keys() if a.get(k, "<unset>") != b.get(k, "<unset>"))


@dataclass
class Stage:
    """One stage of a run: its name, its settings, the work, and how to clear stale output.

    ``clear(old_settings)`` removes what the stage made under other settings (a stage that keeps
    part of its output, like generate per category, compares the two itself). ``outputs()`` lists
    the files it made; their sizes are recorded when it finishes, and a file since gone or changed
    makes the stage resume (redoing what that file held) instead of being trusted.
    """

    name: str
    settings: dict
    work: Callable[[], object]
    clear: Callable[[dict], None] = field(default=lambda old: None)
    outputs: Callable[[], list[Path]] = field(default=lambda: [])

    @property
    def digest(self) -> str:
        return digest(self.settings)


def status(stage: Stage, record_path: Path) -> tuple[str, str]:
    """(``"skip"``, ``"resume"`` or ``"run"``, why) for ``stage`` against its record."""
    record = _record(record_path)
    if record is None:
        return "run", "record unreadable: redone" if record_path.exists() else "not run yet"
    if record["settings"] != stage.settings:
        names = changed_settings(record["settings"], stage.settings)
        shown = ", ".join(n.replace("inputs.", "output of ") for n in names[:4]) + (" ..." if len(names) > 4 else "")
        return "run", f"settings changed: {shown}"
    if not record.get("done"):
        return "resume", "cut short earlier; resumes where it stopped"
    if lost := _lost_outputs(record, record_path.parent.parent):
        return "resume", f"{lost} since it finished; redoes what is missing"
    return "skip", "done, settings unchanged"


def _lost_outputs(record: dict, root: Path) -> str | None:
    """The first file the record lists (by its path in the run folder ``root``) that is now missing
    or of another size, in words."""
    for path, size in (record.get("outputs") or {}).items():
        found = [p for p in rank_files(root / path) if p.exists()]
        if not found:
            return f"{root / path} is missing"
        if sum(p.stat().st_size for p in found) != size:
            return f"{root / path} changed"
    return None


def _sizes(files: list[Path], root: Path) -> dict[str, int]:
    """Each output's size by its path in the run folder ``root``; the files that the ranks of a
    distributed run wrote beside one (``NAME.rankN.jsonl``) count as that one, so that the record
    is the same however many processes made it."""
    sizes: dict[str, int] = {}
    for path in files:
        if path.is_file():
            name = _RANK.sub("", os.path.relpath(path, root))
            sizes[name] = sizes.get(name, 0) + path.stat().st_size
    return sizes


_RANK = re.compile(r"\.rank\d+(?=\.jsonl$)")


def _record(path: Path) -> dict | None:
    """A stage's record, or None when there is none or it cannot be read (empty, cut, another shape)."""
    record = read_record(path)
    if record is not None and not isinstance(record.get("settings"), dict):
        unreadable(path, "a record without its settings")
        return None
    return record


def run_stage(stage: Stage, record_path: Path, timings: dict[str, float], main: bool = True) -> bool:
    """Run ``stage`` unless its record says it is done with the same settings; returns whether it ran."""
    what, _ = status(stage, record_path)
    if what == "skip":
        return False
    if main:
        if record_path.exists() or any(p.exists() for p in stage.outputs()):
            # an unreadable record, or files with none (it was deleted): made under settings unknown
            old = (_record(record_path) or {"settings": {}})["settings"]
            if old != stage.settings:
                stage.clear(old)
        write_json(record_path, {"settings": stage.settings, "done": False})
    started = time.perf_counter()
    stage.work()
    timings[stage.name] = round(time.perf_counter() - started, 1)
    if main:
        made = _sizes(stage.outputs(), record_path.parent.parent)  # by path in the run folder: it may move
        write_json(record_path, {"settings": stage.settings, "done": True, "outputs": made})
    return True
