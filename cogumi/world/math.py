"""Arithmetic word problems: a start value and one or two operations, worked step by step.

Level 5 is the misconception family: "N boxes with M items in each", where the Phase 1A data
often adds the two numbers instead of multiplying them.
"""

from __future__ import annotations

import random

from cogumi.types import Problem
from cogumi.world.misconception import Misconception
from cogumi.world.vocab import ITEMS, NAMES

LEVELS = (1, 2, 3, 4, 5)
MISCONCEPTION = Misconception(family="groups", level=5, rule="N boxes with M in each hold N * M",
                              wrong_rule="N boxes with M in each hold N + M")
_PLUS = ("{n} gets {b} more {item}.", "{n} finds {b} more.", "{n} buys {b} more.")
_MINUS = ("{n} gives away {b}.", "{n} loses {b}.", "{n} sells {b}.")
_TIMES = {2: "The number of {item} doubles.", 3: "The number of {item} triples."}
_BARE = {"+": "Add {b}.", "-": "Subtract {b}.", "*": "Multiply by {b}."}
_GROUPS = ("{n} has {a} boxes with {b} {item} in each box.", "{n} has {a} bags with {b} {item} in each bag.",
           "{n} fills {a} jars with {b} {item} in each jar.")


def _apply(value: int, op: str, b: int) -> int:
    return value + b if op == "+" else value - b if op == "-" else value * b


def _run(start: int, ops) -> list[int]:
    values = [start]
    for op, b in ops:
        values.append(_apply(values[-1], op, b))
    return values


def _ops(rng: random.Random, difficulty: int) -> tuple[int, list[tuple[str, int]]]:
    """Harder levels take larger numbers, two steps, then multiplication; values stay in 0..30 (a
    wider range is more arithmetic than the tiny model learns in the rebuild's time)."""
    steps = 1 if difficulty <= 2 else 2
    while True:
        start = rng.randint(2, 15) if difficulty == 1 else rng.randint(16, 30) if difficulty == 2 else rng.randint(2, 30)
        ops: list[tuple[str, int]] = []
        for _ in range(steps):
            op = rng.choice("+-*" if difficulty == 4 else "+-")
            ops.append((op, rng.randint(2, 3) if op == "*" else rng.randint(1, 9)))
        if all(0 <= v <= 30 for v in _run(start, ops)) and (difficulty < 4 or any(op == "*" for op, _ in ops)):
            return start, ops


def _groups(rng: random.Random):
    """The misconception family: a groups of b, then one more step; both rules stay in 0..30."""
    while True:
        a, b, c, op = rng.randint(2, 9), rng.randint(2, 9), rng.randint(1, 9), rng.choice("+-")
        values = _run(a, [("*", b), (op, c)]) + _run(a, [("+", b), (op, c)])
        if a * b != a + b and 0 <= min(values) and max(values) <= 30:
            name, item = rng.choice(NAMES), rng.choice(ITEMS)
            then = rng.choice(_PLUS if op == "+" else _MINUS).format(n=name, b=c, item=item)
            prompt = (f"{rng.choice(_GROUPS).format(n=name, a=a, b=b, item=item)} {then} "
                      f"How many {item} does {name} have now?")
            return a, [("*", b), (op, c)], prompt, f"math:groups:{a}x{b}{op}{c}"


def sample(rng: random.Random, difficulty: int):

    if difficulty == MISCONCEPTION.level:
        start, ops, prompt, key = _groups(rng)
        wrong = _run(start, [("+", ops[0][1]), *ops[1:]])[-1]
        return Problem(id="", category="math", prompt=prompt, key=key, difficulty=difficulty,
                       answer=str(_run(start, ops)[-1]),
                       spec={"start": start, "ops": ops, "family": "groups", "wrong_answer": str(wrong)})
    start, ops = _ops(rng, difficulty)
    if rng.random() < 0.5:
        name, item = rng.choice(NAMES), rng.choice(ITEMS)
        parts = [f"{name} has {start} {item}."]
        for op, b in ops:
            template = _TIMES[b] if op == "*" else rng.choice(_PLUS if op == "+" else _MINUS)
            parts.append(template.format(n=name, b=b, item=item))
        parts.append(f"How many {item} does {name} have now?")
    else:
        parts = [f"Start with {start}."] + [_BARE[op].format(b=b) for op, b in ops]
        parts.append("What number do you get?")
    key = "math:" + str(start) + "".join(f"{op}{b}" for op, b in ops)
    return Problem(id="", category="math", prompt=" ".join(parts), key=key, difficulty=difficulty,
                   answer=str(_run(start, ops)[-1]), spec={"start": start, "ops": ops, "family": "steps"})


def respond(problem, rng: random.Random, noise: float, misconception: float = 0.0) -> str:
    ops = list(problem.spec["ops"])
    if problem.spec.get("family") == MISCONCEPTION.family and rng.random() < misconception:
        ops[0] = ("+", ops[0][1])  # the wrong rule: the boxes and their contents are added
    value = problem.spec["start"]
    lines = []
    for op, b in ops:
        result = _apply(value, op, b)
        if rng.random() < noise:  # a slip of the operation or of the tens digit
            slips = [_apply(value, other, b) for other in "+-" if other != op] + [result + 10, result - 10]
            result = rng.choice([v for v in slips if v >= 0 and v != result])
        lines.append(f"{value} {op} {b} = {result}.")
        value = result
    lines.append(f"The answer is \\boxed{{{value}}}.")
    return " ".join(lines)


def follows_wrong_rule(problem, text: str) -> bool:
    a, (_, b) = problem.spec["start"], problem.spec["ops"][0]
    return text.startswith(f"{a} + {b} =")
