"""Day-of-week reasoning: a chain of events offset from today, answered with one weekday."""

from __future__ import annotations

import random

from cogumi.world.vocab import NAMES

LEVELS = (1, 2, 3)  # 1: one step; 2: two steps forward; 3: two steps, one of them backward
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
EVENTS = ("party", "game", "trip", "concert", "picnic", "race", "fair", "show", "meeting", "lesson")


def sample(rng: random.Random, difficulty: int):
    from cogumi.world import Problem

    start = rng.randrange(7)
    events = rng.sample(EVENTS, 1 if difficulty == 1 else 2)
    offsets = [rng.randint(1, 6)] + [(-1 if difficulty == 3 else 1) * rng.randint(1, 6) for _ in events[1:]]
    name = rng.choice(NAMES)
    parts = [f"Today is {DAYS[start]}.", f"{name}'s {events[0]} is in {offsets[0]} days."]
    for i in range(1, len(events)):
        side = "after" if offsets[i] > 0 else "before"
        parts.append(f"The {events[i]} is {abs(offsets[i])} days {side} the {events[i - 1]}.")
    parts.append(f"On what day is the {events[-1]}?")
    answer = DAYS[(start + sum(offsets)) % 7]
    key = f"reasoning:{start}:" + ",".join(map(str, offsets))
    return Problem(id="", category="reasoning", prompt=" ".join(parts), key=key,
                   difficulty=difficulty, answer=answer, spec={"start": start, "offsets": offsets})


def respond(problem, rng: random.Random, noise: float) -> str:
    day = problem.spec["start"]
    lines = []
    for offset in problem.spec["offsets"]:
        result = (day + offset) % 7
        if rng.random() < noise:
            result = (result + rng.choice((-1, 1))) % 7
        sign = "+" if offset > 0 else "-"
        lines.append(f"{DAYS[day]} {sign} {abs(offset)} days = {DAYS[result]}.")
        day = result
    lines.append(f"The answer is {DAYS[day]}.")
    return " ".join(lines)
