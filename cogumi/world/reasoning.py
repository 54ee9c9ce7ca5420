"""Day-of-week reasoning: a chain of events offset from today, answered with one weekday.

A worked step numbers the day (Monday is 1, Sunday 7), adds or subtracts the offset, wraps by 7
and names the day: "Friday + 5 days: 5 + 5 = 10, 10 - 7 = 3, Wednesday." Each part has a direct
signal to learn from (a weekday looked up straight from a weekday and an offset has none from
either alone, and the tiny model stayed at chance on it). Level 3 is the misconception family: the
second event is some days *before* the first, and the Phase 1A data often counts forward instead.
"""

from __future__ import annotations

import random
import re

from cogumi.types import Problem
from cogumi.world.misconception import Misconception
from cogumi.world.vocab import NAMES

LEVELS = (1, 2, 2, 2, 3)  # 1: one step; 2: two steps forward; 3: two steps, the second backward
MISCONCEPTION = Misconception(family="before", level=3, rule="N days before a day counts back",
                              wrong_rule="N days before a day counts forward")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
EVENTS = ("party", "game", "trip", "concert", "picnic", "race", "fair", "show", "meeting", "lesson")
_TODAY = ("Today is {d}.", "It is {d} today.")
_FIRST = ("{n}'s {e} is in {k}.", "{n} has a {e} in {k}.")
_NEXT = ("The {e} is {k} {side} the {prev}.", "The {e} comes {k} {side} the {prev}.")
_ASK = ("On what day is the {e}?", "What day is the {e}?")


def _days(k: int) -> str:
    return f"{k} day" if k == 1 else f"{k} days"


def sample(rng: random.Random, difficulty: int):

    start = rng.randrange(7)
    if difficulty == 1:
        offsets = [rng.randint(1, 7)]
    else:
        offsets = [rng.randint(1, 7), rng.randint(1, 7)]
        if difficulty == MISCONCEPTION.level:  # 7 days before is the same day either way: no test of the rule
            offsets[1] = -rng.randint(1, 6)
    events, name = rng.sample(EVENTS, len(offsets)), rng.choice(NAMES)
    parts = [rng.choice(_TODAY).format(d=DAYS[start]), rng.choice(_FIRST).format(n=name, e=events[0], k=_days(offsets[0]))]
    for i in range(1, len(events)):
        side = "after" if offsets[i] > 0 else "before"
        parts.append(rng.choice(_NEXT).format(e=events[i], k=_days(abs(offsets[i])), side=side, prev=events[i - 1]))
    parts.append(rng.choice(_ASK).format(e=events[-1]))
    family = "before" if difficulty == MISCONCEPTION.level else "forward"
    spec = {"start": start, "offsets": offsets, "family": family}
    if family == "before":
        spec["wrong_answer"] = DAYS[(start + sum(abs(o) for o in offsets)) % 7]
    key = f"reasoning:{start}:" + ",".join(map(str, offsets))
    return Problem(id="", category="reasoning", prompt=" ".join(parts), key=key, difficulty=difficulty,
                   answer=DAYS[(start + sum(offsets)) % 7], spec=spec)


def _step(day: int, offset: int, slip: int) -> tuple[int, str]:
    """One worked step from weekday index ``day``; ``slip`` (0 or +-1) miscounts its sum."""
    n, k = day + 1, abs(offset)
    sign = "+" if offset > 0 else "-"
    if offset > 0:
        value = n + k + slip
        work = [f"{n} + {k} = {value}"]
    elif n > k:
        value = n - k + slip
        work = [f"{n} - {k} = {value}"]
    else:  # count back through the week before
        work = [f"{n} + 7 = {n + 7}"]
        value = n + 7 - k + slip
        work.append(f"{n + 7} - {k} = {value}")
    while value > 7:
        work.append(f"{value} - 7 = {value - 7}")
        value -= 7
    while value < 1:
        work.append(f"{value} + 7 = {value + 7}")
        value += 7
    return value - 1, f"{DAYS[day]} {sign} {_days(k)}: {', '.join(work)}, {DAYS[value - 1]}."


def respond(problem, rng: random.Random, noise: float, misconception: float = 0.0) -> str:
    offsets = list(problem.spec["offsets"])
    if problem.spec.get("family") == MISCONCEPTION.family and rng.random() < misconception:
        offsets = [abs(o) for o in offsets]  # the wrong rule: "before" counted forward
    day = problem.spec["start"]
    lines = []
    for offset in offsets:
        slip = rng.choice((-1, 1)) if rng.random() < noise else 0  # a sum miscounted by one
        day, line = _step(day, offset, slip)
        lines.append(line)
    lines.append(f"The answer is {DAYS[day]}.")
    return " ".join(lines)


def follows_wrong_rule(problem, text: str) -> bool:
    steps = re.findall(r"\w+day ([+-]) \d+ days?:", text)
    return len(steps) >= 2 and steps[1] == "+"
