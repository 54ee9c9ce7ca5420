"""What a category is: one object that owns its decoding default, training temperature, answer
checking, filter rule, benchmark metrics and the dataset fields it needs.

Importing this module imports no torch and no verifier library: the config layer resolves
categories, and ``cogumi --help`` must answer at once. Verifiers are imported where they run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from cogumi.world import Problem

# Per-problem benchmark metrics of an answer category and of a free-writing one; greedy ones do not
# depend on the sampling temperature.
ACCURACY = ("greedy_accuracy", "sampled_accuracy", "majority_accuracy", "agreement_rate", "pass_at_k")
WRITING = ("greedy_well_formed", "sampled_well_formed", "diversity")
GREEDY = ("greedy_accuracy", "greedy_well_formed")


@dataclass
class Decoding:
    """How a category's prompts are decoded; a field left null takes the category's default."""

    temperature: float | None = None
    """0 means greedy (``do_sample=False``); otherwise the sampling temperature."""
    samples: int | None = None
    """Completions per prompt (1 for greedy)."""
    max_new_tokens: int | None = None
    """Generation stops here if no end-of-turn token came first."""

    def __post_init__(self) -> None:
        for name in ("samples", "max_new_tokens"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
        if self.temperature is not None and (isinstance(self.temperature, bool)
                                             or not isinstance(self.temperature, (int, float))):
            raise ValueError(f"temperature must be a number, got {self.temperature!r}")
        if self.temperature is not None and self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 is greedy), got {self.temperature}")
        if self.samples is not None and self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature == 0 and self.samples not in (None, 1):
            raise ValueError("greedy decoding (temperature 0) gives one sample per prompt; set samples: 1")

    def over(self, default: Decoding) -> Decoding:
        """These settings, with every null one taken from ``default``."""
        filled = {k: v for k, v in vars(self).items() if v is not None}
        return replace(default, **filled)


@dataclass(frozen=True)
class Keep:
    """One sample a filter rule keeps, with what the distilled example records about it."""

    index: int
    """The sample's position in its problem's group."""
    answer: str | None
    correct: bool | None
    agreement: float | None


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

    tiny_world: ClassVar[bool] = False
    """Whether the embedded tiny world has problems of this category (``cogumi.world``)."""
    templated_prompts: ClassVar[bool] = False
    """Its datasets word prompts from shared templates (IFEval's constraint sentences), so distill and
    benchmark problems are compared whole for overlap, not by shared runs of words."""
    position: ClassVar[int] = 100
    """Where a built-in category stands in the registry's order (it seeds its batches)."""

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
        if self.tiny_world:
            from cogumi.world import make_split

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
        from cogumi.verify.answers import same_answer

        return same_answer(a, b)

    def vote_key(self, verdict) -> str | None:
        """What a sample votes for in a majority: its extracted answer (None: no vote)."""
        return verdict.answer

    # --- filter and benchmark ---------------------------------------------------------------
    def keep(self, problem: Problem, samples: list[dict], verdicts: list, rejected: Counter) -> list[Keep]:
        """The filter rule: which samples of one problem become training examples. Counts each
        rejection in ``rejected`` under its reason. Default: the first verified-correct sample."""
        from cogumi.filter import keep_first_correct

        return keep_first_correct(verdicts, rejected)

    def score(self, problem: Problem, greedy, verdicts: list, samples: list) -> dict[str, float]:
        """This category's ``metrics`` for one problem from its greedy and sampled verdicts (greedy
        None: the sampled metrics only)."""
        from cogumi.score import accuracy_scores

        return accuracy_scores(verdicts, greedy, self.vote_key, self.same_answer)

    def settings(self) -> dict[str, Any]:
        """What its samples, filter and training data depend on, for the stages' fingerprints."""
        return {"class": f"{type(self).__module__}.{type(self).__qualname__}", "options": self.options(),
                "decoding": vars(self.decoding), "training_temperature": self.training_temperature}

    def data_settings(self, split: str) -> dict[str, Any]:
        """Where its problems of ``split`` come from, for the fingerprints of the stages that use them."""
        from dataclasses import asdict

        source = self.sources[split]
        return {"source": source and asdict(source), "prompt_template": self.prompt_template}

    def options(self) -> dict[str, Any]:
        """The constructor's keyword arguments (a subclass with options returns them)."""
        return {}


class ShortAnswer(Category):
    """A category answered with a short phrase ("The answer is X."), matched against the reference
    and its aliases, by value where the reference is a number."""

    def judge_one(self, problem, text, finished):
        from cogumi.verify.answers import extract_short_answer, matches
        from cogumi.verify.reference import against_reference

        return against_reference(problem, extract_short_answer(text),
                                 lambda answer: matches(answer, (problem.answer, *problem.aliases)))
