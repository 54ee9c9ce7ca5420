"""The frontier on the shipped checkpoint: Phase 1A with its logits scaled is matched at its effective temperature."""

import pytest
import torch
from support import SHIPPED

from cogumi.categories import defaults
from cogumi.engines.hf import HfEngine
from cogumi.report.frontier import frontier_records, verdict
from cogumi.stages.benchmark import answer_and_score
from cogumi.world import make_split


@pytest.mark.skipif(not (SHIPPED / "phase1a" / "adapter_model.safetensors").exists(),
                    reason="the shipped tiny checkpoint is not built")
def test_phase1a_with_a_scalar_on_its_logits_is_matched_at_its_effective_temperature():
    from cogumi.models.load import load_policy

    model, tokenizer = load_policy(str(SHIPPED / "base"), str(SHIPPED / "phase1a"))
    engine = HfEngine(model, tokenizer)
    categories = {"math": defaults()["math"]}
    batch = {"problems": make_split("math", "benchmark", 24, seed=0), "category": "math"}

    def measure(temperature: float, with_greedy: bool) -> list[dict]:
        return answer_and_score(categories, lambda category: 48, 6, temperature, with_greedy, engine, batch, seed=5)

    before = measure(0.7, True)
    frontier = frontier_records(defaults(), before, {t: measure(t, False) for t in (0.1, 0.35, 0.5)}, 0.7, 6)
    with torch.no_grad():
        model.model.norm.weight.mul_(2.0)  # every logit doubled: sampling at 0.7 is Phase 1A at 0.35
    scaled = measure(0.7, True)
    result = verdict(categories["math"], frontier, scaled, resamples=200, seed=0)
    assert result["verdict"] == "matched" and result["temperature"] == 0.35, result
    assert all(abs(d["delta"]) < 0.05 for d in result["deltas"].values())
    far = verdict(categories["math"], {0.7: before}, scaled, resamples=200, seed=0)
    assert far["deltas"]["agreement_rate"]["delta"] > 0  # at 0.7 itself Phase 1A agrees with itself less
