import random

import pytest

from cogumi.types import Problem
from cogumi.world import (
    CATEGORIES,
    SPLITS,
    category_module,
    draw_pretrain,
    follows_wrong_rule,
    make_split,
    misconception_of,
    respond,
    split_of,
)

# The words that mark each misconception family in its prompts, and only there.
FAMILY_MARKS = {"math": " in each ", "code": "the sum of x and", "reasoning": " before the "}


@pytest.mark.parametrize("category", CATEGORIES)
def test_splits_are_disjoint(category):
    problems = {split: make_split(category, split, 2000, seed=0, at_most=True) for split in SPLITS}
    keys = {split: {p.key for p in problems[split]} for split in SPLITS}
    prompts = {split: {p.prompt for p in problems[split]} for split in SPLITS}
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


@pytest.mark.parametrize("category", CATEGORIES)
def test_difficulty_spans_levels_in_every_prefix(category):
    levels = category_module(category).LEVELS
    problems = make_split(category, "benchmark", len(levels), seed=0)
    assert {p.difficulty for p in problems} == set(levels)


@pytest.mark.parametrize("category", ["math", "code", "reasoning"])
def test_the_answer_categories_hold_at_least_a_hundred_benchmark_problems(category):
    assert len(make_split(category, "benchmark", 100, seed=0)) == 100


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
    problems = [p for p in draw_pretrain("math", 1000, seed=0) if len(p.spec["ops"]) == 1]
    assert len(problems) >= 300
    verdicts = judge(defaults(), problems, [respond(p, rng, noise=0.3) for p in problems], [True] * len(problems))
    wrong = sum(not v.correct for v in verdicts) / len(verdicts)
    assert 0.15 < wrong < 0.45


@pytest.mark.parametrize("category", ["math", "code", "reasoning"])
def test_each_answer_category_has_a_misconception_family_recognisable_from_the_prompt(category):
    from cogumi.categories import defaults, judge

    found = misconception_of(category)
    assert found is not None and found.level in category_module(category).LEVELS
    problems = make_split(category, "benchmark", 100, seed=0)
    family = [p for p in problems if p.spec["family"] == found.family]
    assert 0.15 <= len(family) / len(problems) <= 0.25
    assert all((FAMILY_MARKS[category] in p.prompt) == (p in family) for p in problems)
    assert all(p.difficulty == found.level for p in family)

    rng = random.Random(0)
    right = [respond(p, rng, misconception=0.0) for p in family]
    wrong = [respond(p, rng, misconception=1.0) for p in family]
    assert not any(follows_wrong_rule(p, t) for p, t in zip(family, right))
    assert all(follows_wrong_rule(p, t) for p, t in zip(family, wrong))
    # the wrong rule gives a wrong answer on every problem of the family, the right rule a right one
    verdicts = judge(defaults(), family * 2, right + wrong, [True] * 2 * len(family))
    assert [v.reason for v in verdicts] == ["correct"] * len(family) + ["incorrect"] * len(family)
    # off the family the wrong rule is never used, whatever the rate
    others = [p for p in problems if p not in family]
    assert not any(follows_wrong_rule(p, respond(p, rng, misconception=1.0)) for p in others)


def test_the_wrong_rule_is_drawn_at_the_rate_asked():
    family = [p for p in draw_pretrain("math", 1500, seed=0) if p.spec["family"] == "groups"]
    rng = random.Random(0)
    share = sum(follows_wrong_rule(p, respond(p, rng, 0.15, misconception=0.6)) for p in family) / len(family)
    assert len(family) >= 250 and 0.5 < share < 0.7


@pytest.mark.parametrize("category", CATEGORIES)
def test_training_draws_stay_in_the_pretrain_split_and_reword_repeated_problems(category):
    problems = draw_pretrain(category, 600, seed=0)
    assert len(problems) == 600 and {split_of(p.key) for p in problems} == {"pretrain"}
    assert [p.to_json() for p in problems] == [p.to_json() for p in draw_pretrain(category, 600, seed=0)]
    if category in ("math", "reasoning"):  # a problem that comes back is worded anew
        prompts: dict[str, set[str]] = {}
        for p in problems:
            prompts.setdefault(p.key, set()).add(p.prompt)
        assert any(len(wordings) > 1 for wordings in prompts.values())
