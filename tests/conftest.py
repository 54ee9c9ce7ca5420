import random

import pytest

from cogumi.tokenizer import build_tokenizer
from cogumi.world import CATEGORIES, make_split, respond


@pytest.fixture(scope="session")
def tokenizer():
    """A small tokenizer trained in-process on the tiny world (nothing downloaded)."""
    rng = random.Random(0)
    corpus = [f"{p.prompt}\n{respond(p, rng)}" for c in CATEGORIES for p in make_split(c, "pretrain", 40, 0)]
    return build_tokenizer(corpus, vocab_size=400)
