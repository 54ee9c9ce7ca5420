"""What `cogumi plan` says a run will generate, counted from the config alone."""

import json

from cogumi.config import BenchmarkConfig, Experiment, GenerateConfig, RftConfig
from cogumi.perf.budget import budget_rows, generation_tokens, measured_speeds


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


def test_each_engines_measured_speed_is_read_from_the_perf_record(tmp_path):
    assert measured_speeds(tmp_path / "missing.json") == {}
    record = {"settings": {"base": "checkpoints/tiny/base"},
              "rows": [{"measurement": "HF engine, greedy", "tokens_per_s": 1234.5},
                       {"measurement": "HF engine, greedy", "tokens_per_s": 1.0},  # the first row of an engine counts
                       {"measurement": "vLLM engine, greedy", "tokens_per_s": 5000.0}]}
    (tmp_path / "perf.json").write_text(json.dumps(record))
    where = f"checkpoints/tiny/base ({tmp_path / 'perf.json'})"
    assert measured_speeds(tmp_path / "perf.json") == {"hf": (1234.5, where), "vllm": (5000.0, where)}
    old = {"settings": {"base": "b"}, "rows": [{"measurement": "generate stage, greedy", "tokens_per_s": 10.0}]}
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert measured_speeds(tmp_path / "old.json") == {"hf": (10.0, f"b ({tmp_path / 'old.json'})")}


def test_the_plan_gives_the_time_with_each_measured_engine_the_set_one_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    record = {"settings": {"base": "m"}, "rows": [{"measurement": "HF engine, greedy", "tokens_per_s": 100.0},
                                                  {"measurement": "vLLM engine, greedy", "tokens_per_s": 400.0}]}
    (tmp_path / "runs" / "perf.json").write_text(json.dumps(record))
    cfg = Experiment(categories={"math": {"decoding": {"max_new_tokens": 360}}},
                     generate=GenerateConfig(problems={"math": 1000}, engine="vllm"))
    rows = dict(budget_rows(cfg))
    assert rows["tokens: generate"] == ("at most 360,000, about 0.2 h with vllm (set) at 400 tokens/s; "
                                        "about 1.0 h with hf at 100 tokens/s")
    assert rows["tokens: benchmark"].split(", ", 1)[1].startswith("about") and "with hf (set)" in rows["tokens: benchmark"]
