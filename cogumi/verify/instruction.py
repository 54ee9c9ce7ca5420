"""Checkable instruction constraints: every stated constraint must hold.

A problem's ``constraints`` map a constraint's name to its arguments. Two kinds of name:

- an IFEval instruction id (``"keywords:existence"``, ``"change_case:english_lowercase"``, ...),
  checked by the IFEval checkers that the ``if-verifiable`` package maintains (strict mode: the
  response as it is). Its value is the checker's keyword arguments, ``{"keywords": ["ocean"]}``, or
  a list of them where one checker applies several times (a word count between two bounds);
- the tiny world's own constraints (``num_words``, ``num_bullets``, ``case``, ``keywords``,
  ``end_with``), each with its one value.

Every constraint is checked where a dataset is read, before any weights load: an unknown name, a
missing argument (IFEval's checkers would draw one at random) or a value of the wrong type is refused.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any


def _bullets(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


_CHECKS = {
    "num_words": lambda text, n: len(text.split()) == n,
    "num_bullets": lambda text, n: len(_bullets(text)) == n and all(l.startswith("- ") for l in _bullets(text)),
    "case": lambda text, case: any(c.isalpha() for c in text) and
    (text == text.upper() if case == "upper" else text == text.lower()),
    # a keyword is a whole word: "delight" does not contain the keyword "light"
    "keywords": lambda text, words: all(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text, re.I) for w in words),
    "end_with": lambda text, end: text.rstrip().endswith(end),
}


# The type of each constraint's value.
_KINDS = {"num_words": int, "num_bullets": int, "case": str, "keywords": list, "end_with": str}
# IFEval checkers that split sentences or words with NLTK's punkt_tab data.
NEEDS_PUNKT = ("length_constraints:number_sentences", "change_case:capital_word_frequency")


def is_ifeval(name: str) -> bool:
    """Whether ``name`` is an IFEval instruction id (``group:instruction``)."""
    return ":" in name


@cache
def ifeval_registry() -> dict:
    """IFEval's instruction id -> checker class, from ``if-verifiable``."""
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT

    return dict(INSTRUCTION_DICT)


def instances(value) -> list[dict]:
    """The keyword arguments of each application of one IFEval checker."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _ifeval_errors(name: str, value) -> list[str]:
    """What is wrong with one IFEval constraint (empty when it can be checked)."""
    registry = ifeval_registry()
    if name not in registry:
        return [f"unknown IFEval instruction {name!r}; known: {sorted(registry)}"]
    if not instances(value) or not all(isinstance(v, dict) for v in instances(value)):
        return [f"IFEval instruction {name} takes a mapping of its arguments (or a list of them), got {value!r}"]
    errors = []
    for kwargs in instances(value):
        checker = registry[name](name)
        missing = sorted(set(checker.get_instruction_args_keys()) - set(kwargs))
        if missing:
            errors.append(f"IFEval instruction {name} lacks {missing} in {kwargs!r} "
                          "(its checker would draw them at random)")
            continue
        try:
            checker.build_description(**kwargs)
        except (TypeError, ValueError, KeyError) as error:
            errors.append(f"IFEval instruction {name} cannot take {kwargs!r}: {error}")
    if name in NEEDS_PUNKT and not _has_punkt():
        errors.append(f"IFEval instruction {name} needs NLTK's punkt_tab data, which is not installed here; "
                      "run: python -m nltk.downloader punkt_tab")
    return errors


@cache
def _has_punkt() -> bool:
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        return False
    return True


def _own_errors(name: str, value) -> list[str]:
    """What is wrong with one of the tiny world's constraints."""
    if name not in _CHECKS:
        return [f"unknown instruction constraint {name!r}; known: {sorted(_CHECKS)} or an IFEval instruction id"]
    kind = _KINDS[name]
    wrong_items = kind is list and isinstance(value, list) and not all(isinstance(w, str) for w in value)
    if isinstance(value, bool) or not isinstance(value, kind) or wrong_items:
        return [f"constraint {name} must be a {'list of strings' if kind is list else kind.__name__}, got {value!r}"]
    if name == "case" and value not in ("upper", "lower"):
        return [f"constraint case must be 'upper' or 'lower', got {value!r}"]
    if (kind in (list, str) and not (value if kind is list else value.strip())) or (kind is list and not all(w.strip() for w in value)):
        return [f"constraint {name} is {value!r}, which every answer satisfies; give it a value or leave it out"]
    if kind is int and value < (1 if name == "num_words" else 0):
        return [f"constraint {name} must be a whole number >= {1 if name == 'num_words' else 0}, got {value!r}"]
    return []


def check_constraints(constraints: dict[str, Any], where: str) -> None:
    """Refuse unknown constraint names, missing arguments and values of the wrong type (a keyword
    list given as one string would be checked letter by letter)."""
    errors = [e for name, value in constraints.items()
              for e in (_ifeval_errors if is_ifeval(name) else _own_errors)(name, value)]
    if errors:
        raise ValueError(f"{where}: " + "; ".join(errors))


def failed_constraints(text: str, constraints: dict[str, Any], prompt: str = "") -> list[str]:
    """Names of the constraints ``text`` breaks (empty when it follows them all). IFEval's are
    judged strictly (the response as it is) by if-verifiable; ``prompt`` is the problem's own."""
    own = {k: v for k, v in constraints.items() if not is_ifeval(k)}
    unknown = set(own) - set(_CHECKS)
    if unknown:
        raise ValueError(f"unknown instruction constraints {sorted(unknown)}; known: {sorted(_CHECKS)}")
    failed = [name for name, value in own.items() if not _CHECKS[name](text, value)]
    ifeval = [(name, kwargs) for name, value in constraints.items() if is_ifeval(name) for kwargs in instances(value)]
    if ifeval and text.strip():
        from if_verifiable.common import evaluate_instructions

        results, _ = evaluate_instructions(text, [n for n, _ in ifeval], [k for _, k in ifeval], prompt,
                                           ifeval_registry())
        failed += sorted({r.instruction_id for r in results if not r.strict_pass})
    elif ifeval:
        failed += sorted({name for name, _ in ifeval})
    return failed
