"""The embedded tiny world: seeded synthetic problems for all six categories.

Every category module exposes ``sample(rng, difficulty) -> Problem`` and
``respond(problem, rng, noise) -> str``; ``respond`` writes a worked solution, with mistakes at
rate ``noise`` (the deliberately imperfect data the Phase 1A adapter is trained on).

Problems are assigned to the ``pretrain``, ``distill`` and ``benchmark`` splits by a hash of their
canonical key, independent of any seed, so the same problem never lands in two splits and the
Phase 1A checkpoint never saw a distill or benchmark problem whatever seed a run uses.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

CATEGORIES = ("math", "code", "reasoning", "creativity", "knowledge", "instruction")
SPLITS = ("pretrain", "distill", "benchmark")
# Share of each category's problem space that belongs to each split (pretrain takes the rest).
SPLIT_FRACTIONS = {"benchmark": 0.25, "distill": 0.35}
# Consecutive repeats after which a difficulty level counts as exhausted.
_EXHAUSTED_AFTER = 3000


@dataclass(frozen=True)
class Problem:
    """One problem with everything its verifier needs."""

    id: str
    category: str
    prompt: str
    key: str
    difficulty: int = 1
    answer: str | None = None
    aliases: tuple[str, ...] = ()
    tests: str | None = None
    entry_point: str | None = None
    constraints: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    source: str = "tiny"

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["aliases"] = list(self.aliases)
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Problem:
        return cls(**{**row, "aliases": tuple(row.get("aliases", ()))})


def check_categories(names, setting: str) -> None:
    """Refuse a config key that names a category the project does not have (a typo, usually) or,
    for a count or rate per category, gives one a negative value."""
    unknown = set(names) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"{setting} names unknown categories {sorted(unknown)}; use {list(CATEGORIES)}")
    negative = {k: v for k, v in names.items() if v < 0} if isinstance(names, dict) else {}
    if negative:
        raise ValueError(f"{setting} must not be negative, got {negative}")


def split_of(key: str) -> str:
    """The split a problem key belongs to: a fixed hash, so the partition never moves."""
    u = int.from_bytes(hashlib.sha256(f"cogumi-tiny-v1|{key}".encode()).digest()[:8], "big") / 2**64
    if u < SPLIT_FRACTIONS["benchmark"]:
        return "benchmark"
    if u < SPLIT_FRACTIONS["benchmark"] + SPLIT_FRACTIONS["distill"]:
        return "distill"
    return "pretrain"


def category_module(category: str) -> ModuleType:
    from cogumi.world import code, creativity, instruction, knowledge, reasoning
    from cogumi.world import math as math_world

    modules = {"math": math_world, "code": code, "reasoning": reasoning,
               "creativity": creativity, "knowledge": knowledge, "instruction": instruction}
    if category not in modules:
        raise ValueError(f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}")
    return modules[category]


def make_split(category: str, split: str, n: int, seed: int, *, at_most: bool = False) -> list[Problem]:
    """Draw ``n`` distinct problems of ``category`` from ``split``, reproducibly from ``seed``.

    Difficulty levels are interleaved so every prefix of the list spans the difficulty range; a level
    whose problems run out drops from the rotation. With ``at_most`` a split smaller than ``n`` gives
    all it has; otherwise that is an error.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    module = category_module(category)
    rng = random.Random(f"{seed}|{category}|{split}")
    problems: list[Problem] = []
    seen: set[str] = set()
    levels = list(module.LEVELS)
    misses = 0
    while len(problems) < n and levels:
        problem = module.sample(rng, levels[len(problems) % len(levels)])
        if problem.key in seen or split_of(problem.key) != split:
            misses += 1
            if misses > _EXHAUSTED_AFTER:  # this level has nothing new left
                levels.remove(problem.difficulty)
                misses = 0
            continue
        misses = 0
        seen.add(problem.key)
        problems.append(Problem(**{**problem.__dict__, "id": f"{category}-{split}-{len(problems):05d}"}))
    if len(problems) < n and not at_most:
        raise ValueError(
            f"the tiny world has only {len(problems)} distinct {category} problems in the {split} split, "
            f"fewer than the {n} asked for; lower the count for {category}")
    return problems


def respond(problem: Problem, rng: random.Random, noise: float = 0.0) -> str:
    """A worked solution of ``problem``; mistakes appear at rate ``noise``."""
    return category_module(problem.category).respond(problem, rng, noise)
