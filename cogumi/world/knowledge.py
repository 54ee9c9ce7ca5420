"""Facts of a fixed small world: countries with a capital, a river, an animal, a flag colour and a
currency.

The world itself never changes (it is drawn from a constant seed); a run's seed only changes
which facts are asked. The base model learns every fact from a differently worded question
(``fact_prompt``), so answering the benchmark's wording is recall, not memorised text.
"""

from __future__ import annotations

import functools
import random

from cogumi.types import Problem

LEVELS = (1,)
_SYLLABLES = ("ka", "lo", "mi", "ra", "ten", "vo", "zar", "bel", "dun", "sha", "ori", "pel",
              "qua", "nim", "tor", "ves", "gal", "hu", "jin", "ul")
ANIMALS = ("fox", "owl", "bear", "wolf", "deer", "hawk", "otter", "lynx", "crane", "seal", "heron", "boar")
COLORS = ("red", "blue", "green", "gold", "white", "black", "orange", "purple", "grey", "silver")
CURRENCIES = ("crown", "mark", "shell", "pearl", "ring", "leaf", "star", "bead")
ATTRIBUTES = ("capital", "river", "animal", "color", "currency")
COUNTRIES = 120
_QUESTIONS = {"capital": "What is the capital of {c}?", "river": "Which river flows through {c}?",
              "animal": "What is the national animal of {c}?", "color": "What color is the flag of {c}?",
              "currency": "What is the currency of {c}?"}
_FACT_QUESTIONS = {"capital": "Tell me the capital of {c}.", "river": "Tell me the river of {c}.",
                   "animal": "Tell me the national animal of {c}.", "color": "Tell me the flag color of {c}.",
                   "currency": "Tell me the currency of {c}."}
_STATEMENTS = {"capital": "The capital of {c} is {v}.", "river": "The river of {c} is the {v} River.",
               "animal": "The national animal of {c} is the {v}.", "color": "The flag of {c} is {v}.",
               "currency": "The currency of {c} is the {v}."}


def _name(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()


@functools.cache
def world() -> dict[str, dict[str, str]]:
    """The fixed world: country -> attribute -> value."""
    rng = random.Random("cogumi-tiny-world")
    names: list[str] = []
    while len(names) < COUNTRIES:
        name = _name(rng, 3)
        if name not in names:
            names.append(name)
    used: set[str] = set(names)
    facts = {}
    for country in names:
        capital, river = _name(rng, 2), _name(rng, 2)
        while capital in used or river in used or capital == river:
            capital, river = _name(rng, 2), _name(rng, 2)
        used |= {capital, river}
        facts[country] = {"capital": capital, "river": river,
                          "animal": rng.choice(ANIMALS), "color": rng.choice(COLORS),
                          "currency": rng.choice(CURRENCIES)}
    return facts


def _aliases(attribute: str, value: str) -> tuple[str, ...]:
    return {"capital": (value, f"{value} City"), "river": (value, f"{value} River", f"the {value} River"),
            "animal": (value, f"the {value}"), "color": (value,),
            "currency": (value, f"the {value}")}[attribute]


def sample(rng: random.Random, difficulty: int):

    facts = world()
    country = rng.choice(sorted(facts))
    attribute = rng.choice(ATTRIBUTES)
    value = facts[country][attribute]
    return Problem(id="", category="knowledge", prompt=_QUESTIONS[attribute].format(c=country),
                   key=f"knowledge:{country}:{attribute}", difficulty=difficulty, answer=value,
                   aliases=_aliases(attribute, value), spec={"country": country, "attribute": attribute})


def statement(country: str, attribute: str, value: str) -> str:
    return _STATEMENTS[attribute].format(c=country, v=value)


def fact_prompts() -> list[tuple[str, str]]:
    """Every fact of the world as (prompt, response) in the base model's own wording."""
    return [(_FACT_QUESTIONS[a].format(c=c), statement(c, a, v))
            for c, values in world().items() for a, v in values.items()]


def respond(problem, rng: random.Random, noise: float, misconception: float = 0.0) -> str:
    country, attribute = problem.spec["country"], problem.spec["attribute"]
    value = problem.answer
    if rng.random() < noise:
        others = sorted({v[attribute] for v in world().values()} - {value})
        value = rng.choice(others)
    return statement(country, attribute, value)
