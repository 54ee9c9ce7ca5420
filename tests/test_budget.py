"""What `cogumi plan` says a run will generate, counted from the config alone."""

import json

from cogumi.budget import generation_tokens, measured_speed
from cogumi.config import BenchmarkConfig, Experiment, GenerateConfig, RftConfig


def test_tokens_per_stage_count_every_sample_to_its_limit():
    cfg = Experiment(
        categories={"math": {"decoding": {"max_new_tokens": 10}}, "reasoning": {"decoding": {"samples": 3, "max_new_tokens": 20}}},
        generate=GenerateConfig(problems={"math": 5, "reasoning": 2}), ablations=["rft"],
        rft=RftConfig(categories=["math"], samples=4, temperature=0.7, keep=4),
        benchmark=BenchmarkConfig(problems={"math": 3}, samples_per_problem=2, max_new_tokens=7,
                                  sweep_temperatures=[0.0, 0.3, 0.7]))
    tokens = generation_tokens(cfg)
    assert tokens["generate"] == 5 * 1 * 10 + 2 * 3 * 20
    assert tokens["generate_rft"] == 5 * 4 * 10
    # before, after and rft greedily and twice at 0.7; Phase 1A at 0.3 and at both effective temperatures
    assert tokens["benchmark"] == 3 * (1 + 2) * 7 * 3 + 3 * 2 * 7 * (1 + 2)


def test_a_measured_speed_is_read_from_the_perf_record(tmp_path):
    assert measured_speed(tmp_path / "missing.json") is None
    record = {"settings": {"base": "checkpoints/tiny/base"},
              "rows": [{"measurement": "generate stage, greedy", "tokens_per_s": 1234.5}]}
    (tmp_path / "perf.json").write_text(json.dumps(record))
    assert measured_speed(tmp_path / "perf.json") == (1234.5, f"checkpoints/tiny/base ({tmp_path / 'perf.json'})")
