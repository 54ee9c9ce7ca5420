"""Small function-writing tasks with HumanEval-style tests (``check(candidate)``)."""

from __future__ import annotations

import random
from typing import Callable

from cogumi.world.vocab import NUMBER_WORDS

LEVELS = (1, 1, 2)
# family -> (prompt text, function name, argument, body, reference, test inputs); {k} is the constant.
_FAMILIES: dict[str, tuple[str, str, str, str, Callable, tuple]] = {
    "add": ("returns x plus {k}", "add_{w}", "x", "x + {k}", lambda x, k: x + k, (0, 3, 10, -4)),
    "sub": ("returns x minus {k}", "sub_{w}", "x", "x - {k}", lambda x, k: x - k, (0, 3, 10, 25)),
    "mul": ("returns x times {k}", "times_{w}", "x", "x * {k}", lambda x, k: x * k, (0, 2, 7, -3)),
    "div": ("returns True if x is divisible by {k}", "divisible_by_{w}", "x", "x % {k} == 0",
            lambda x, k: x % k == 0, (0, 12, 35, 40, 63)),
    "max": ("returns the larger of x and {k}", "at_least_{w}", "x", "max(x, {k})",
            lambda x, k: max(x, k), (0, 5, 12, -2)),
    "repeat": ("returns the string s repeated {k} times", "repeat_{w}", "s", "s * {k}",
               lambda s, k: s * k, ("ab", "x", "")),
    "count": ("returns how many times {k} appears in the list xs", "count_{w}", "xs", "xs.count({k})",
              lambda xs, k: xs.count(k), ([1, 2, 3], [5, 5, 1, 5], [], [7, 7, 8, 9, 9, 9])),
    "affine": ("returns x times {k} plus {j}", "times_{w}_plus_{v}", "x", "x * {k} + {j}",
               lambda x, k, j: x * k + j, (0, 1, 4, -2)),
}


def sample(rng: random.Random, difficulty: int):
    from cogumi.world import Problem

    family = "affine" if difficulty == 2 else rng.choice([f for f in _FAMILIES if f != "affine"])
    k = rng.randint(2, 9 if family == "affine" else 15)
    j = rng.randint(1, 9)
    text, name, arg, body, reference, inputs = _FAMILIES[family]
    fill = {"k": k, "j": j, "w": NUMBER_WORDS[k], "v": NUMBER_WORDS[j]}
    name = name.format(**fill)
    prompt = f"Write a Python function {name}({arg}) that {text.format(**fill)}."
    args = (k, j) if family == "affine" else (k,)
    asserts = "".join(f"    assert candidate({x!r}) == {reference(x, *args)!r}\n" for x in inputs)
    return Problem(id="", category="code", prompt=prompt, key=f"code:{family}:{k}" + (f":{j}" if family == "affine" else ""),
                   difficulty=difficulty, tests=f"def check(candidate):\n{asserts}", entry_point=name,
                   spec={"family": family, "k": k, "j": j, "name": name, "arg": arg})


def respond(problem, rng: random.Random, noise: float) -> str:
    spec = problem.spec
    k, j = spec["k"], spec["j"]
    if rng.random() < noise:
        k = k + rng.choice((-1, 1))
    body = _FAMILIES[spec["family"]][3].format(k=k, j=j)
    return f"```python\ndef {spec['name']}({spec['arg']}):\n    return {body}\n```"
