"""Instructions with checkable constraints (word counts, case, bullets, keywords, endings)."""

from __future__ import annotations

import random

from cogumi.world.vocab import TOPIC_WORDS, TOPICS

LEVELS = (1, 2)
KEYWORDS = ("light", "dream", "stone", "song", "path", "heart")


def sample(rng: random.Random, difficulty: int):
    from cogumi.world import Problem

    topic, n = rng.choice(TOPICS), rng.randint(2, 6)
    form = rng.choice(("words", "bullets", "keyword") if difficulty == 1 else ("upper", "lower"))
    if form == "words":
        prompt, constraints = f"Write exactly {n} words about {topic}.", {"num_words": n}
    elif form == "upper":
        prompt = f"Write exactly {n} words about {topic}, all in uppercase."
        constraints = {"num_words": n, "case": "upper"}
    elif form == "bullets":
        prompt = f"List {n} things about {topic}, one per line, each starting with '- '."
        constraints = {"num_bullets": n}
    elif form == "keyword":
        n = 0
        kw = rng.choice(KEYWORDS)
        prompt = f"Write a sentence about {topic} that includes the word '{kw}'."
        constraints = {"keywords": [kw]}
    else:
        n = 0
        prompt = f"Write a sentence about {topic} in lowercase that ends with '!'."
        constraints = {"case": "lower", "end_with": "!"}
    return Problem(id="", category="instruction", prompt=prompt, key=f"instruction:{form}:{topic}:{n}:{constraints.get('keywords')}",
                   difficulty=difficulty, constraints=constraints, spec={"form": form, "topic": topic})


def _words(rng: random.Random, topic: str, n: int) -> list[str]:
    pool = [w for group in ("adjectives", "nouns", "verbs") for w in TOPIC_WORDS[group]]
    return [topic.split()[-1]] + [rng.choice(pool) for _ in range(n - 1)]


def respond(problem, rng: random.Random, noise: float) -> str:
    c, topic = problem.constraints, problem.spec["topic"]
    wrong = rng.random() < noise
    n = c.get("num_words") or c.get("num_bullets") or 0
    if wrong and n:
        n = max(1, n + rng.choice((-1, 1)))
    if "num_bullets" in c:
        return "\n".join(f"- {topic.split()[-1]} {w}" for w in _words(rng, topic, n))
    if "num_words" in c:
        text = " ".join(_words(rng, topic, n))
        return text.upper() if c.get("case") == "upper" and not wrong else text
    words = _words(rng, topic, rng.randint(4, 7))
    if "keywords" in c and not wrong:
        words.insert(rng.randint(1, len(words)), c["keywords"][0])
    sentence = " ".join(words)
    if c.get("case") == "lower":
        return sentence + ("." if wrong else "!")
    return sentence[0].upper() + sentence[1:] + "."
