"""How a config names a category: ``categories.<name>`` of a YAML file becomes a ``CategorySpec``,
and the spec builds the category object with its settings over the class's defaults."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from cogumi.categories import Category, builtin, load_class
from cogumi.data.sources import Source
from cogumi.types import Decoding


@dataclass
class CategorySpec:
    """One category of the run: a built-in one (named by its key) or your own (``class_path``)."""

    class_path: str | None = None
    """Your own category, ``package.module:ClassName`` (a subclass of cogumi.categories.Category);
    null for the built-in category of this key."""
    init_args: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the category's constructor (e.g. reasoning's vote_threshold)."""
    decoding: Decoding = field(default_factory=Decoding)
    """How its distill prompts are answered; null fields keep the category's default."""
    training_temperature: float | None = None
    """The Phase 1A temperature the trained model should match on these prompts; null keeps the default."""
    distill: Source | None = None
    """Problems the policy answers for distillation; null takes them from the tiny world."""
    benchmark: Source | None = None
    """Held-out problems the models are measured on; null takes them from the tiny world."""
    prompt_template: str = "{prompt}"
    """How a dataset's prompt is put to the model; {prompt} is replaced by it."""

    def __post_init__(self) -> None:
        # categories: is an untyped mapping on the command line and in YAML, so types are checked here
        if self.training_temperature is not None and (isinstance(self.training_temperature, bool) or
                                                      not isinstance(self.training_temperature, (int, float))):
            raise ValueError(f"training_temperature must be a number, got {self.training_temperature!r}")
        if not isinstance(self.init_args, dict):
            raise ValueError(f"init_args must be a mapping of the category's options, got {self.init_args!r}")
        if not isinstance(self.prompt_template, str):
            raise ValueError(f"prompt_template must be a string holding {{prompt}}, got {self.prompt_template!r}")
        if self.training_temperature is not None and self.training_temperature < 0:
            raise ValueError(f"training_temperature must be >= 0 (0 is Phase 1A's greedy choice), "
                             f"got {self.training_temperature}")
        if "{prompt}" not in self.prompt_template:
            raise ValueError(f"prompt_template {self.prompt_template!r} lacks {{prompt}}: the question would be dropped")

    def build(self, name: str) -> Category:
        """The category object, with this spec's settings over its defaults."""
        classes = builtin()
        if self.class_path is None and name not in classes:
            raise ValueError(f"categories.{name}: no built-in category of that name (built in: "
                             f"{', '.join(classes)}); give its class_path to declare your own")
        cls = load_class(self.class_path, f"categories.{name}") if self.class_path else classes[name]
        if self.class_path and cls.name != name:
            raise ValueError(f"categories.{name}: {self.class_path} is named {cls.name!r}; use that key")
        try:
            category = cls(**self.init_args)
        except TypeError as error:
            raise ValueError(f"categories.{name}.init_args: {error}") from error
        try:  # the merged policy must be consistent too
            category.decoding = self.decoding.over(cls.default_decoding)
        except ValueError as error:
            raise ValueError(f"categories.{name}.decoding (with the category's defaults for what it leaves "
                             f"out, {vars(cls.default_decoding)}): {error}") from error
        if self.training_temperature is not None:
            category.training_temperature = self.training_temperature
        category.sources = {"distill": self.distill, "benchmark": self.benchmark}
        category.prompt_template = self.prompt_template
        return category


def _spec(name: str, value: dict | CategorySpec | None) -> CategorySpec:
    """``categories.<name>`` of a config file as a ``CategorySpec``, refusing unknown keys by name."""
    if isinstance(value, CategorySpec):
        return value
    value = dict(value or {})
    known = {f.name for f in fields(CategorySpec)}
    unknown = sorted(set(value) - known)
    if unknown:
        import difflib

        near = [m for key in unknown for m in difflib.get_close_matches(key, known, n=1)]
        raise ValueError(f"categories.{name} has unknown settings {unknown}"
                         + (f" (did you mean {', '.join(near)}?)" if near else "") + f"; it takes {sorted(known)}")
    nested = {"decoding": Decoding, "distill": Source, "benchmark": Source}
    for key, kind in nested.items():
        if isinstance(value.get(key), dict):
            try:
                value[key] = kind(**value[key])
            except ValueError as error:
                raise ValueError(_located(f"categories.{name}.{key}", error, kind)) from error
            except TypeError as error:
                raise ValueError(f"categories.{name}.{key}: {error}") from error
    value.setdefault("decoding", Decoding())
    try:
        return CategorySpec(**value)
    except ValueError as error:
        raise ValueError(_located(f"categories.{name}", error, CategorySpec)) from error


def _located(where: str, error: ValueError, kind: type) -> str:
    """``error`` of a ``kind`` object, prefixed with where that object sits in the config: a message
    that starts with one of its fields names it by its dotted key."""
    text = str(error)
    starts = text.split(" ", 1)[0]
    return f"{where}.{text}" if starts in {f.name for f in fields(kind)} else f"{where}: {text}"


def resolve_categories(specs: dict[str, dict]) -> dict[str, Category]:
    """Every built-in category, then the user's own, each with its settings from ``specs``."""
    names = [*builtin(), *(n for n in specs if n not in builtin())]
    return {name: _spec(name, specs.get(name)).build(name) for name in names}
