"""The loss registry: every loss the config accepts is one the trainer can compute."""

import pytest

from cogumi.config import TrainConfig
from cogumi.training import LOSS_NAMES
from cogumi.training.losses import LOSSES


def test_every_named_loss_is_registered_and_only_those():
    assert LOSSES.keys() == LOSS_NAMES.keys()
    assert TrainConfig.loss in LOSSES  # the default is one of them


def test_an_unknown_loss_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="train.loss must be one of .*decoupled"):
        TrainConfig(loss="focal")
