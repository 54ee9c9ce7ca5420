"""`cogumi perf` through the real CLI on a shrunken setting: every row, and the equalities it reports."""

import json
import subprocess
import sys

from support import ROOT


def test_perf_harness_measures_every_row_and_its_baselines_agree(tmp_path):
    out = tmp_path / "perf.json"
    small = ["--prompts", "4", "--max_new_tokens", "8", "--batch_size", "4", "--long_prompts", "2",
             "--long_prompt_tokens", "40", "--samples", "3", "--sample_new_tokens", "4", "--sft_examples", "12",
             "--sft_batch_size", "4", "--repeats", "1", "--threads", "1", "--output", str(out),
             "--vllm.enforce_eager", "true"]
    done = subprocess.run([sys.executable, "-m", "cogumi.cli", "perf", "--config", str(ROOT / "configs" / "perf.yaml"),
                           *small], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "speedup" in done.stdout  # the table of ratios is printed
    rows = {(row["measurement"], row["baseline"]): row for row in json.loads(out.read_text())["rows"]}
    peer, one, continuous = "batched model.generate (the peer)", "model.generate per prompt", \
        "transformers continuous batching (generate_batch)"
    assert set(rows) == {("HF engine, greedy", peer), ("HF engine, greedy", one), ("HF engine, greedy", continuous),
                         ("vLLM engine, greedy", peer), ("vLLM engine, greedy", one),
                         ("3 samples per prompt", "prompt prefilled per sample"),
                         ("SFT, length-grouped batches", "TRL's random padded batches"),
                         ("SFT, padding-free", "TRL's random padded batches")}
    for row in rows.values():
        # the record keeps tokens/s to 0.001 (a baseline can run at 1.6 tokens/s) and the speedup to 0.01
        assert abs(row["speedup"] - row["tokens_per_s"] / row["baseline_tokens_per_s"]) <= 0.005 + 0.001 * row["speedup"]
        assert row["seconds"] > 0 and row["baseline_seconds"] > 0 and row["peak_mb"] > 0
        assert len(row["runs_seconds"]) == len(row["baseline_runs_seconds"]) == 1  # --repeats 1
    for baseline in (peer, one, continuous):  # the engine matches every way of calling transformers
        assert rows[("HF engine, greedy", baseline)]["note"] == "4/4 outputs identical"
    for baseline in (peer, one):
        assert rows[("vLLM engine, greedy", baseline)]["note"].startswith(("4/4 outputs identical", "3/4 outputs identical"))
    # the same baseline measured once serves every row that compares with it
    assert rows[("HF engine, greedy", peer)]["baseline_seconds"] == rows[("vLLM engine, greedy", peer)]["baseline_seconds"]
    assert rows[("3 samples per prompt", "prompt prefilled per sample")]["note"].endswith("6/6 samples identical")
    padding_free = rows[("SFT, padding-free", "TRL's random padded batches")]["note"].split()
    assert padding_free[2] == padding_free[4]  # "mean loss A vs B": the same loss without padding


def test_perf_compares_dtypes_and_leaves_out_what_it_is_told_to(tmp_path):
    out = tmp_path / "perf.json"
    small = ["--prompts", "4", "--max_new_tokens", "8", "--batch_size", "4", "--sft_examples", "8",
             "--sft_batch_size", "4", "--repeats", "1", "--threads", "1", "--output", str(out),
             "--engines", "[hf]", "--dtype", "bfloat16", "--compare_dtype", "float32",
             "--skip", "[naive, continuous, sampling]"]
    done = subprocess.run([sys.executable, "-m", "cogumi.cli", "perf", "--config", str(ROOT / "configs" / "perf.yaml"),
                           *small], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {(row["measurement"], row["baseline"]): row for row in json.loads(out.read_text())["rows"]}
    assert set(rows) == {("HF engine, greedy", "batched model.generate (the peer)"),
                         ("HF engine, greedy, bfloat16", "HF engine, greedy, float32"),
                         ("SFT, length-grouped batches", "TRL's random padded batches"),
                         ("SFT, length-grouped batches, bfloat16", "the same, float32"),
                         ("SFT, padding-free", "TRL's random padded batches")}
    agree = rows[("HF engine, greedy, bfloat16", "HF engine, greedy, float32")]["note"]
    assert agree.endswith("/4 outputs identical"), agree
    assert "examples/s" in rows[("SFT, length-grouped batches, bfloat16", "the same, float32")]["note"]
