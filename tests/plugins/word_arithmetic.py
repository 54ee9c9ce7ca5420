"""A category implemented outside cogumi, as a user would write one: arithmetic whose answers are
checked by exact value, written in digits or in words ("seven", "12")."""

from __future__ import annotations

import re

from cogumi.categories import Category
from cogumi.types import Decoding, Verdict

WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen twenty").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}


def value_of(token: str) -> int | None:
    """12, "twelve" or "thirty-four" as a number; None for anything else."""
    token = token.lower().strip(".,!?$")
    if token.lstrip("-").isdigit():
        return int(token)
    if token in WORDS:
        return WORDS.index(token)
    tens, _, unit = token.partition("-")
    if tens in _TENS and (not unit or unit in WORDS[1:10]):
        return _TENS[tens] + (WORDS.index(unit) if unit else 0)
    return None


def in_words(n: int) -> str:
    if n <= 20:
        return WORDS[n]
    tens = {v: k for k, v in _TENS.items()}[n // 10 * 10]
    return tens + ("-" + WORDS[n % 10] if n % 10 else "")


class WordArithmetic(Category):
    name = "words"
    default_decoding = Decoding(0.0, 1, 64)
    fields = ("prompt", "answer")

    def __init__(self, last_only: bool = True):
        """``last_only``: judge only the last number of the response (else any number in it)."""
        super().__init__()
        self.last_only = last_only

    def options(self) -> dict:
        return {"last_only": self.last_only}

    def judge_one(self, problem, text, finished):
        found = [v for v in (value_of(t) for t in re.findall(r"[\w-]+", text or "")) if v is not None]
        if not found:
            return Verdict(None, False, "no_answer")
        candidates = found[-1:] if self.last_only else found
        answer = str(candidates[-1])
        ok = value_of(problem.answer) in candidates
        return Verdict(answer, ok, "correct" if ok else "incorrect")
