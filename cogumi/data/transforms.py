"""Public datasets whose rows do not hold a problem's fields as they are: a dotted field path into a
nested row (TriviaQA's ``answer.aliases``), and one row transform per dataset schema, named by a
source's ``transform`` (``cogumi.data.sources`` applies them before the field mapping):

- ``mbpp``: MBPP (google-research-datasets/mbpp, "full" or "sanitized") -> a HumanEval-style prompt
  (the function's signature, its task and tests in the docstring), ``tests`` (a ``check(candidate)``
  that runs ``test_list`` on the candidate) and ``entry_point`` (the function the tests call);
- ``ifeval``: google/IFEval -> ``constraints`` from ``instruction_id_list`` and ``kwargs``;
- ``rlvr_ifeval``: allenai/RLVR-IFeval -> ``prompt`` (the user's message) and ``constraints`` (the
  IFEval checker that its ``ground_truth`` function stands for).

A transform returns the row with its problem fields added, or None for a row it cannot turn into a
problem that is checked as the dataset means it; those rows are left out and counted in one notice.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from collections.abc import Callable

from cogumi.console import console

MISSING = object()
SHOWN_ERRORS = 8


def field_value(row: dict, path: str):
    """``row[path]``, or for a dotted ``path`` (``answer.aliases``) the value nested there; ``MISSING``
    when there is none. A key that itself holds a dot is found first."""
    if path in row:
        return row[path]
    value = row
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


class Skip(Exception):
    """A row that becomes no problem, and why (counted, not an error)."""


# --- MBPP -------------------------------------------------------------------------------------
def _entry_point(tree: ast.Module, tests: list[str]) -> ast.FunctionDef:
    """The reference solution's top-level function that the first test calls."""
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    called = [f for f in functions if re.search(rf"\b{re.escape(f.name)}\s*\(", tests[0])]
    if not called:
        raise Skip("no function of its code is called by its first test")
    return called[0]


def _check_source(entry: str, tests: list[str], setup: str, defined: set[str]) -> str:
    """HumanEval's form: ``check(candidate)`` asserting each test on the candidate."""
    others = sorted(name for name in defined - {entry} if any(re.search(rf"\b{name}\b", t) for t in tests))
    if others:
        raise Skip("its tests use other names of the reference solution besides the function under test")
    body = [line for line in setup.splitlines() if line.strip()]
    body += [re.sub(rf"\b{re.escape(entry)}\b", "candidate", test) for test in tests]
    return "def check(candidate):\n" + "".join(f"    {line}\n" for line in body)


def mbpp_row(row: dict) -> dict:
    """An MBPP row as a HumanEval-style problem: prompt, tests and entry point."""
    code, tests = row["code"], list(row["test_list"])
    text = row.get("text") or row.get("prompt") or ""
    setup = row.get("test_setup_code") or "\n".join(row.get("test_imports") or [])
    if not tests:
        raise ValueError("test_list is empty")
    try:
        tree = ast.parse(code)
    except SyntaxError as error:
        raise Skip("its reference code does not parse") from error
    entry = _entry_point(tree, tests)
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    imports = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    doc = "\n".join([text.strip(), "", "Your code should pass these tests:", *tests]).replace('"""', "'''")
    docstring = "".join(f"    {line}\n" if line else "\n" for line in doc.splitlines())
    prompt = "".join(f"{line}\n" for line in imports) + (
        f"def {entry.name}({ast.unparse(entry.args)}):\n    r\"\"\"\n{docstring}    \"\"\"\n")
    return {**row, "prompt": prompt, "tests": _check_source(entry.name, tests, setup, defined),
            "entry_point": entry.name}


# --- IFEval -----------------------------------------------------------------------------------
def _add(constraints: dict, name: str, kwargs: dict) -> None:
    """Add one application of an IFEval checker; a second one of the same id makes a list."""
    if name not in constraints:
        constraints[name] = kwargs
    else:
        earlier = constraints[name]
        constraints[name] = [*(earlier if isinstance(earlier, list) else [earlier]), kwargs]


def ifeval_row(row: dict) -> dict:
    """A google/IFEval row with ``constraints``: each instruction id with its arguments (the nulls
    that the dataset's shared schema fills in left out)."""
    ids, kwargs = row["instruction_id_list"], row["kwargs"]
    if not isinstance(ids, list) or not isinstance(kwargs, list) or len(ids) != len(kwargs):
        raise ValueError("instruction_id_list and kwargs must be lists of one length")
    constraints: dict = {}
    for name, arguments in zip(ids, kwargs):
        _add(constraints, name, {k: v for k, v in (arguments or {}).items() if v is not None})
    return {**row, "constraints": constraints}


# --- RLVR-IFeval ------------------------------------------------------------------------------
IFEVAL_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


def _counted(count_key: str, relation_key: str, n: int, quantifier: str | None, tolerance: int, **extra) -> list[dict]:
    """A count constraint in IFEval's two relations: "at least" a lower bound, "less than" an upper one."""
    bounds = {"exactly": (n, n + 1), "at least": (n, None), "at most": (None, n + 1), "less than": (None, n),
              "around": (n - tolerance, n + tolerance + 1)}
    if (quantifier or "exactly") not in bounds:
        raise Skip(f"quantifier {quantifier!r} has no IFEval relation")
    low, high = bounds[quantifier or "exactly"]
    found = ([{count_key: low, relation_key: "at least"}] if low is not None else []) + (
        [{count_key: high, relation_key: "less than"}] if high is not None else [])
    return [{**extra, **bound} for bound in found]


def _choice(g: dict) -> list[dict]:
    options = g.get("options") or ""
    if not all(option in str(options) for option in IFEVAL_OPTIONS):
        raise Skip("validate_choice with options other than IFEval's has no IFEval checker")
    return [{}]


def _around(n: int) -> int:
    return max(round(n * 0.1), 1)


# RLVR-IFeval's ground-truth function -> (IFEval instruction id, its arguments from the ground truth).
RLVR_FUNCTIONS: dict[str, tuple[str, Callable[[dict], list[dict]]]] = {
    "verify_keywords": ("keywords:existence", lambda g: [{"keywords": g["keyword_list"]}]),
    "verify_keyword_frequency": ("keywords:frequency", lambda g: _counted(
        "frequency", "relation", g["N"], None, 0, keyword=g["word"])),
    "validate_forbidden_words": ("keywords:forbidden_words", lambda g: [{"forbidden_words": g["forbidden_words"]}]),
    "verify_letter_frequency": ("keywords:letter_frequency", lambda g: _counted(
        "let_frequency", "let_relation", g["N"], None, 0, letter=g["letter"])),
    "validate_response_language": ("language:response_language", lambda g: [{"language": g["language"]}]),
    "verify_paragraph_count": ("length_constraints:number_paragraphs", lambda g: [{"num_paragraphs": g["N"]}]),
    "validate_word_constraint": ("length_constraints:number_words", lambda g: _counted(
        "num_words", "relation", g["N"], g["quantifier"], _around(g["N"]))),
    "verify_sentence_constraint": ("length_constraints:number_sentences", lambda g: _counted(
        "num_sentences", "relation", g["N"], g["quantifier"], 1)),
    "validate_paragraphs": ("length_constraints:nth_paragraph_first_word", lambda g: [
        {"num_paragraphs": g["N"], "nth_paragraph": g["i"], "first_word": g["first_word"]}]),
    "verify_postscript": ("detectable_content:postscript", lambda g: [{"postscript_marker": g["postscript_marker"]}]),
    "validate_placeholders": ("detectable_content:number_placeholders", lambda g: [{"num_placeholders": g["N"]}]),
    "verify_bullet_points": ("detectable_format:number_bullet_lists", lambda g: [{"num_bullets": g["N"]}]),
    "validate_title": ("detectable_format:title", lambda g: [{}]),
    "validate_choice": ("detectable_format:constrained_response", _choice),
    "validate_highlighted_sections": ("detectable_format:number_highlighted_sections",
                                      lambda g: [{"num_highlights": g["N"]}]),
    "validate_sections": ("detectable_format:multiple_sections", lambda g: [
        {"section_spliter": g["section_splitter"], "num_sections": g["N"]}]),
    "validate_json_format": ("detectable_format:json_format", lambda g: [{}]),
    "validate_repeat_prompt": ("combination:repeat_prompt", lambda g: [{"prompt_to_repeat": g["original_prompt"]}]),
    "validate_two_responses": ("combination:two_responses", lambda g: [{}]),
    "validate_uppercase": ("change_case:english_capital", lambda g: [{}]),
    "validate_lowercase": ("change_case:english_lowercase", lambda g: [{}]),
    "validate_frequency_capital_words": ("change_case:capital_word_frequency", lambda g: _counted(
        "capital_frequency", "capital_relation", g["N"], g["quantifier"], _around(g["N"]))),
    "validate_end": ("startend:end_checker", lambda g: [{"end_phrase": g["end_phrase"]}]),
    "validate_quotation": ("startend:quotation", lambda g: [{}]),
    "validate_no_commas": ("punctuation:no_comma", lambda g: [{}]),
}


def rlvr_ifeval_row(row: dict) -> dict:
    """An allenai/RLVR-IFeval row with ``prompt`` (its last user message) and ``constraints`` (the
    IFEval checker its ground-truth function stands for)."""
    users = [m.get("content") for m in row["messages"] if isinstance(m, dict) and m.get("role") == "user"]
    if not users or not isinstance(users[-1], str):
        raise ValueError("messages holds no user message")
    truth = row["ground_truth"]
    try:
        truth = json.loads(truth) if isinstance(truth, str) else truth
    except json.JSONDecodeError as error:
        raise ValueError(f"ground_truth is not JSON ({error.msg})") from None
    if not isinstance(truth, dict) or truth.get("func_name") not in RLVR_FUNCTIONS:
        raise Skip(f"ground-truth function {truth.get('func_name') if isinstance(truth, dict) else truth!r} "
                   "has no IFEval checker")
    name, arguments = RLVR_FUNCTIONS[truth["func_name"]]
    try:
        applications = arguments(truth)
    except (KeyError, TypeError) as error:
        raise ValueError(f"ground_truth of {truth['func_name']} lacks its argument {error}") from None
    constraints: dict = {}
    for kwargs in applications:
        _add(constraints, name, kwargs)
    return {**row, "prompt": users[-1], "constraints": constraints}


TRANSFORMS: dict[str, Callable[[dict], dict]] = {"mbpp": mbpp_row, "ifeval": ifeval_row,
                                                 "rlvr_ifeval": rlvr_ifeval_row}


def transform_rows(name: str, rows: list[dict], where: Callable[[int], str]) -> tuple[list[dict], list[int]]:
    """Rows transformed by ``TRANSFORMS[name]`` and the positions of the rows kept. A row that
    lacks what the transform reads is an error naming ``where(i)``; rows it leaves out are counted
    in one notice."""
    kept, positions, errors, skipped = [], [], [], Counter()
    for i, row in enumerate(rows):
        try:
            kept.append(TRANSFORMS[name](row))
            positions.append(i)
        except Skip as why:
            skipped[str(why)] += 1
        except KeyError as error:
            errors.append(f"{where(i)}: lacks field {error} that transform {name} reads; its fields are {sorted(row)}")
        except (ValueError, TypeError) as error:
            errors.append(f"{where(i)}: transform {name}: {error}")
    if errors:
        more = [f"... and {len(errors) - SHOWN_ERRORS} more"] if len(errors) > SHOWN_ERRORS else []
        shown = "\n  ".join(errors[:SHOWN_ERRORS] + more)
        raise ValueError(f"{len(errors)} rows cannot be read as {name} rows:\n  {shown}")
    if skipped:
        console.print(f"transform {name}: left out {sum(skipped.values())} of {len(rows)} rows: "
                      + "; ".join(f"{n} because {why}" for why, n in skipped.most_common()), soft_wrap=True)
    return kept, positions
