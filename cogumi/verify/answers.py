"""Short answers (reasoning, knowledge): extraction, and matching by value or normalised text with aliases."""

from __future__ import annotations

import re
import string

_ANSWER_IS = re.compile(r"answer is[:\s]*", re.I)
_PHRASE_END = re.compile(r"\.(?:\s|$)|\n")
_IS = re.compile(r"\bis\s+(.+?)\s*\.?\s*$", re.I | re.S)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def normalise(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (SQuAD-style)."""
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_phrase(text: str) -> str | None:
    """The phrase after the last "answer is", up to the end of its sentence or line; None when the
    text never says "answer is" (or says nothing after it)."""
    said = list(_ANSWER_IS.finditer(text or ""))
    if not said:
        return None
    rest = text[said[-1].end():]
    end = _PHRASE_END.search(rest)
    return (rest[:end.start()] if end else rest).strip() or None


def extract_short_answer(text: str) -> str | None:
    """The phrase after the last "answer is", else after the final sentence's last "is"."""
    if not text or not text.strip():
        return None
    if _ANSWER_IS.search(text):  # said, even with nothing after it: then there is no answer
        return answer_phrase(text)
    last = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s][-1]
    match = _IS.search(last)
    return match.group(1).strip() if match else last.strip().rstrip(".")


_FRACTION = re.compile(r"(-?\d+)/(\d+)|\\d?frac\{(-?\d+)\}\{(\d+)\}")


def numeric_value(text: str) -> float | None:
    """The value of a text that is only a number ("1,000", "$72", "7.5%", "-3.", "1/2", "\\frac{1}{2}"),
    else None; so that 1/2, 0.5 and \\frac{1}{2} are one answer."""
    cleaned = re.sub(r"[\s,$%]", "", text).rstrip(".")
    if _NUMBER.fullmatch(cleaned):
        return float(cleaned)
    fraction = _FRACTION.fullmatch(cleaned)
    if fraction:
        top, bottom = (int(g) for g in (fraction.group(1, 2) if fraction.group(1) else fraction.group(3, 4)))
        return top / bottom if bottom else None
    return None


_LEADING = re.compile(r"-?\d+(?:\.\d+)?(?:\s*/\s*\d+)?|\\d?frac\{-?\d+\}\{\d+\}")


def _first_number(text: str) -> float | None:
    """The value of the first number in ``text``, a fraction read whole ("3/4 of them" is 0.75), so that
    the verdict agrees with the vote (``same_answer``), which reads "1/2" and "0.5" as one answer."""
    whole = numeric_value(text)
    if whole is not None:
        return whole
    found = _LEADING.search(text.replace(",", ""))
    return numeric_value(found.group().replace(" ", "")) if found else None


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


# Where the answer's own phrase ends and a comment on it begins: "Dublin, which is the largest city".
_CLAUSE = re.compile(r"\s*(?:[,;:(]|\s-\s|\s(?:which|who|where|and|located|a city)\s)", re.I)


def _worked_value(answer: str) -> str:
    """The part of a worked answer after its last "=" ("6 + 7 = 13 apples" -> "13 apples")."""
    return answer.rsplit("=", 1)[-1]


def matches(answer: str, references: list[str] | tuple[str, ...]) -> bool:
    """Whether ``answer`` equals any reference: by value against a numeric reference (GSM8K's
    "72" is met by "$72" or "72 dollars", not by "7.2"; a worked "6 + 7 = 13" by its result),
    otherwise after normalisation, whole or up to the first clause that comments on it ("Dublin,
    which is the largest city" is "Dublin"; "Siraconde, a city in Malta" is still not "Valletta")."""
    norm = normalise(answer)
    if not norm:
        return False
    head = normalise(_CLAUSE.split(answer.strip(), 1)[0])
    for reference in references:
        value = numeric_value(reference)
        if value is not None:
            got = _first_number(_worked_value(answer))
            if got is not None and _close(got, value):
                return True
        elif normalise(reference) in (norm, head):
            return True
    return False


def same_answer(a: str, b: str) -> bool:
    """Whether two extracted answers agree, for a vote: equal values if both are numbers,
    otherwise equal after normalisation."""
    x, y = numeric_value(a), numeric_value(b)
    if x is not None and y is not None:
        return _close(x, y)
    return normalise(a) == normalise(b)
