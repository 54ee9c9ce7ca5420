"""`cogumi perf` through the real CLI on a shrunken setting: every row, and the equalities it reports."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_perf_harness_measures_every_row_and_its_baselines_agree(tmp_path):
    out = tmp_path / "perf.json"
    small = ["--prompts", "4", "--max_new_tokens", "8", "--batch_size", "4", "--long_prompts", "2",
             "--long_prompt_tokens", "40", "--samples", "3", "--sample_new_tokens", "4", "--sft_examples", "12",
             "--sft_batch_size", "4", "--repeats", "1", "--threads", "1", "--output", str(out)]
    done = subprocess.run([sys.executable, "-m", "cogumi.cli", "perf", "--config", str(ROOT / "configs" / "perf.yaml"),
                           *small], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "speedup" in done.stdout  # the table of ratios is printed
    rows = {row["measurement"]: row for row in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"generate stage, greedy", "3 samples per prompt", "SFT, length-grouped batches",
                         "SFT, padding-free"}
    for row in rows.values():
        assert row["speedup"] == round(row["tokens_per_s"] / row["baseline_tokens_per_s"], 2)
        assert row["seconds"] > 0 and row["baseline_seconds"] > 0
        assert len(row["runs_seconds"]) == len(row["baseline_runs_seconds"]) == 1  # --repeats 1
    assert rows["generate stage, greedy"]["note"] == "4/4 outputs identical"  # the engine matches model.generate
    assert rows["3 samples per prompt"]["note"].endswith("6/6 samples identical")  # one prefill, same samples
    padding_free = rows["SFT, padding-free"]["note"].split()
    assert padding_free[2] == padding_free[4]  # "mean loss A vs B": the same loss without padding
