"""The smol world: the files shipped in configs/smol/ are what the generator writes, every problem
is checkable, no problem is in both splits, and the code references pass their own tests."""

import re

import pytest
from support import ROOT, tiny_config

from cogumi.data.overlap import check_overlap
from cogumi.data.sources import load_problems
from cogumi.world import smol

SHIPPED = ROOT / "configs" / "smol"
SMOL = ROOT / "configs" / "smol.yaml"


def test_the_shipped_files_are_what_the_generator_writes(tmp_path):
    written = smol.write(tmp_path)
    assert len(written) == 12
    for path in written:
        shipped = SHIPPED / path.relative_to(tmp_path)
        assert shipped.read_bytes() == path.read_bytes(), f"{shipped} is stale: python -m cogumi.world.smol configs/smol"


def test_another_seed_draws_other_problems():
    assert smol.problems("math", "benchmark", seed=1) != smol.problems("math", "benchmark", seed=0)


@pytest.mark.parametrize("category", list(smol.COUNTS))
def test_no_prompt_is_in_both_splits_and_ids_are_unique(category):
    rows = {split: smol.problems(category, split) for split in smol.SPLITS}
    prompts = {split: {r["prompt"] for r in found} for split, found in rows.items()}
    assert not prompts["distill"] & prompts["benchmark"]
    ids = [r["id"] for found in rows.values() for r in found]
    assert len(ids) == len(set(ids))


def test_configs_smol_loads_through_the_dataset_path_and_passes_the_overlap_guard(tmp_path):
    cfg = tiny_config(tmp_path / "run", config=SMOL, command="plan")
    found = {split: [p for name, c in cfg.resolved.items() for p in load_problems(c, split, 10_000, cfg.seed)]
             for split in smol.SPLITS}
    notes = check_overlap(cfg.resolved, cfg.overlap, found["distill"], found["benchmark"])
    assert notes == [], notes  # it raises on overlap (allow_overlap is off)
    benchmark = {name: sum(p.category == name for p in found["benchmark"]) for name in smol.COUNTS}
    assert min(benchmark["math"], benchmark["code"], benchmark["reasoning"]) >= 100, benchmark


def test_every_code_reference_passes_its_tests_and_a_wrong_answer_fails_them():
    references = {f"{name}_{k}": reference(k) for name, _, _, _, reference in smol._WITH_K for k in range(2, 41)}
    references.update({spec[0]: spec[4] for spec in smol._PLAIN})
    rows = [row for split in smol.SPLITS for row in smol.problems("code", split)]
    assert len(rows) >= 300
    for row in rows:
        scope: dict = {}
        exec(row["tests"], scope)  # the world's own tests, not model-generated code
        scope["check"](references[row["entry_point"]])
        with pytest.raises(AssertionError):
            scope["check"](lambda *args: None)


def _solve(prompt: str) -> int:
    """The answer of a smol math or reasoning prompt, worked out from its words."""
    numbers = [int(n) for n in re.findall(r"\d+", prompt)]
    if "larger" in prompt:
        return max(numbers)
    if "smaller" in prompt:
        return min(numbers)
    if "times" in prompt or "multiplied" in prompt:
        return numbers[0] * numbers[1]
    if "gives away" in prompt:
        return numbers[0] - numbers[1]
    return numbers[0] + numbers[1]  # "+", "plus", "buys ... more", red and blue


def test_every_math_and_reasoning_answer_is_right():
    for split in smol.SPLITS:
        for row in smol.problems("math", split) + smol.problems("reasoning", split):
            assert row["answer"] == str(_solve(row["prompt"])), row


def test_knowledge_answers_are_unique_facts_and_instructions_if_verifiable_ids():
    from cogumi.verify.instruction import check_constraints

    rows = [r for split in smol.SPLITS for r in smol.problems("knowledge", split)]
    assert len({r["prompt"] for r in rows}) == len(rows) and all(r["answer"] for r in rows)
    for split in smol.SPLITS:
        for row in smol.problems("instruction", split):
            check_constraints(row["constraints"], row["id"])
            assert all(":" in name for name in row["constraints"]), "if-verifiable's IFEval checkers"


def test_the_code_benchmark_holds_the_chosen_families_whole_and_distill_none_of_them():
    def family(row):
        return re.sub(r"_\d+$", "", row["entry_point"])

    benchmark = {family(r) for r in smol.problems("code", "benchmark")}
    distill = {family(r) for r in smol.problems("code", "distill")}
    assert benchmark == smol.BENCHMARK_CODE and not distill & smol.BENCHMARK_CODE


def test_the_math_benchmark_holds_the_sum_and_times_facts_and_distill_the_other_wordings():
    def family(prompt):
        return ("buys" if " buys " in prompt else "multiplied" if "multiplied" in prompt else
                "times" if " times " in prompt else "plus" if " plus " in prompt else "add")

    benchmark = [r["prompt"] for r in smol.problems("math", "benchmark")]
    distill = {family(r["prompt"]) for r in smol.problems("math", "distill")}
    assert {family(p) for p in benchmark} == smol.BENCHMARK_MATH == {"add", "times"}
    assert distill == {"plus", "buys", "multiplied"}
    assert len(set(benchmark)) == smol.COUNTS["math"]["benchmark"] >= 100
