"""A category from outside the package, run end to end through `cogumi fit`."""

import json
import os
import sys

import pytest
from support import PLUGINS, SHIPPED, cogumi, small_fit_config

from cogumi.world import make_split


def _word_problems(split: str, n: int) -> list[dict]:
    """Tiny-world math problems whose reference answer is written in words, as a dataset file would hold them."""
    sys.path.insert(0, str(PLUGINS))
    from word_arithmetic import in_words

    return [{"id": p.id, "question": p.prompt, "answer": in_words(int(p.answer))}
            for p in make_split("math", split, n, seed=3)]


@pytest.mark.skipif(not (SHIPPED / "phase1a" / "adapter_model.safetensors").exists(),
                    reason="the shipped tiny checkpoint is not built")
def test_a_category_from_outside_the_package_runs_through_fit(tmp_path):
    for split, n in (("distill", 8), ("benchmark", 4)):
        (tmp_path / f"words_{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _word_problems(split, n)))
    path = small_fit_config(tmp_path, {"words": {
        "class_path": "word_arithmetic:WordArithmetic", "init_args": {"last_only": False},
        "training_temperature": 0.0, "prompt_template": "Answer in words. {prompt}",
        "distill": {"path": str(tmp_path / "words_distill.jsonl"), "fields": {"prompt": "question"}},
        "benchmark": {"path": str(tmp_path / "words_benchmark.jsonl"), "fields": {"prompt": "question"}}}},
        generate={"math": 8, "words": 8}, benchmark={"math": 2, "words": 4})
    done = cogumi("fit", "--config", str(path), timeout=600,
                  env={"PYTHONPATH": os.pathsep.join([str(PLUGINS), os.environ.get("PYTHONPATH", "")])})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = tmp_path / "run"
    audit = json.loads((run / "data" / "audit.json").read_text())
    assert audit["words"]["problems"] == 8 and audit["words"]["accepted"] > 0, audit
    examples = [json.loads(l) for l in (run / "data" / "words_distilled.jsonl").read_text().splitlines()]
    assert all(e["instruction"].startswith("Answer in words. ") for e in examples)
    log = json.loads((run / "train" / "adapter" / "train_log.json").read_text())
    assert log["examples"]["words"] == len(examples)
    report = json.loads((run / "report.json").read_text())
    for label in ("before", "after"):
        assert report[label]["words"]["n"] == 4
        assert set(report[label]["words"]) == {"n", "greedy_accuracy", "sampled_accuracy", "majority_accuracy",
                                               "agreement_rate", "pass_at_k"}
    assert "words" in (run / "report.md").read_text()
