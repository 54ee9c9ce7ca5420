"""The rebuild command, run through the real CLI on a shrunken setting."""

import json

import pytest
import torch
from safetensors.torch import load_file

from cogumi.cli import main
from cogumi.models.build_tiny import TinyBuildConfig, training_data
from cogumi.models.load import load_policy
from cogumi.world import follows_wrong_rule, misconception_of

SHRUNK = ["--dims.hidden_size", "32", "--dims.intermediate_size", "64", "--dims.num_hidden_layers", "2",
          "--vocab_size", "300", "--base_steps", "6", "--adapter_steps", "4", "--batch_size", "8",
          "--fact_repeats", "1", "--threads", "1",
          "--examples", '{"math": 20, "code": 8, "reasoning": 8, "creativity": 8, "knowledge": 8, "instruction": 8}']


def _build(out):
    main(["build-tiny", "--config", "configs/build_tiny.yaml", "--output_dir", str(out), *SHRUNK])


def test_rebuild_writes_a_loadable_checkpoint_reproducibly(tmp_path):
    _build(tmp_path / "a")
    files = {str(p.relative_to(tmp_path / "a")) for p in (tmp_path / "a").rglob("*") if p.is_file()}
    assert {"base/config.json", "base/model.safetensors", "base/tokenizer.json", "base/tokenizer_config.json",
            "phase1a/adapter_config.json", "phase1a/adapter_model.safetensors", "build.json"} <= files
    record = json.loads((tmp_path / "a" / "build.json").read_text())
    assert record["config"]["base_steps"] == 6 and record["examples"]["noisy"] == 60

    adapter = load_file(tmp_path / "a" / "phase1a" / "adapter_model.safetensors")
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in adapter.items()), "adapter never trained"
    model, tokenizer = load_policy(str(tmp_path / "a" / "base"), str(tmp_path / "a" / "phase1a"))
    assert tokenizer.pad_token_id != tokenizer.eos_token_id

    _build(tmp_path / "b")  # same seed, same bytes
    for part in ("base/model.safetensors", "phase1a/adapter_model.safetensors"):
        first, second = load_file(tmp_path / "a" / part), load_file(tmp_path / "b" / part)
        assert first.keys() == second.keys()
        assert all(torch.equal(first[k], second[k]) for k in first)


def test_phase1a_data_follows_each_wrong_rule_in_the_configured_share():
    cfg = TinyBuildConfig(examples={"math": 1000, "code": 600, "reasoning": 600}, fact_repeats=0,
                          misconception={"math": 0.6, "code": 0.55, "reasoning": 0.65})
    data = training_data(cfg)
    assert len(data.noisy) == len(data.problems) == 2200
    counts = data.misconception_counts()
    for category, share in cfg.misconception.items():
        family = [(p, text) for p, text in zip(data.problems, data.noisy)
                  if p.category == category and p.spec["family"] == misconception_of(category).family]
        wrong = sum(follows_wrong_rule(p, text) for p, text in family)
        assert len(family) >= 100
        assert counts[category] == {"family": len(family), "wrong_rule": wrong}
        assert wrong == round(share * len(family))  # exactly the share, read back from the texts
    # the base's data never follows a wrong rule
    clean = dict(data.clean)
    assert not any(follows_wrong_rule(p, clean[p.prompt]) for p in data.problems if p.prompt in clean)


def test_a_category_without_a_misconception_family_is_refused():
    with pytest.raises(ValueError, match="no misconception family"):
        TinyBuildConfig(misconception={"knowledge": 0.6})
