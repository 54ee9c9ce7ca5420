"""The smol path end to end, shrunk: SmolLM2-135M-Instruct (imported from the registry's GGUF by
`bash .ci/setup`) with its own ChatML template and ``<|im_end|>``, no adapter, through generate,
filter, train, benchmark and report, on a few problems of configs/smol.yaml's world.

Not skipped where the model is missing: it fails, saying how to get it."""

import json

import pytest
import yaml
from support import ROOT, cogumi

from cogumi.models.gguf import SMOLLM2_FOLDER

SMOL = ROOT / "configs" / "smol.yaml"
MODEL = ROOT / SMOLLM2_FOLDER


@pytest.fixture(scope="module")
def model() -> str:
    if not (MODEL / "config.json").exists():
        pytest.fail(f"{SMOLLM2_FOLDER} is missing: run `bash .ci/setup`, or `.venv/bin/cogumi import-gguf smollm2`")
    return str(MODEL)


def test_smol_fit_shrunk_runs_every_stage_on_the_real_model(model, tmp_path):
    config = yaml.safe_load(SMOL.read_text())
    few = {"math": 2, "code": 2, "reasoning": 2, "creativity": 1, "knowledge": 2, "instruction": 2}
    config.update(output_dir=str(tmp_path / "run"), ablations=[], threads=2)
    config["model"]["base"] = model
    for name, category in config["categories"].items():
        for split in ("distill", "benchmark"):
            category[split]["path"] = str(ROOT / category[split]["path"])
        samples = 2 if name in ("reasoning", "creativity", "instruction") else 1
        category["decoding"] = {"max_new_tokens": 40, "samples": samples}
    config["generate"].update(problems=few, engine="hf", batch_size=16)
    config["train"].update(epochs=1, batch_size=4, logging_steps=1, max_length=160)
    config["benchmark"].update(problems=few, engine="hf", samples_per_problem=2, max_new_tokens=40, bootstrap=20,
                               sweep_temperatures=[0.0, 0.7], min_problems=1)
    path = tmp_path / "smol.yaml"
    path.write_text(yaml.safe_dump(config))

    done = cogumi("fit", "--config", str(path), timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "benchmark" / "before.jsonl").read_text().splitlines()]
    answered = [r for r in records if "greedy_text" in r]
    assert {r["category"] for r in answered} == set(few), "every category is measured"
    texts = [r["greedy_text"] for r in answered] + [t for r in answered for t in r["sampled_texts"]]
    assert texts and not any("<|im_end|>" in t or "<|im_start|>" in t for t in texts), \
        "responses are cut at the model's own end-of-turn token, which never stays in the text"
    for line in (run / "data").glob("*_distilled.jsonl"):
        for example in map(json.loads, line.read_text().splitlines()):
            assert "<|im_end|>" not in json.dumps(example.get("response", example)), line.name
    report = json.loads((run / "report.json").read_text())
    assert set(report["training_examples"]["after"]) >= set(few) - {"creativity"}
    assert "the distilled model is" in (run / "report.md").read_text()
