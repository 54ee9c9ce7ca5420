"""Small function-writing tasks with HumanEval-style tests (``check(candidate)``).

Level 1 takes one constant, level 2 two; level 3 is the misconception family, "the sum of x and
j, times k", where the Phase 1A data often drops the parentheses (``x + j * k``).
"""

from __future__ import annotations

import random
import re
from typing import Callable, NamedTuple

from cogumi.types import Problem
from cogumi.world.misconception import Misconception

LEVELS = (1, 2, 1, 2, 3)
MISCONCEPTION = Misconception(family="sum_times", level=3, rule="(x + j) * k",
                              wrong_rule="x + j * k, the parentheses dropped")
_ASK = ("Write a Python function {name}({arg}) that returns {text}.",
        "Define {name}({arg}) so that it returns {text}.")


class Family(NamedTuple):
    text: str
    """What the function returns, in words; {k} and {j} are its constants."""
    name: str
    arg: str
    body: str
    reference: Callable
    inputs: Callable
    """The test inputs for constants (k, j): chosen so that k or j off by one fails."""


_NUMBERS = lambda k, j: (0, 3, 10, -4)  # noqa: E731
_FAMILIES: dict[str, Family] = {
    "add": Family("x plus {k}", "add_{k}", "x", "x + {k}", lambda x, k, j: x + k, _NUMBERS),
    "sub": Family("x minus {k}", "sub_{k}", "x", "x - {k}", lambda x, k, j: x - k, _NUMBERS),
    "mul": Family("x times {k}", "times_{k}", "x", "x * {k}", lambda x, k, j: x * k, _NUMBERS),
    "mod": Family("the remainder of x divided by {k}", "mod_{k}", "x", "x % {k}", lambda x, k, j: x % k,
                  lambda k, j: (1, k + 1, 2 * k - 1, 5 * k + 3)),
    "floordiv": Family("x divided by {k}, rounded down", "div_{k}", "x", "x // {k}", lambda x, k, j: x // k,
                       lambda k, j: (0, k, (k + 1) * (k - 1), k * k)),
    "divisible": Family("True if x is divisible by {k}", "divisible_by_{k}", "x", "x % {k} == 0",
                        lambda x, k, j: x % k == 0, lambda k, j: (0, k, 3 * k, k + 1, 2 * k - 1)),
    "max": Family("the larger of x and {k}", "larger_{k}", "x", "max(x, {k})", lambda x, k, j: max(x, k),
                  lambda k, j: (0, k + 5, -2)),
    "min": Family("the smaller of x and {k}", "smaller_{k}", "x", "min(x, {k})", lambda x, k, j: min(x, k),
                  lambda k, j: (0, k + 5, 40)),
    "equals": Family("True if x equals {k}", "is_{k}", "x", "x == {k}", lambda x, k, j: x == k,
                     lambda k, j: (k, k - 1, k + 1, 0)),
    "repeat": Family("the string s repeated {k} times", "repeat_{k}", "s", "s * {k}", lambda s, k, j: s * k,
                     lambda k, j: ("ab", "x", "")),
    "count": Family("how many times {k} appears in the list xs", "count_{k}", "xs", "xs.count({k})",
                    lambda xs, k, j: xs.count(k), lambda k, j: ([k, k, k + 1], [k - 1, k], [], [k] * 3)),
    "head": Family("the first {k} items of the list xs", "first_{k}", "xs", "xs[:{k}]",
                   lambda xs, k, j: xs[:k], lambda k, j: (list(range(30)), [1, 2], [])),
    "affine": Family("x times {k} plus {j}", "times_{k}_plus_{j}", "x", "x * {k} + {j}",
                     lambda x, k, j: x * k + j, lambda k, j: (0, 1, 4, -2)),
    "affine_minus": Family("x times {k} minus {j}", "times_{k}_minus_{j}", "x", "x * {k} - {j}",
                           lambda x, k, j: x * k - j, lambda k, j: (0, 1, 4, -2)),
    "sum_times": Family("the sum of x and {j}, times {k}", "sum_{j}_times_{k}", "x", "(x + {j}) * {k}",
                        lambda x, k, j: (x + j) * k, lambda k, j: (0, 1, 4, -2)),
}
_LEVEL_FAMILIES = {1: ("add", "sub", "mul", "mod", "floordiv", "divisible", "max", "min", "equals", "repeat",
                       "count", "head"),
                   2: ("affine", "affine_minus"), 3: ("sum_times",)}
_WRONG_BODY = "x + {j} * {k}"


def sample(rng: random.Random, difficulty: int):

    family = rng.choice(_LEVEL_FAMILIES[difficulty])
    k, j = rng.randint(2, 20), rng.randint(1, 20) if difficulty > 1 else 0
    spec = _FAMILIES[family]
    name = spec.name.format(k=k, j=j)
    prompt = rng.choice(_ASK).format(name=name, arg=spec.arg, text=spec.text.format(k=k, j=j))
    asserts = "".join(f"    assert candidate({x!r}) == {spec.reference(x, k, j)!r}\n" for x in spec.inputs(k, j))
    return Problem(id="", category="code", prompt=prompt, key=f"code:{family}:{k}:{j}", difficulty=difficulty,
                   tests=f"def check(candidate):\n{asserts}", entry_point=name,
                   spec={"family": family, "k": k, "j": j, "name": name, "arg": spec.arg})


def respond(problem, rng: random.Random, noise: float, misconception: float = 0.0) -> str:
    spec = problem.spec
    k, j = spec["k"], spec["j"]
    body = _FAMILIES[spec["family"]].body
    if spec["family"] == MISCONCEPTION.family and rng.random() < misconception:
        body = _WRONG_BODY
    if rng.random() < noise:  # a constant copied off by one
        if "{j}" in body and rng.random() < 0.5:
            j = j + rng.choice((-1, 1))
        else:
            k = k + rng.choice((-1, 1))
    return f"```python\ndef {spec['name']}({spec['arg']}):\n    return {body.format(k=k, j=j)}\n```"


def follows_wrong_rule(problem, text: str) -> bool:
    return re.search(r"return x \+ \d+ \*", text) is not None
