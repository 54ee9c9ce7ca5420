import random

import pytest

from cogumi.world import CATEGORIES, SPLITS, Problem, make_split, respond, split_of


@pytest.mark.parametrize("category", CATEGORIES)
def test_splits_are_disjoint(category):
    keys = {split: {p.key for p in make_split(category, split, 2000, seed=0, at_most=True)} for split in SPLITS}
    prompts = {split: {p.prompt for p in make_split(category, split, 2000, seed=0, at_most=True)} for split in SPLITS}
    for a, b in [("pretrain", "distill"), ("pretrain", "benchmark"), ("distill", "benchmark")]:
        assert not keys[a] & keys[b], f"{category}: {a} and {b} share problems"
        assert not prompts[a] & prompts[b], f"{category}: {a} and {b} share prompts"
    assert all(len(keys[s]) >= 15 for s in SPLITS)


@pytest.mark.parametrize("category", CATEGORIES)
def test_splits_are_seed_stable(category):
    first = make_split(category, "benchmark", 15, seed=3)
    again = make_split(category, "benchmark", 15, seed=3)
    other = make_split(category, "benchmark", 15, seed=4)
    assert [p.to_json() for p in first] == [p.to_json() for p in again]
    assert [p.key for p in first] != [p.key for p in other]
    # whatever the seed, a problem's split is fixed by its key
    assert {split_of(p.key) for p in first + other} == {"benchmark"}


def test_difficulty_spans_levels_in_every_prefix():
    math = make_split("math", "benchmark", 8, seed=0)
    assert {p.difficulty for p in math} == {1, 2, 3, 4}


def test_asking_for_more_than_the_split_holds_says_so():
    with pytest.raises(ValueError, match="only .* distinct code problems"):
        make_split("code", "benchmark", 10_000, seed=0)


def test_problem_round_trips_through_json():
    for category in CATEGORIES:
        problem = make_split(category, "distill", 1, seed=0)[0]
        assert Problem.from_json(problem.to_json()) == problem


def test_clean_responses_pass_their_own_verifiers():
    from cogumi.categories import defaults, judge

    rng = random.Random(0)
    problems = [p for c in CATEGORIES for p in make_split(c, "benchmark", 12, seed=0)]
    texts = [respond(p, rng, noise=0.0) for p in problems]
    verdicts = judge(defaults(), problems, texts, [True] * len(texts))
    bad = [(p.prompt, t, v) for p, t, v in zip(problems, texts, verdicts) if v.reason != "correct"]
    assert not bad


def test_noisy_responses_contain_mistakes_at_about_the_rate():
    from cogumi.categories import defaults, judge

    rng = random.Random(0)
    problems = [p for p in make_split("math", "pretrain", 800, seed=0) if len(p.spec["ops"]) == 1]
    assert len(problems) >= 300
    verdicts = judge(defaults(), problems, [respond(p, rng, noise=0.3) for p in problems], [True] * len(problems))
    wrong = sum(not v.correct for v in verdicts) / len(verdicts)
    assert 0.15 < wrong < 0.45
