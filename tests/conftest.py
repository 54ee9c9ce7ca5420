"""Fixtures every test may use; every test under tests/integration/ is marked ``integration``, so
that ``pytest -m "not integration"`` runs the fast unit tests alone."""

import random
from pathlib import Path

import pytest

from cogumi.models.tokenizer import build_tokenizer
from cogumi.world import CATEGORIES, make_split, respond

INTEGRATION = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items):
    for item in items:
        if INTEGRATION in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def tokenizer():
    """A small tokenizer trained in-process on the tiny world (nothing downloaded)."""
    rng = random.Random(0)
    corpus = [f"{p.prompt}\n{respond(p, rng)}" for c in CATEGORIES for p in make_split(c, "pretrain", 40, 0)]
    return build_tokenizer(corpus, vocab_size=400)


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module's tests (a tiny model runs fastest so); ask for it with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
