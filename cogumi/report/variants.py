"""The models a run measures, by name: Phase 1A ("before"), the distilled model ("after") and the
ablations, each with its title in tables, its colour in plots, its training folder and the data
folder it is trained on. A variant trained under another seed is named ``NAME@seedN``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    title: str
    """How tables and plots name it."""
    colour: str
    """Its colour in every plot."""
    folder: str | None = None
    """Its training folder in the run (None: Phase 1A, not trained)."""
    data: str | None = None
    """The data folder it is trained on: "data" is the filter's, the others are built beside it."""


VARIANTS = {
    "before": Variant("Phase 1A", "black"),
    "after": Variant("distilled", "tab:blue", "train", "data"),
    "plain_sft": Variant("plain SFT", "tab:orange", "train_plain", "data"),
    "no_verification": Variant("no verification", "tab:green", "train_unverified", "data_unverified"),
    "rft": Variant("RFT", "tab:red", "train_rft", "data_rft"),
}
TRAINED = [name for name, v in VARIANTS.items() if v.folder]
OTHER_COLOUR = "tab:purple"


def split_variant(label: str) -> tuple[str, int | None]:
    """``"rft@seed2"`` -> ``("rft", 2)``; ``"rft"`` -> ``("rft", None)``."""
    name, _, seed = label.partition("@seed")
    return name, int(seed) if seed else None


def title(label: str) -> str:
    """A model's name in tables: its variant's title, with the training seed where it has one."""
    name, seed = split_variant(label)
    found = VARIANTS.get(name)
    return (found.title if found else name) + (f" (seed {seed})" if seed is not None else "")


def policy_name(report: dict) -> str:
    """What the report calls the model before training: "Phase 1A" (the base with the user's Phase 1A
    adapter), or "your model" where the model itself is the policy (``model.adapter: null``)."""
    return report.get("policy", "Phase 1A")


def colour(label: str) -> str:
    found = VARIANTS.get(split_variant(label)[0])
    return found.colour if found else OTHER_COLOUR
