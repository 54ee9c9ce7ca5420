"""The embedded tiny world: seeded synthetic problems for all six categories.

Every category module exposes ``LEVELS``, ``sample(rng, difficulty) -> Problem`` and
``respond(problem, rng, noise, misconception) -> str``; ``respond`` writes a worked solution, with
independent slips at rate ``noise`` (the deliberately imperfect data the Phase 1A adapter is trained
on). Math, code and reasoning also hold one ``MISCONCEPTION``: a family of problems, recognisable
from the prompt, on which ``respond`` follows a wrong rule at rate ``misconception``; where that rate
is above one half, a model trained on the data answers those problems wrongly when greedy and
rightly only some of the times it samples.

Problems are assigned to the ``pretrain``, ``distill`` and ``benchmark`` splits by a hash of their
canonical key, independent of any seed, so the same problem never lands in two splits and the
Phase 1A checkpoint never saw a distill or benchmark problem whatever seed a run uses.
"""

from __future__ import annotations

import hashlib
import importlib
import random
from dataclasses import replace
from types import ModuleType

from cogumi.types import Problem
from cogumi.world.misconception import Misconception

# The categories with a generator module here, in the order the tiny checkpoint's build draws them
# (the order its training data, and so its bytes, depend on).
CATEGORIES = ("math", "code", "reasoning", "creativity", "knowledge", "instruction")
SPLITS = ("pretrain", "distill", "benchmark")
# Share of each category's problem space that belongs to each split (pretrain takes the rest).
SPLIT_FRACTIONS = {"benchmark": 0.25, "distill": 0.35}
# Consecutive repeats after which a difficulty level counts as exhausted.
_EXHAUSTED_AFTER = 3000


def check_categories(names, setting: str) -> None:
    """Refuse a config key that names a category the project does not have (a typo, usually) or,
    for a count or rate per category, gives one a negative value."""
    unknown = set(names) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"{setting} names unknown categories {sorted(unknown)}; use {list(CATEGORIES)}")
    negative = {k: v for k, v in names.items() if v < 0} if isinstance(names, dict) else {}
    if negative:
        raise ValueError(f"{setting} must not be negative, got {negative}")


def hash_unit(text: str) -> float:
    """A fixed number in [0, 1) for ``text`` (its sha256), from which a split is read."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def split_of(key: str) -> str:
    """The split a problem key belongs to: a fixed hash, so the partition never moves."""
    u = hash_unit(f"cogumi-tiny-v1|{key}")
    if u < SPLIT_FRACTIONS["benchmark"]:
        return "benchmark"
    if u < SPLIT_FRACTIONS["benchmark"] + SPLIT_FRACTIONS["distill"]:
        return "distill"
    return "pretrain"


def has_problems(category: str) -> bool:
    """Whether the tiny world generates problems of ``category`` (a module of this package)."""
    return category in CATEGORIES


def category_module(category: str) -> ModuleType:
    """The generator module of ``category``: ``cogumi.world.<category>``."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}")
    return importlib.import_module(f"{__name__}.{category}")


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


def draw_pretrain(category: str, n: int, seed: int) -> list[Problem]:
    """``n`` training problems of ``category`` from the pretrain split, each drawn afresh.

    Unlike ``make_split`` a problem may come back, with other names and wording around the same
    numbers, so a model trained on them learns the rule rather than the sentence (with each problem
    worded once, the tiny model memorised its few hundred day-of-week prompts and answered new
    ones at chance). Levels are interleaved as in ``make_split``.
    """
    module = category_module(category)
    rng = random.Random(f"{seed}|{category}|pretrain-draws")
    problems: list[Problem] = []
    misses = 0
    while len(problems) < n:
        problem = module.sample(rng, module.LEVELS[len(problems) % len(module.LEVELS)])
        if split_of(problem.key) != "pretrain":
            misses += 1
            if misses > _EXHAUSTED_AFTER:
                raise ValueError(f"level {problem.difficulty} of {category} has no pretrain problems")
            continue
        misses = 0
        problems.append(replace(problem, id=f"{category}-pretrain-{len(problems):05d}"))
    return problems


def misconception_of(category: str) -> Misconception | None:
    """The wrong rule ``category``'s Phase 1A data can prefer, or None where it has none."""
    return getattr(category_module(category), "MISCONCEPTION", None)


def respond(problem: Problem, rng: random.Random, noise: float = 0.0, misconception: float = 0.0) -> str:
    """A worked solution of ``problem``: slips at rate ``noise``, and on its category's misconception
    family the wrong rule at rate ``misconception``."""
    return category_module(problem.category).respond(problem, rng, noise, misconception)


def in_misconception_family(problem: Problem) -> bool:
    """Whether ``problem`` belongs to its category's misconception family."""
    found = misconception_of(problem.category)
    return found is not None and problem.spec.get("family") == found.family


def follows_wrong_rule(problem: Problem, text: str) -> bool:
    """Whether ``text`` applies its category's wrong rule to ``problem`` (False off the family)."""
    return in_misconception_family(problem) and category_module(problem.category).follows_wrong_rule(problem, text)
