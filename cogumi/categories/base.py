"""What a category is: one object that owns its decoding default, training temperature, answer
checking, filter rule, benchmark metrics and the dataset fields it needs.

Importing this module imports no torch and no heavy verifier library (math-verify, the sandbox,
if-verifiable): the config layer resolves categories, and ``cogumi --help`` must answer at once.
Those verifiers are imported where they run.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import asdict
from typing import Any, ClassVar

from cogumi.categories.metrics import accuracy_scores
from cogumi.categories.rules import keep_first_correct
from cogumi.files import fingerprint
from cogumi.types import Decoding, Keep, Problem
from cogumi.verify.answers import extract_short_answer, matches, same_answer
from cogumi.verify.reference import against_reference
from cogumi.world import has_problems, make_split

# Per-problem benchmark metrics of an answer category and of a free-writing one; greedy ones do not
# depend on the sampling temperature.
ACCURACY = ("greedy_accuracy", "sampled_accuracy", "majority_accuracy", "agreement_rate", "pass_at_k")
WRITING = ("greedy_well_formed", "sampled_well_formed", "diversity")
GREEDY = ("greedy_accuracy", "greedy_well_formed")


def check_option(category: str, name: str, value, kind: type | tuple[type, ...]) -> None:
    """Refuse an ``init_args`` value of the wrong type, naming it by its key."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ValueError(f"categories.{category}.init_args.{name} must be a {names}, got {value!r}")


class Category:
    """Base class of every category, built in or a user's own (``class_path`` in the config).

    A subclass sets the class attributes and overrides ``judge_one`` (how one response is checked)
    and, where the defaults do not fit, ``keep`` (the filter rule) and ``score`` (benchmark
    metrics). Keyword arguments of the constructor come from the config's ``init_args``.
    """

    name: ClassVar[str] = ""
    """The key the config and every file use for this category."""
    default_decoding: ClassVar[Decoding] = Decoding(0.0, 1, 96)
    """How its distill prompts are answered unless the config says otherwise."""
    default_training_temperature: ClassVar[float] = 0.0
    """The Phase 1A temperature the trained model should behave like on these prompts."""
    fields: ClassVar[tuple[str, ...]] = ("prompt", "answer")
    """Problem fields a dataset row must provide."""
    metrics: ClassVar[tuple[str, ...]] = ACCURACY
    """Per-problem benchmark metrics, in report order."""
    headline: ClassVar[str] = "sampled_accuracy"
    """The metric plotted for this category."""
    consistency: ClassVar[str] = "agreement_rate"
    """The metric the training temperature is calibrated on: the trained model sampled at T_serve
    should score on it what Phase 1A scores at the training temperature."""
    leads: ClassVar[bool] = False
    """Shown first in every table (the exact-answer categories)."""

    at_temperature_zero: ClassVar[dict[str, str | float]] = {
        "sampled_accuracy": "greedy_accuracy", "majority_accuracy": "greedy_accuracy", "agreement_rate": 1.0,
        "pass_at_k": "greedy_accuracy"}
    """What each sampled metric is when every sample is the greedy answer (temperature 0): the name of
    the greedy metric it equals, or a constant. A metric left out is not compared at temperature 0."""
    templated_prompts: ClassVar[bool] = False
    """Its datasets word prompts from shared templates (IFEval's constraint sentences), so distill and
    benchmark problems are compared whole for overlap, not by shared runs of words."""
    position: ClassVar[int] = 100
    """Where a built-in category stands in the registry's order (its place in every table)."""
    seed: ClassVar[int | None] = None
    """The category's own seed, from which its batches' sampling seeds derive; None derives it from
    the name, so that no other category, added or removed, changes it. The built-in categories keep
    the numbers their batches have always had."""

    def __init__(self, **options: Any):
        if options:
            raise ValueError(f"category {self.name!r} takes no init_args, got {sorted(options)}")
        self.decoding = self.default_decoding
        self.training_temperature = self.default_training_temperature
        self.sources: dict[str, Any] = {"distill": None, "benchmark": None}
        """The dataset ``Source`` of each split; None for the embedded tiny world."""
        self.prompt_template = "{prompt}"
        """How a dataset's prompt is put to the model; {prompt} is replaced by it."""

    # --- problems -------------------------------------------------------------------------
    def embedded_problems(self, split: str, n: int, seed: int) -> list[Problem]:
        """``n`` problems of the embedded tiny world's ``split`` (the benchmark split gives what
        it has, up to ``n``); a category without a tiny world needs a data source."""
        if has_problems(self.name):
            return make_split(self.name, split, n, seed, at_most=split == "benchmark")
        if n == 0:
            return []
        raise ValueError(f"category {self.name!r} has no embedded problems; give it a data source "
                         f"(categories.{self.name}.{split}: {{path: FILE}})")

    def prepare(self, problem: Problem) -> Problem:
        """A dataset's problem as this category checks it (e.g. code keeps the prompt's imports)."""
        return problem

    # --- checking -------------------------------------------------------------------------
    def judge_one(self, problem: Problem, text: str, finished: bool):
        """The ``Verdict`` on one response."""
        raise NotImplementedError

    def judge(self, problems: list[Problem], texts: list[str], finished: list[bool]) -> list:
        """A ``Verdict`` per response; override to check a whole batch at once."""
        return [self.judge_one(p, t, f) for p, t, f in zip(problems, texts, finished)]

    def same_answer(self, a: str, b: str) -> bool:
        """Whether two votes (``vote_key`` of two verdicts) count as one."""
        return same_answer(a, b)

    def vote_key(self, verdict) -> str | None:
        """What a sample votes for in a majority: its extracted answer (None: no vote)."""
        return verdict.answer

    # --- filter and benchmark ---------------------------------------------------------------
    def keep(self, problem: Problem, samples: list[dict], verdicts: list, rejected: Counter) -> list[Keep]:
        """The filter rule: which samples of one problem become training examples. Counts each
        rejection in ``rejected`` under its reason. Default: the first verified-correct sample."""
        return keep_first_correct(verdicts, rejected)

    def score(self, problem: Problem, greedy, verdicts: list, samples: list) -> dict[str, float]:
        """This category's ``metrics`` for one problem from its greedy and sampled verdicts (greedy
        None: the sampled metrics only)."""
        return accuracy_scores(verdicts, greedy, self.vote_key, self.same_answer)

    def greedy_record(self, record: dict, samples: int) -> dict:
        """A benchmark record of this category as Phase 1A at temperature 0 would score it: every
        sample the greedy answer (``at_temperature_zero``), each curve flat at its greedy value."""
        found = dict(record)
        for metric, value in self.at_temperature_zero.items():
            if isinstance(value, str):
                if value not in record:
                    continue
                value = record[value]
            found[metric] = value
        for curve, metric in (("pass_curve", "pass_at_k"), ("majority_curve", "majority_accuracy")):
            if curve in record and metric in found:
                found[curve] = [found[metric]] * samples
        return found

    def plan_rows(self) -> tuple[list[tuple[str, str]], list[str]]:
        """For ``cogumi plan``: rows saying how this category's answers are checked, and warnings."""
        return [], []

    @property
    def category_seed(self) -> int:
        """``seed``, or a number derived from the name alone."""
        return self.seed if self.seed is not None else zlib.crc32(self.name.encode()) % 100_003

    def settings(self) -> dict[str, Any]:
        """Everything a stage's output may depend on of this category, for the fingerprints; each
        stage takes the parts it uses (generate: class, decoding and distill data; filter: class,
        options and training temperature; benchmark: class, options, seed and the measured split's data)."""
        return {"class": f"{type(self).__module__}.{type(self).__qualname__}", "options": self.options(),
                "decoding": vars(self.decoding), "training_temperature": self.training_temperature,
                "seed": self.category_seed, "data": {split: self.data_settings(split) for split in self.sources}}

    def data_settings(self, split: str) -> dict[str, Any]:
        """Where its problems of ``split`` come from."""
        source = self.sources[split]
        found = {"source": source and asdict(source), "prompt_template": self.prompt_template}
        if source is not None and source.is_file:  # the file's bytes, not only its name
            found["content"] = fingerprint(source.path)
        return found

    def options(self) -> dict[str, Any]:
        """The constructor's keyword arguments (a subclass with options returns them)."""
        return {}


class ShortAnswer(Category):
    """A category answered with a short phrase ("The answer is X."), matched against the reference
    and its aliases, by value where the reference is a number."""

    def judge_one(self, problem, text, finished):
        return against_reference(problem, extract_short_answer(text),
                                 lambda answer: matches(answer, (problem.answer, *problem.aliases)))
