"""Arithmetic word problems: a start value and one or two operations, worked step by step."""

from __future__ import annotations

import random

from cogumi.world.vocab import ITEMS, NAMES

LEVELS = (1, 2, 3, 4)
_PLUS = ("{n} gets {b} more {item}.", "{n} finds {b} more.", "{n} buys {b} more.")
_MINUS = ("{n} gives away {b}.", "{n} loses {b}.", "{n} sells {b}.")
_TIMES = {2: "The number of {item} doubles.", 3: "The number of {item} triples."}
_BARE = {"+": "Add {b}.", "-": "Subtract {b}.", "*": "Multiply by {b}."}


def _apply(value: int, op: str, b: int) -> int:
    return value + b if op == "+" else value - b if op == "-" else value * b


def _ops(rng: random.Random, difficulty: int) -> tuple[int, list[tuple[str, int]]]:
    """Harder levels take larger numbers, two steps, then multiplication; values stay in 0..50."""
    steps = 1 if difficulty <= 2 else 2
    while True:
        start = rng.randint(2, 20) if difficulty == 1 else rng.randint(10, 45) if difficulty == 2 else rng.randint(2, 35)
        ops: list[tuple[str, int]] = []
        for _ in range(steps):
            op = rng.choice("+-*" if difficulty == 4 else "+-")
            ops.append((op, rng.randint(2, 3) if op == "*" else rng.randint(1, 9)))
        values = [start]
        for op, b in ops:
            values.append(_apply(values[-1], op, b))
        if all(0 <= v <= 50 for v in values) and (difficulty < 4 or any(op == "*" for op, _ in ops)):
            return start, ops


def sample(rng: random.Random, difficulty: int):
    from cogumi.world import Problem

    start, ops = _ops(rng, difficulty)
    value = start
    for op, b in ops:
        value = _apply(value, op, b)
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
                   answer=str(value), spec={"start": start, "ops": ops})


def respond(problem, rng: random.Random, noise: float) -> str:
    value = problem.spec["start"]
    lines = []
    for op, b in problem.spec["ops"]:
        result = _apply(value, op, b)
        if rng.random() < noise:  # a slip of the operation or of the tens digit
            slips = [_apply(value, other, b) for other in "+-" if other != op] + [result + 10, result - 10]
            result = rng.choice([v for v in slips if v >= 0 and v != result])
        lines.append(f"{value} {op} {b} = {result}.")
        value = result
    lines.append(f"The answer is \\boxed{{{value}}}.")
    return " ".join(lines)
