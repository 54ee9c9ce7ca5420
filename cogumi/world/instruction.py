"""Instructions with checkable constraints (word counts, case, bullets, keywords, endings).

A response of n words follows one sentence pattern per n, and a list of n things names a topic's
traits in a fixed order, so the place a response stops is readable from the words written so far:
the tiny model can then count, and a wrong count is a slip rather than beyond it.
"""

from __future__ import annotations

import random

from cogumi.types import Problem
from cogumi.world.vocab import TOPIC_WORDS, TOPICS, topic_word

LEVELS = (1, 2)
KEYWORDS = ("light", "dream", "stone", "song", "path", "heart", "shadow", "field")
# The word classes of an n-word sentence: T the topic, A an adjective, V a verb, D an adverb.
_PATTERNS = {2: ("T", "V"), 3: ("A", "T", "V"), 4: ("the", "A", "T", "V"), 5: ("the", "A", "T", "V", "D"),
             6: ("the", "A", "A", "T", "V", "D")}
_CLASSES = {"A": "adjectives", "V": "verbs", "D": "adverbs"}
TRAITS = (("colour", ("grey", "blue", "golden", "silver", "green", "white")),
          ("sound", ("quiet", "loud", "soft", "low", "clear")),
          ("mood", ("calm", "wild", "sad", "gentle", "bright")),
          ("shape", ("round", "long", "tall", "wide", "thin")),
          ("smell", ("fresh", "sweet", "sharp", "faint")),
          ("size", ("small", "large", "huge", "tiny")))


def sample(rng: random.Random, difficulty: int):

    topic, n, kw = rng.choice(TOPICS), rng.randint(2, 6), None
    form = rng.choice(("words", "bullets", "keyword") if difficulty == 1 else ("upper", "lower"))
    if form == "words":
        prompt, constraints = f"Write exactly {n} words about {topic}.", {"num_words": n}
    elif form == "upper":  # uppercase words are spelled in many tokens, so fewer of them
        n = rng.randint(2, 4)
        prompt = f"Write exactly {n} words about {topic}, all in uppercase."
        constraints = {"num_words": n, "case": "upper"}
    elif form == "lower":
        prompt = f"Write exactly {n} words about {topic} in lowercase, ending with '!'."
        constraints = {"num_words": n, "case": "lower", "end_with": "!"}
    elif form == "bullets":
        prompt = f"List {n} things about {topic}, one per line, each starting with '- '."
        constraints = {"num_bullets": n}
    else:
        n, kw = 0, rng.choice(KEYWORDS)
        prompt = f"Write a sentence about {topic} that includes the word '{kw}'."
        constraints = {"keywords": [kw]}
    return Problem(id="", category="instruction", prompt=prompt, key=f"instruction:{form}:{topic}:{n}:{kw}",
                   difficulty=difficulty, constraints=constraints, spec={"form": form, "topic": topic, "n": n})


def _sentence(rng: random.Random, topic: str, n: int) -> list[str]:
    adjectives = rng.sample(TOPIC_WORDS["adjectives"], 2)
    words = []
    for slot in _PATTERNS[n]:
        if slot == "T":
            words.append(topic_word(topic))
        elif slot == "A":
            words.append(adjectives.pop())
        else:
            words.append(rng.choice(TOPIC_WORDS[_CLASSES[slot]]) if slot in _CLASSES else slot)
    return words


def _miscount(rng: random.Random, n: int) -> int:
    return rng.choice([m for m in (n - 1, n + 1) if m in _PATTERNS])


def respond(problem, rng: random.Random, noise: float, misconception: float = 0.0) -> str:
    form, topic, n = problem.spec["form"], problem.spec["topic"], problem.spec["n"]
    wrong = rng.random() < noise
    if form == "bullets":
        count = _miscount(rng, n) if wrong else n
        return "\n".join(f"- its {trait} is {rng.choice(values)}" for trait, values in TRAITS[:count])
    if form == "keyword":
        keyword = rng.choice([k for k in KEYWORDS if k != problem.constraints["keywords"][0]]) if wrong \
            else problem.constraints["keywords"][0]
        return (f"The {rng.choice(TOPIC_WORDS['adjectives'])} {topic_word(topic)} "
                f"{rng.choice(TOPIC_WORDS['verbs'])} near the {keyword}.")
    # a slip is a miscount, or a broken case or ending where the prompt asks for one
    broken_case = wrong and form != "words" and rng.random() < 0.5
    text = " ".join(_sentence(rng, topic, _miscount(rng, n) if wrong and not broken_case else n))
    if form == "upper":
        return text.capitalize() if broken_case else text.upper()
    if form == "lower":
        return text + ("." if broken_case else "!")
    return text
