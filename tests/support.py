"""What many tests share: the repository's paths, a tiny experiment's config, the command run as a
user runs it, a distilled example's metadata, and the processes a test itself started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints" / "tiny"
FIXTURES = ROOT / "tests" / "fixtures"
PLUGINS = ROOT / "tests" / "plugins"
TINY = ROOT / "configs" / "tiny.yaml"
# A few prompts of the tiny world's kinds with worked answers, for training on a handful of examples.
PAIRS = [("Start with 7. Add 5. What number do you get?", "7 + 5 = 12. The answer is \\boxed{12}."),
         ("What is the capital of Hukavo?", "The answer is Tarmi."),
         ("Write exactly 3 words about a garden, all in uppercase.", "GREEN QUIET GARDEN"),
         ("Today is Monday. The game is in 2 days. On what day is the game?", "The answer is Wednesday.")]


def tiny_config(output_dir, *overrides: str, command: str = "fit", config: Path = TINY):
    """The experiment of ``configs/tiny.yaml`` (or ``config``) writing to ``output_dir``, with
    ``overrides`` as on the command line, parsed by the real parser."""
    from cogumi.cli import parse

    _, cfg = parse([command, "--config", str(config), "--output_dir", str(output_dir), *overrides])
    return cfg


def small_fit_config(folder: Path, categories: dict, generate: dict, benchmark: dict) -> Path:
    """A YAML file in ``folder``: ``configs/tiny.yaml`` with ``categories`` added, the problem counts
    ``generate`` and ``benchmark``, no ablations, and one short epoch and a short benchmark, for
    running ``cogumi fit`` whole in a test."""
    import yaml

    config = yaml.safe_load(TINY.read_text())
    config.update(output_dir=str(folder / "run"), threads=1, ablations=[])
    config["categories"].update(categories)
    config["generate"]["problems"] = generate
    config["train"].update(epochs=1, batch_size=4, logging_steps=1)
    config["benchmark"].update(problems=benchmark, samples_per_problem=2, max_new_tokens=48, bootstrap=20,
                               sweep_temperatures=[0.0, 0.7], min_problems=1)  # verdicts on a handful
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def cogumi(*args: str, cwd: Path = ROOT, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """``cogumi ARGS`` in a fresh interpreter, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "cogumi.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def example_metadata(training_temp: float, category: str = "math", problem_id: str = "p0") -> dict:
    """The metadata of a distilled example, in the filter's schema."""
    return {"category": category, "problem_id": problem_id, "answer": None, "is_correct": None,
            "generation_temp": 0.0, "training_temp": training_temp, "agreement_rate": None, "num_samples": 1,
            "source": "test"}


def processes_with(*markers: str) -> set[int]:
    """The processes whose command line holds every one of ``markers``, one of them a string unique
    to the test that started them (a test looks at no process of the machine's but its own)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                line = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if all(marker.encode() in line for marker in markers):
                found.add(int(entry.name))
    return found


def nonce() -> str:
    """A string no other process of the machine holds: a marker for the processes a test starts."""
    import uuid

    return uuid.uuid4().hex[:12]
