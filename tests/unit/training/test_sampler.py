"""The length-grouped training order: the Trainer's own, repeated exactly from a saved state."""

import torch
from transformers.trainer_pt_utils import LengthGroupedSampler

from cogumi.training.trainer import ResumableLengthGroupedSampler

LENGTHS = [(7 * i) % 23 + 1 for i in range(64)]


def test_the_order_is_the_trainers_own_and_a_restored_state_repeats_it_whatever_the_global_generator_holds():
    torch.manual_seed(1)
    theirs = list(LengthGroupedSampler(4, lengths=LENGTHS))
    torch.manual_seed(1)
    ours = ResumableLengthGroupedSampler(4, lengths=LENGTHS)
    ours.set_epoch(1)
    assert list(ours) == theirs and sorted(theirs) == list(range(64))
    epoch, state = ours.drawn
    assert epoch == 1

    again = ResumableLengthGroupedSampler(4, lengths=LENGTHS)
    again.restored = {1: state}
    again.set_epoch(1)
    torch.manual_seed(2)
    assert list(again) == theirs  # drawn from the saved state, not from the seed 2 the generator holds
    again.set_epoch(2)
    assert list(again) != theirs  # the next epoch draws afresh
