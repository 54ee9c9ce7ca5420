"""The smol world: seeded problems of all six categories sized for a small real instruct model
(SmolLM2-135M-Instruct), written as the JSONL files a user would bring.

``python -m cogumi.world.smol FOLDER`` writes ``FOLDER/{distill,benchmark}/<category>.jsonl``;
``configs/smol.yaml`` reads the copy shipped in ``configs/smol/`` through the same dataset path as
any user's data (``categories.<name>.distill: {path: ...}``), with the model's own chat template.
Each problem lands in one split by a fixed hash of its key, so no problem is in both. The files
depend on nothing but ``SEED`` and the counts below: the same call writes the same bytes.

The problems are one-digit arithmetic and a word problem, comparisons and counts, one-line
Python functions checked by ``check(candidate)``, real capitals and element symbols, IFEval
constraints (checked by if-verifiable) and short poems.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from cogumi.world import hash_unit
from cogumi.world.facts import CAPITAL_ALIASES, CAPITALS, ELEMENTS
from cogumi.world.vocab import ITEMS, NAMES, TOPICS

SEED = 0
# Problems per category and split (the benchmark split is what Phase 1A and every trained model
# are measured on; knowledge has as many as its facts allow).
COUNTS = {
    "math": {"distill": 300, "benchmark": 140}, "code": {"distill": 220, "benchmark": 110},
    "reasoning": {"distill": 300, "benchmark": 150}, "creativity": {"distill": 60, "benchmark": 40},
    "knowledge": {"distill": 90, "benchmark": 60}, "instruction": {"distill": 200, "benchmark": 80},
}
SPLITS = ("distill", "benchmark")


def split_of(key: str, benchmark_share: float) -> str:
    """The split of a problem key: a fixed hash, so the partition never moves. A word problem is
    split by its words alone (``split_key``), its numbers left out, so that no two problems in
    different splits share a 13-word run. Math and code are split by family, chosen
    (``BENCHMARK_MATH``, ``BENCHMARK_CODE``): a family lies whole in one split."""
    for prefix, chosen in (("math:", BENCHMARK_MATH), ("code:", BENCHMARK_CODE)):
        if key.startswith(prefix):
            return "benchmark" if key.removeprefix(prefix) in chosen else "distill"
    return "benchmark" if hash_unit(f"cogumi-smol-v1|{key}") < benchmark_share else "distill"


# --- math: the answer is a number ------------------------------------------------------------------
# Measured on SmolLM2-135M-Instruct (greedy, 24 problems each): one-digit sums 0.50, "plus" 0.29, a
# buying word problem 0.79, times tables 0.33, "multiplied by" 0.58; two-digit sums (0.04) and
# differences (0.12) are beyond it. In fp32 on the benchmark split of a split by hash (120 problems,
# greedy / sampled at 0.7): sums 0.59 / 0.34, times 0.60 / 0.43, "plus" 0.39 / 0.32, buying 0.18 /
# 0.13 (a third cut off at 128 tokens), "multiplied by" 0.44 / 0.57. Sampling costs the model little
# on the last three, so the benchmark holds the first two (140 of their 145 one-digit sum and
# times-table facts) and distill the other three; distill's problems state the same facts in other words.
BENCHMARK_MATH = frozenset({"add", "times"})


def _math(rng: random.Random) -> dict:
    family = rng.choice(("add", "plus", "buys", "times", "multiplied"))
    a, b = rng.randint(1, 9), rng.randint(1, 9)
    if family == "add":
        key, prompt, answer = f"{a}+{b}", f"What is {a} + {b}?", a + b
    elif family == "plus":
        key, prompt, answer = f"{a} plus {b}", f"What is {a} plus {b}?", a + b
    elif family == "buys":
        name, item = rng.choice(NAMES), rng.choice(ITEMS)
        key, answer = f"{name}:{item}:{a}+{b}", a + b
        prompt = f"{name} has {a} {item}. {name} buys {b} more {item}. How many {item} does {name} have now?"
    elif family == "times":
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        key, prompt, answer = f"{a} times {b}", f"What is {a} times {b}?", a * b
    else:
        a, b = rng.randint(2, 5), rng.randint(2, 9)
        key, prompt, answer = f"{b} multiplied by {a}", f"What is {b} multiplied by {a}?", a * b
    return {"key": f"math:{key}", "split_key": f"math:{family}", "prompt": prompt, "answer": str(answer)}


# --- reasoning: a short answer -------------------------------------------------------------------
# Measured as above: the larger of two numbers up to 20, 0.46; red and blue things counted, 0.42.
# Weekdays, orderings, parity, sequences and sizes of things were at or near 0. In fp32, 16
# problems each (greedy / sampled at 0.7 / pass@8): the larger up to 20, 0.44 / 0.24 / 0.88;
# counted, 0.50 / 0.18 / 0.63; things given away and left, 0.56 / 0.17 / 0.63. Left out: the larger
# or smaller up to 100 (0.06, most answers cut off), up to 9 (0.25, 0.19) and who has more (0.00).
def _reasoning(rng: random.Random) -> dict:
    family = rng.choice(("larger", "count", "left"))
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    if family == "count":
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        return {"key": f"reasoning:count:{name}:{item}:{a},{b}", "split_key": f"reasoning:count:{name}:{item}",
                "answer": str(a + b),
                "prompt": f"{name} has {a} red {item} and {b} blue {item}. How many {item} does {name} have in all?"}
    if family == "left":
        a = rng.randint(5, 9)
        b = rng.randint(1, a - 1)
        return {"key": f"reasoning:left:{name}:{item}:{a},{b}", "split_key": f"reasoning:left:{name}:{item}",
                "answer": str(a - b),
                "prompt": f"{name} has {a} {item} and gives away {b}. How many {item} does {name} have left?"}
    a, b = rng.sample(range(1, 21), 2)
    return {"key": f"reasoning:larger:{a},{b}", "prompt": f"Which number is larger, {a} or {b}?", "answer": str(max(a, b))}


# --- code: one Python function, checked by its tests -----------------------------------------------
# (name, what it returns, argument, the argument values tested, the reference), the last three for
# a constant k; ``{k}`` in the name's description is replaced by it.
_WITH_K = (
    ("add_k", "x plus {k}", "x", lambda k: [0, 3, -5, 10], lambda k: lambda x: x + k),
    ("times_k", "x multiplied by {k}", "x", lambda k: [0, 2, -3, 7], lambda k: lambda x: x * k),
    ("minus_k", "x minus {k}", "x", lambda k: [0, 20, -1, 5], lambda k: lambda x: x - k),
    ("is_divisible_by", "True if x is divisible by {k}, else False", "x", lambda k: [0, k, k + 1, 3 * k, 7],
     lambda k: lambda x: x % k == 0),
    ("greater_than", "True if x is greater than {k}, else False", "x", lambda k: [k, k + 1, k - 1, 100],
     lambda k: lambda x: x > k),
    ("repeat", "the string s repeated {k} times", "s", lambda k: ["a", "ab", ""], lambda k: lambda s: s * k),
    ("first", "the first {k} characters of the string s", "s", lambda k: ["abcdefghijklmnop", "hello world", "xy"],
     lambda k: lambda s: s[:k]),
    ("last", "the last {k} characters of the string s", "s", lambda k: ["abcdefghijklmnop", "hello world", "python"],
     lambda k: lambda s: s[-k:]),
    ("scale_list", "a list with every element of the list xs multiplied by {k}", "xs",
     lambda k: [[1, 2, 3], [], [-1, 5]], lambda k: lambda xs: [v * k for v in xs]),
    ("count_above", "how many numbers in the list xs are greater than {k}", "xs",
     lambda k: [[1, 5, 9, 12], [], [k, k + 1, k + 2]], lambda k: lambda xs: sum(1 for v in xs if v > k)),
    ("sum_plus", "the sum of the numbers in the list xs plus {k}", "xs", lambda k: [[1, 2, 3], [], [-4, 4]],
     lambda k: lambda xs: sum(xs) + k),
)
# The code families of the benchmark split, chosen by what SmolLM2-135M-Instruct does with them
# (greedy / sampled at 0.7 / pass@8, 4 problems each, fp32): ``first`` 0.50 / 0.28 / 0.75,
# ``count_above`` 0.25 / 0.31 / 1.00, ``greater_than`` 1.00 / 0.38 / 1.00, ``repeat`` 1.00 / 0.59 /
# 1.00. Every other family it writes right greedily at or near 1.00 (``sum_plus``: never), so a
# split by hash drew a benchmark of easy families (greedy 0.99). The plain functions go to distill.
BENCHMARK_CODE = frozenset({"first", "count_above", "greater_than", "repeat"})
_PLAIN = (
    ("reverse_string", "the string s reversed", "s", ["abc", "", "racecar", "hello"], lambda s: s[::-1]),
    ("max_of_list", "the largest number in the non-empty list xs", "xs", [[1, 9, 3], [-5, -2], [7]], max),
    ("min_of_list", "the smallest number in the non-empty list xs", "xs", [[1, 9, 3], [-5, -2], [7]], min),
    ("count_vowels", "the number of vowels (a, e, i, o, u) in the lowercase string s", "s",
     ["hello", "", "aeiou", "xyz"], lambda s: sum(1 for ch in s if ch in "aeiou")),
    ("is_even", "True if x is even, else False", "x", [0, 3, 10, -7], lambda x: x % 2 == 0),
    ("to_upper", "the string s in upper case", "s", ["abc", "Hello World", ""], str.upper),
    ("list_length", "the number of elements in the list xs", "xs", [[1, 2, 3], [], ["a"]], len),
    ("average", "the average of the numbers in the non-empty list xs", "xs", [[1, 2, 3], [4], [2, 5]],
     lambda xs: sum(xs) / len(xs)),
    ("square", "x squared", "x", [0, 3, -4], lambda x: x * x),
    ("absolute", "the absolute value of x", "x", [0, 3, -4], abs),
    ("cube", "x cubed", "x", [0, 2, -3], lambda x: x ** 3),
    ("double_string", "the string s followed by itself", "s", ["ab", "", "x"], lambda s: s + s),
)


def _code_problem(function: str, what: str, argument: str, cases: list, reference, family: str = "") -> dict:
    tests = "def check(candidate):\n" + "".join(
        f"    assert candidate({case!r}) == {reference(case)!r}\n" for case in cases)
    prompt = f"Write a Python function `{function}({argument})` that returns {what}."
    return {"key": f"code:{function}", "split_key": f"code:{family or function}", "prompt": prompt, "tests": tests,
            "entry_point": function}


def _all_code() -> list[dict]:
    # one family's prompts differ in k alone, so a family lies in one split
    found = [_code_problem(f"{name}_{k}", what.format(k=k), argument, cases(k), reference(k), family=name)
             for name, what, argument, cases, reference in _WITH_K for k in range(2, 41)]
    return found + [_code_problem(*spec) for spec in _PLAIN]


# --- knowledge: real facts -------------------------------------------------------------------------
def _all_knowledge() -> list[dict]:
    found = [{"key": f"knowledge:capital:{country}", "prompt": f"What is the capital of {country}?", "answer": city,
              "aliases": list(CAPITAL_ALIASES.get(city, ()))} for country, city in CAPITALS]
    return found + [{"key": f"knowledge:symbol:{element}", "answer": symbol,
                     "prompt": f"What is the chemical symbol of {element}?"} for element, symbol in ELEMENTS]


# --- instruction: IFEval constraints, checked by if-verifiable ---------------------------------------
_KEYWORDS = ("happy", "blue", "water", "friend", "music", "light", "green", "home")
_SUBJECTS = ("dogs", "the ocean", "coffee", "summer", "books", "the city", "rain", "trees", "music", "school")


def _instruction(rng: random.Random) -> dict:
    subject = rng.choice(_SUBJECTS)
    kind = rng.choice(("lowercase", "keyword", "short", "no_comma", "end", "capital"))
    ask = rng.choice(("Write one sentence about {s}.", "Write two sentences about {s}.", "Describe {s} briefly."))
    ask = ask.format(s=subject)
    if kind == "lowercase":
        said, constraint = "Use only lowercase letters.", {"change_case:english_lowercase": {}}
    elif kind == "capital":
        said, constraint = "Write it in all capital letters.", {"change_case:english_capital": {}}
    elif kind == "keyword":
        word = rng.choice(_KEYWORDS)
        said, constraint = f'Include the word "{word}".', {"keywords:existence": {"keywords": [word]}}
    elif kind == "short":
        n = rng.choice((15, 20, 25, 30))
        said = f"Use fewer than {n} words."
        constraint = {"length_constraints:number_words": {"num_words": n, "relation": "less than"}}
    elif kind == "no_comma":
        said, constraint = "Do not use any commas.", {"punctuation:no_comma": {}}
    else:
        phrase = rng.choice(("The end.", "That is all.", "Thank you."))
        said = f'End your answer with the exact phrase "{phrase}"'
        constraint = {"startend:end_checker": {"end_phrase": phrase}}
    return {"key": f"instruction:{kind}:{ask}:{said}", "prompt": f"{ask} {said}", "constraints": constraint}


# --- creativity: short poems -----------------------------------------------------------------------
def _creativity(rng: random.Random) -> dict:
    topic = rng.choice(TOPICS)
    form = rng.choice(("a short poem", "a four-line poem", "a haiku", "a two-line rhyme", "a tiny story"))
    return {"key": f"creativity:{form}:{topic}", "prompt": f"Write {form} about {topic}."}


_DRAWN = {"math": _math, "reasoning": _reasoning, "instruction": _instruction, "creativity": _creativity}
_LISTED = {"code": _all_code, "knowledge": _all_knowledge}


def problems(category: str, split: str, seed: int = SEED) -> list[dict]:
    """The rows of ``category``'s ``split``, each with an ``id``; drawn problems come from ``seed``."""
    share = COUNTS[category]["benchmark"] / sum(COUNTS[category].values())
    wanted = COUNTS[category][split]
    if category in _LISTED:
        pool = _LISTED[category]()
        random.Random(f"{seed}|{category}").shuffle(pool)
    else:
        rng = random.Random(f"{seed}|{category}")
        pool = (_DRAWN[category](rng) for _ in range(200_000))
    rows, seen = [], set()
    for row in pool:
        if row["key"] in seen or split_of(row.get("split_key", row["key"]), share) != split:
            continue
        seen.add(row["key"])
        rows.append({"id": f"smol-{category}-{split}-{len(rows):04d}", **row})
        if len(rows) == wanted:
            break
    for row in rows:
        del row["key"]
        row.pop("split_key", None)
    return rows


def write(folder: Path, seed: int = SEED) -> list[Path]:
    """Every category's files in ``folder``; the paths written."""
    written = []
    for category in COUNTS:
        for split in SPLITS:
            path = Path(folder) / split / f"{category}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in problems(category, split, seed)))
            written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m cogumi.world.smol FOLDER")
    for path in write(Path(sys.argv[1])):
        print(path, sum(1 for _ in path.open()))
