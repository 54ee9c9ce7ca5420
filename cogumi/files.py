"""Run-folder files: atomic JSON/JSONL writes and reads."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from cogumi.console import console


def write_text(path: Path, text: str) -> None:
    """A crash, or a power cut, leaves the old file or the new one, never half of one: the new text
    reaches the disk (fsync) before it takes the old one's name, and the rename before this returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp-{os.getpid()}")  # its own: ranks may write the same file at once
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    try:
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:  # a folder that cannot be opened to sync (some filesystems): the rename stands
        return
    try:
        os.fsync(folder)
    except OSError:
        pass
    finally:
        os.close(folder)


HASHED_UP_TO = 64 << 20  # files up to this size are fingerprinted by content; larger ones by size and mtime


def fingerprint(path: str | Path) -> dict | None:
    """What a local file or folder holds, cheaply: per file its size and its sha256 (or, above
    ``HASHED_UP_TO``, its modification time); None for what is not on this machine (a hub id)."""
    found = Path(path).expanduser()
    if found.is_file():
        return _file_fingerprint(found)
    if not found.is_dir():
        return None
    return {str(p.relative_to(found)): _file_fingerprint(p) for p in sorted(found.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(found).parts)}


def _file_fingerprint(path: Path) -> dict:
    stat = path.stat()
    if stat.st_size > HASHED_UP_TO:
        return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return {"size": stat.st_size, "sha256": sha256(path)[:16]}


def sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_record(path: Path, shape: type = dict):
    """A JSON record Cogumi wrote, or None when it is missing, unreadable (empty, cut, not JSON) or
    not of ``shape``; an unreadable one is named in a notice and then counts as never written."""
    if not path.exists():
        return None
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        problem = f"unreadable ({type(error).__name__}: {str(error)[:80]})"
    else:
        if isinstance(found, shape):
            return found
        problem = f"not a JSON {shape.__name__}"
    unreadable(path, problem)
    return None


def unreadable(path: Path, problem: str) -> None:
    console.print(f"notice: {path} is {problem}; treated as not written, and what it records is redone",
                  soft_wrap=True)


def write_json(path: Path, payload) -> None:
    write_text(path, json.dumps(payload, indent=2) + "\n")


def read_json(path: Path):
    return json.loads(path.read_text())


def write_jsonl(path: Path, rows: list[dict]) -> None:
    write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def read_jsonl(path: Path) -> list[dict]:
    with path.open() as f:
        return [json.loads(line) for line in f.read().split("\n") if line.strip()]
