"""The benchmark stage's pure core: per-problem records into metrics, paired deltas, and which
problems are measured."""

import pytest

from cogumi.categories import defaults
from cogumi.config import BenchmarkConfig, Experiment, GenerateConfig
from cogumi.data.problems import benchmark_problems
from cogumi.data.sources import load_problems
from cogumi.report.stats import paired_deltas, summarize
from cogumi.world import CATEGORIES


def _records(values, name="sampled_accuracy", category="math"):
    return [{"problem_id": f"p{i}", "category": category, name: v} for i, v in enumerate(values)]


def test_summary_means_over_problems():
    rows = [{"problem_id": "a", "category": "math", "greedy_accuracy": 1.0, "sampled_accuracy": 0.5,
             "majority_accuracy": 1.0, "agreement_rate": 0.75},
            {"problem_id": "b", "category": "math", "greedy_accuracy": 0.0, "sampled_accuracy": 0.25,
             "majority_accuracy": 0.0, "agreement_rate": 0.5}]
    assert summarize(defaults(), rows) == {"math": {"n": 2, "greedy_accuracy": 0.5, "sampled_accuracy": 0.375,
                                        "majority_accuracy": 0.5, "agreement_rate": 0.625}}


def test_paired_delta_pairs_problems_and_brackets_the_mean():
    before = _records([0.0, 0.5, 1.0, 0.25] * 10)
    after = list(reversed(_records([0.5, 0.5, 1.0, 0.75] * 10)))  # order must not matter: pairs are by id
    result = paired_deltas(before, after, ["sampled_accuracy"], resamples=300, seed=0)["sampled_accuracy"]
    assert result["delta"] == pytest.approx(0.25)
    assert result["low"] < 0.25 < result["high"] and result["low"] > 0  # every pair improved or held
    same = paired_deltas(before, before, ["sampled_accuracy"], resamples=100, seed=0)["sampled_accuracy"]
    assert same["delta"] == same["low"] == same["high"] == 0


def test_the_distill_split_measures_the_problems_generation_answered():
    generated = {c: 4 for c in CATEGORIES}
    cfg = Experiment(generate=GenerateConfig(problems=generated),
                     benchmark=BenchmarkConfig(problems={c: 6 for c in CATEGORIES}, split="distill"))
    measured = benchmark_problems(cfg, "distill")
    answered = [p for c in CATEGORIES for p in load_problems(cfg.resolved[c], "distill", generated[c], cfg.seed)]
    assert [p.id for p in measured] == [p.id for p in answered]  # capped at what generation answered
    held_out = benchmark_problems(cfg, "benchmark")
    assert len(held_out) == 6 * len(CATEGORIES) and not {p.key for p in held_out} & {p.key for p in measured}


def test_an_unknown_split_is_refused():
    with pytest.raises(ValueError, match="benchmark.split must be one of"):
        BenchmarkConfig(split="test")


def test_a_report_of_phase1a_alone_has_no_verdicts_to_show():
    from cogumi.categories import defaults
    from cogumi.report.build import build_report
    from cogumi.report.frontier import frontier_records
    from cogumi.report.tables import markdown

    categories = {"math": defaults()["math"]}
    before = [{"category": "math", "problem_id": f"p{i}", "greedy_accuracy": float(i % 2), "sampled_accuracy": 0.5,
               "majority_accuracy": 0.5, "agreement_rate": 0.5, "pass_at_k": 1.0, "pass_curve": [0.5, 1.0],
               "majority_curve": [0.5, 0.5]} for i in range(6)]
    report = build_report(categories, {"before": before}, frontier_records(categories, before, {}, 0.7, 2), effective={},
                          serve_temperature=0.7, samples_per_problem=2, resamples=50, seed=0, config="c.yaml",
                          timings={})
    assert report["verdicts"] == {}
    text = markdown(report)
    assert "Verdicts" not in text and "| math | greedy_accuracy | 0.500 |" in text


def test_calibration_compares_each_category_with_phase1a_at_its_training_temperature():
    from cogumi.categories import defaults
    from cogumi.report.build import calibration

    categories = defaults()
    categories["creativity"].training_temperature = 0.3
    frontier = {"math": {"0": {"agreement_rate": 1.0}, "0.3": {"agreement_rate": 0.88}, "0.7": {"agreement_rate": 0.63}},
                "creativity": {"0": {"diversity": 0.0}, "0.3": {"diversity": 0.78}, "0.7": {"diversity": 0.82}}}
    model = {"math": {"agreement_rate": 0.98}, "creativity": {"diversity": 0.52}}
    found = calibration(categories, frontier, model)
    assert found["math"]["phase1a_at"] == 0.0 and found["math"]["calibrated"]
    assert found["math"]["gap"] == pytest.approx(-0.02)
    assert found["creativity"]["metric"] == "diversity" and found["creativity"]["target"] == 0.78
    assert not found["creativity"]["calibrated"] and found["creativity"]["gap"] == pytest.approx(-0.26)


def test_phase1a_is_measured_at_every_training_temperature():
    from cogumi.config import Experiment

    cfg = Experiment(categories={"creativity": {"training_temperature": 0.45}})
    assert {0.0, 0.45, 0.7} <= set(cfg.benchmark.sweep_temperatures)


def test_a_per_category_token_limit_redoes_that_category_alone():
    from cogumi.config import Experiment
    from cogumi.stages.benchmark import measured_settings

    one = measured_settings(Experiment(benchmark=BenchmarkConfig(max_new_tokens={"default": 96})))
    math = measured_settings(Experiment(benchmark=BenchmarkConfig(max_new_tokens={"default": 96, "math": 384})))
    assert one["benchmark"] == math["benchmark"]  # what every record depends on alike is unchanged
    changed = [c for c in one["categories"] if one["categories"][c] != math["categories"][c]]
    assert changed == ["math"] and math["categories"]["math"]["max_new_tokens"] == 384
    assert Experiment(benchmark=BenchmarkConfig(max_new_tokens={"default": 96, "math": 384})).benchmark.tokens_for("code") == 96
    with pytest.raises(ValueError, match=r"names no limit for \['code'"):
        Experiment(benchmark=BenchmarkConfig(max_new_tokens={"math": 384}))
    with pytest.raises(ValueError, match="unknown categories"):
        Experiment(benchmark=BenchmarkConfig(max_new_tokens={"default": 9, "mth": 384}))
    with pytest.raises(ValueError, match="must be > 0 for every category"):
        BenchmarkConfig(max_new_tokens={"math": 0})


def test_a_dataset_rewritten_in_place_changes_its_categorys_fingerprint_alone(tmp_path):
    from cogumi.config import Experiment
    from cogumi.stages.benchmark import measured_settings

    kb = tmp_path / "kb.jsonl"
    kb.write_text('{"prompt": "Capital of Norway?", "answer": "Oslo"}\n')
    cfg = lambda: Experiment(categories={"knowledge": {"benchmark": {"path": str(kb)}}})  # noqa: E731
    first = measured_settings(cfg())
    assert measured_settings(cfg()) == first
    kb.write_text('{"prompt": "Capital of Norway?", "answer": "Bergen"}\n')  # every reference changed, same path
    second = measured_settings(cfg())
    assert [c for c in first["categories"] if first["categories"][c] != second["categories"][c]] == ["knowledge"]
