"""Knowledge: a short answer matched against the reference and its aliases; greedy distill."""

from __future__ import annotations

from cogumi.categories.base import ShortAnswer
from cogumi.types import Decoding


class Knowledge(ShortAnswer):
    name = "knowledge"
    default_decoding = Decoding(0.0, 1, 96)
    default_training_temperature = 0.0
    fields = ("prompt", "answer")
    position = 4
    seed = 4
