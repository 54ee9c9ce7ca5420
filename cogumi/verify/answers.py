"""Short answers (reasoning, knowledge): extraction and normalised matching with aliases."""

from __future__ import annotations

import re
import string

_ANSWER_IS = re.compile(r"answer is[:\s]*(.+?)\s*(?:\.\s|\.$|$)", re.I | re.S)
_IS = re.compile(r"\bis\s+(.+?)\s*\.?\s*$", re.I | re.S)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (SQuAD-style)."""
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def extract_short_answer(text: str) -> str | None:
    """The phrase after the last "answer is", else after the final sentence's last "is"."""
    if not text or not text.strip():
        return None
    found = _ANSWER_IS.findall(text)
    if found:
        return found[-1].strip()
    last = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s][-1]
    match = _IS.search(last)
    return match.group(1).strip() if match else last.strip().rstrip(".")


def matches(answer: str, references: list[str] | tuple[str, ...]) -> bool:
    """Whether ``answer`` equals any reference after normalisation."""
    norm = normalise(answer)
    return bool(norm) and any(norm == normalise(r) for r in references)
