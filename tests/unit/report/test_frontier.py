"""The decoding frontier: a model that is Phase 1A with a scalar on its logits is matched by Phase 1A
at T_serve / scalar; a model better than every temperature on every metric is beyond it."""


import pytest

from cogumi.categories import defaults
from cogumi.report.frontier import oracle, sentence, verdict


def _records(category: str, n: int, **metrics) -> list[dict]:
    return [{"problem_id": f"p{i}", "category": category, **{k: (v(i) if callable(v) else v) for k, v in metrics.items()}}
            for i in range(n)]


def test_a_model_better_than_every_temperature_on_every_metric_is_beyond():
    math = defaults()["math"]
    half = lambda i: float(i % 2)
    frontier = {t: _records("math", 60, greedy_accuracy=half, sampled_accuracy=half, majority_accuracy=half,
                            agreement_rate=1.0 - t / 2, pass_at_k=half) for t in (0.0, 0.3, 0.7)}
    better = _records("math", 60, greedy_accuracy=1.0, sampled_accuracy=1.0, majority_accuracy=1.0,
                      agreement_rate=1.0, pass_at_k=1.0)
    result = verdict(math, frontier, better, resamples=300, seed=0)
    assert result["verdict"] == "beyond"
    assert result["deltas"]["greedy_accuracy"]["low"] > 0
    same = verdict(math, frontier, frontier[0.3], resamples=300, seed=0)
    assert same["verdict"] == "matched" and same["temperature"] == 0.3


def test_temperature_zero_is_read_off_the_greedy_answers_and_the_oracle_takes_the_best():
    record = {"problem_id": "a", "category": "math", "greedy_accuracy": 1.0, "sampled_accuracy": 0.25,
              "majority_accuracy": 0.0, "agreement_rate": 0.5, "pass_at_k": 1.0, "pass_curve": [0.25, 1.0],
              "majority_curve": [0.0, 0.0]}
    zero = defaults()["math"].greedy_record(record, 2)
    assert (zero["sampled_accuracy"], zero["agreement_rate"], zero["majority_curve"]) == (1.0, 1.0, [1.0, 1.0])
    poem = defaults()["creativity"].greedy_record({"problem_id": "b", "category": "creativity", "greedy_well_formed": 1.0,
                          "sampled_well_formed": 0.5, "diversity": 0.8}, 2)
    assert poem["diversity"] == 0.0  # every sample is the greedy one
    best = oracle(defaults(), {"math": {0.0: {"sampled_accuracy": 0.9}, 0.3: {"sampled_accuracy": 0.9},
                                        0.7: {"sampled_accuracy": 0.6}},
                               "creativity": {0.0: {"diversity": 0.0}, 0.7: {"diversity": 0.8}}})
    assert best["math"]["temperature"] == 0.0 and best["creativity"]["temperature"] == 0.7


def test_pass_at_k_is_the_unbiased_estimate():
    from cogumi.categories.metrics import pass_at

    assert pass_at(8, 0, 3) == 0.0 and pass_at(8, 8, 1) == 1.0 and pass_at(8, 6, 3) == 1.0
    assert pass_at(4, 1, 1) == pytest.approx(0.25) and pass_at(4, 1, 2) == pytest.approx(0.5)


def test_training_seeds_are_variants_of_their_own_and_the_report_gives_their_spread():
    from cogumi.config import Experiment
    from cogumi.report.build import _seed_spread
    from cogumi.run import RunFolder

    cfg = Experiment(seed=0, ablations=["plain_sft"], train_seeds=[0, 1, 2])
    assert cfg.variants == ["after", "plain_sft", "after@seed1", "plain_sft@seed1", "after@seed2", "plain_sft@seed2"]
    assert RunFolder("r").train_dir("plain_sft@seed2").name == "train_plain_seed2"
    summaries = {"before": {}, **{label: {"math": {"sampled_accuracy": v}}
                                  for label, v in (("after", 0.8), ("after@seed1", 0.9), ("after@seed2", 1.0))}}
    spread = _seed_spread(defaults(), summaries)
    assert spread == {"after": {"math": {"sampled_accuracy": {"mean": 0.9, "sd": 0.1, "seeds": 3}}}}


def test_effective_temperatures_close_to_a_measured_point_share_it(tmp_path):
    import json
    from types import SimpleNamespace

    from cogumi.report.frontier import sweep_points

    scales = {"after": 0.7 / 0.049, "plain_sft": 0.7 / 0.31, "rft": 0.7 / 0.051, "no_verification": 0.7 / 0.2}
    adapters = {}
    for variant, scale in scales.items():
        adapters[variant] = tmp_path / variant
        adapters[variant].mkdir()
        (adapters[variant] / "train_log.json").write_text(json.dumps({"logit_scale": scale}))
    cfg = SimpleNamespace(serve_temperature=0.7, benchmark=SimpleNamespace(sweep_temperatures=[0.0, 0.1, 0.3, 0.7]))
    run = SimpleNamespace(train_log=lambda variant: adapters[variant] / "train_log.json")
    points = sorted(sweep_points(cfg, run, list(scales)).values())
    # 0.051 is read off 0.049 and 0.31 off 0.3; 0.2 is far from every point and gets its own
    assert points == [0.049, 0.1, 0.2, 0.3]


def test_a_verdict_on_too_few_problems_says_so_instead_of_deciding():
    math = defaults()["math"]
    worse = _records("math", 1, greedy_accuracy=0.0, sampled_accuracy=0.0, majority_accuracy=0.0,
                     agreement_rate=0.0, pass_at_k=0.0)
    better = _records("math", 1, greedy_accuracy=1.0, sampled_accuracy=1.0, majority_accuracy=1.0,
                      agreement_rate=1.0, pass_at_k=1.0)
    result = verdict(math, {0.7: worse}, better, resamples=100, seed=0, min_problems=20)
    assert result["verdict"] == "too_few" and result["n"] == 1
    assert "too few problems to decide (1 measured" in sentence("math", "the distilled model", result, [0.7])
    decided = verdict(math, {0.7: worse}, better, resamples=100, seed=0, min_problems=1)
    assert decided["verdict"] == "beyond"  # what one problem alone used to be called
