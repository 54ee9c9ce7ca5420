"""Knowledge: a short answer matched against the reference and its aliases; greedy distill."""

from __future__ import annotations

from cogumi.categories.base import Decoding, ShortAnswer


class Knowledge(ShortAnswer):
    name = "knowledge"
    default_decoding = Decoding(0.0, 1, 96)
    default_training_temperature = 0.0
    fields = ("prompt", "answer")
    tiny_world = True
    position = 4
