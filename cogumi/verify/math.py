"""Math answers: extract the final boxed answer, decide equivalence with math-verify."""

from __future__ import annotations

import logging
import re
import threading

from cogumi.verify.answers import answer_phrase

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


class _NoTimeoutWarning(logging.Filter):
    """math-verify warns on every call that its own (signal-based) timeout is off; ours replaces it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_NoTimeoutWarning())


class VerifierTimeout(Exception):
    """math-verify did not decide within the time limit."""


def _boxed_contents(text: str) -> list[str]:
    found = []
    for match in _BOX.finditer(text):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            found.append(text[match.end():i - 1].strip())
    return found


def extract_answer(text: str) -> str | None:
    """The final answer of a solution: the last ``\\boxed{...}`` (nested braces allowed), else the
    phrase after the last "answer is", else the last number; None when there is none."""
    if not text:
        return None
    boxed = [b for b in _boxed_contents(text) if b]
    if boxed:
        return boxed[-1]
    phrase = answer_phrase(text)
    if phrase:
        return phrase.strip("$ ").rstrip(".") or None
    numbers = _NUMBER.findall(text)
    return numbers[-1].rstrip(".,") if numbers else None


def _normalise(answer: str) -> str:
    return re.sub(r"\s+|\\[,!; ]|\$", "", answer).replace("\\dfrac", "\\frac").rstrip(".")


def _math_verify(pred: str, ref: str) -> bool:
    from math_verify import parse, verify

    gold = parse(f"${ref}$", parsing_timeout=None)
    guess = parse(f"${pred}$", parsing_timeout=None)
    return bool(gold and guess and verify(gold, guess, timeout_seconds=None))


def is_equivalent(pred: str, ref: str, timeout_s: float = 5.0) -> bool:
    """Whether ``pred`` and ``ref`` denote the same mathematical answer.

    Runs math-verify in a helper thread so the wall-clock limit holds off the main thread and in
    worker processes (math-verify's own limit needs signals, which only the main thread gets).
    Raises ``VerifierTimeout`` past ``timeout_s`` and lets math-verify's errors through: a verifier
    that cannot decide must never read as "incorrect".
    """
    if _normalise(pred) == _normalise(ref):
        return True
    box: dict = {}

    def work() -> None:
        try:
            box["value"] = _math_verify(pred, ref)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise VerifierTimeout(f"math-verify took over {timeout_s}s on {pred!r} vs {ref!r}")
    if "error" in box:
        raise box["error"]
    return box["value"]
