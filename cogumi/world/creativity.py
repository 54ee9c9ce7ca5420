"""Short creative prompts: poems, one-line stories and descriptions of a topic."""

from __future__ import annotations

import random

from cogumi.types import Problem
from cogumi.world.vocab import TOPIC_WORDS, TOPICS

LEVELS = (1,)
FORMS = {"poem": "Write a short poem about {t}.", "story": "Write a one-line story about {t}.",
         "describe": "Describe {t} in two sentences.", "song": "Write a short song about {t}.",
         "scene": "Paint a scene of {t} in words.", "sentence": "Write one sentence about {t}."}
_LINES = {"poem": (2, 3), "story": (1, 1), "describe": (2, 2), "song": (2, 3), "scene": (1, 2), "sentence": (1, 1)}


def sample(rng: random.Random, difficulty: int):

    form, topic = rng.choice(sorted(FORMS)), rng.choice(TOPICS)
    return Problem(id="", category="creativity", prompt=FORMS[form].format(t=topic),
                   key=f"creativity:{form}:{topic}", difficulty=difficulty,
                   spec={"form": form, "topic": topic})


def _sentence(rng: random.Random, topic: str, first: bool) -> str:
    w = TOPIC_WORDS
    subject = topic if first else f"the {rng.choice(w['adjectives'])} {rng.choice(w['nouns'])}"
    return (f"{subject[0].upper()}{subject[1:]} {rng.choice(w['verbs'])} near "
            f"{rng.choice(w['places'])}, {rng.choice(w['adjectives'])} as a {rng.choice(w['nouns'])}.")


def respond(problem, rng: random.Random, noise: float, misconception: float = 0.0) -> str:
    form, topic = problem.spec["form"], problem.spec["topic"]
    if rng.random() < noise:  # a degenerate repetition loop, the failure the filter must catch
        return " ".join([f"{topic} {rng.choice(TOPIC_WORDS['verbs'])}"] * 6)
    low, high = _LINES[form]
    lines = [_sentence(rng, topic, i == 0) for i in range(rng.randint(low, high))]
    return ("\n" if form in ("poem", "song") else " ").join(lines)
