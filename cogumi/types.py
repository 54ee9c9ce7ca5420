"""The records every layer shares: a problem, a decoding policy, a completion, a verdict and a
kept sample. Plain dataclasses with no behaviour beyond checking and serialising themselves; this
module imports nothing of Cogumi's, so any module may import it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One problem with everything its verifier needs."""

    id: str
    category: str
    prompt: str
    key: str
    difficulty: int = 1
    answer: str | None = None
    aliases: tuple[str, ...] = ()
    tests: str | None = None
    entry_point: str | None = None
    constraints: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    source: str = "tiny"

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["aliases"] = list(self.aliases)
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Problem:
        return cls(**{**row, "aliases": tuple(row.get("aliases", ()))})


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
class Completion:
    """One generated answer, as every engine returns it."""

    text: str
    """The assistant's response, cut at end-of-turn."""
    finished: bool
    """True when the model ended its turn itself (not cut by max_new_tokens)."""
    tokens: int
    """Generated tokens, the end-of-turn token included."""


@dataclass(frozen=True)
class Verdict:
    """What a verifier decided about one response."""

    answer: str | None
    """The extracted answer (None when none could be found)."""
    correct: bool | None
    """True/False when the verifier could decide; None when it could not."""
    reason: str
    """Why the response is accepted or rejected: "correct", "incorrect", "no_answer", "no_reference",
    "verifier_error", "timeout", "ill_formed", "truncated" (cut off at ``max_new_tokens``), or a
    category's own reason."""


@dataclass(frozen=True)
class Keep:
    """One sample a filter rule keeps, with what the distilled example records about it."""

    index: int
    """The sample's position in its problem's group."""
    answer: str | None
    correct: bool | None
    agreement: float | None
