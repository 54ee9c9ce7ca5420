"""`cogumi fit` end to end through the real CLI on a shrunken config, then `cogumi benchmark` on the distill split."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import ROOT, SHIPPED

from cogumi.world import CATEGORIES


def _shrunken(tmp_path: Path) -> Path:
    config = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
    config.update(output_dir=str(tmp_path / "run"), threads=1, ablations=["plain_sft"])
    config["model"].update(base=str(SHIPPED / "base"), adapter=str(SHIPPED / "phase1a"))
    config["generate"]["problems"] = {c: 6 for c in CATEGORIES}
    for category in config["categories"].values():
        category["decoding"]["samples"] = min(category["decoding"]["samples"], 3)
    config["train"].update(epochs=1, batch_size=4, logging_steps=1)
    config["benchmark"].update(problems={c: 3 for c in CATEGORIES}, samples_per_problem=2, max_new_tokens=48,
                               bootstrap=50, sweep_temperatures=[0.0, 0.3, 0.7], min_problems=1)
    path = tmp_path / "shrunken.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _fit(config: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cogumi.cli", "fit", "--config", str(config), *overrides],
                          capture_output=True, text=True, timeout=600)


def _actions(out: str) -> dict[str, str]:
    """The stage -> action table that `cogumi fit` prints before it starts."""
    found = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) == 3 and cells[1] in ("run", "skip", "resume"):
            found[cells[0]] = cells[1]
    return found


def _stamps(run: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(run)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in run.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".safetensors")}


@pytest.mark.skipif(not (SHIPPED / "phase1a" / "adapter_model.safetensors").exists(),
                    reason="the shipped tiny checkpoint is not built")
def test_fit_runs_end_to_end_writes_its_files_and_resumes(tmp_path):
    config = _shrunken(tmp_path)
    first = _fit(config)
    assert first.returncode == 0, first.stderr[-3000:]
    run = tmp_path / "run"
    expected = {"config.json", "versions.json", "timings.json", "run.json", "report.json", "report.md", "report.png",
                "problems/distill.jsonl", "data/audit.json",
                "train/adapter/adapter_model.safetensors", "train/adapter/adapter_config.json",
                "train/adapter/train_log.json", "train_plain/adapter/adapter_model.safetensors",
                "benchmark/before.jsonl", "benchmark/after.jsonl", "benchmark/plain_sft.jsonl",
                "benchmark/phase1a@0.3.jsonl", "report_curves.png"}
    expected |= {f"data/{c}_distilled.jsonl" for c in CATEGORIES} | {f"raw/{c}.jsonl" for c in CATEGORIES}
    expected |= {f"stages/{s}.json" for s in ("generate", "filter", "train", "train_plain", "benchmark", "report")}
    written = {str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()}
    assert expected <= written, expected - written

    report = json.loads((run / "report.json").read_text())
    assert {"before", "after", "plain_sft", "deltas", "versus", "frontier", "oracle", "verdicts", "curves",
            "effective_temperature", "serve_temperature", "samples_per_problem", "config", "timings_s"} <= set(report)
    assert report["serve_temperature"] == 0.7 and report["samples_per_problem"] == 2
    assert set(report["timings_s"]) == {"generate", "filter", "train", "train_plain", "benchmark"}
    for label in ("before", "after", "plain_sft"):
        assert set(report[label]) == set(CATEGORIES)
        for category, metrics in report[label].items():
            assert metrics["n"] == 3
            names = ({"greedy_well_formed", "sampled_well_formed", "diversity"} if category == "creativity"
                     else {"greedy_accuracy", "sampled_accuracy", "majority_accuracy", "agreement_rate", "pass_at_k"})
            assert names <= set(metrics) and all(0 <= metrics[n] <= 1 for n in names)
    delta = report["deltas"]["after"]["math"]["sampled_accuracy"]
    assert delta["low"] <= delta["delta"] <= delta["high"]
    assert "math" in first.stdout and "sampled_accuracy" in first.stdout  # the table is printed
    effective = report["effective_temperature"]["after"]["temperature"]
    assert {"0", "0.3", "0.7", f"{effective:g}"} <= set(report["frontier"]["math"])  # the frontier, T_eff included
    for label in ("after", "plain_sft"):
        assert {v["verdict"] for v in report["verdicts"][label].values()} <= {"matched", "beyond"}
    assert len(report["curves"]["after"]["math"]["pass@k"]) == 2
    assert (run / "report.png").read_bytes()[:4] == b"\x89PNG"

    stamps = _stamps(run)
    again = _fit(config)
    assert again.returncode == 0, again.stderr[-3000:]
    assert set(_actions(again.stdout).values()) == {"skip"}, again.stdout
    assert _stamps(run) == stamps  # nothing rewritten
    assert json.loads((run / "report.json").read_text())["after"] == report["after"]

    # (b) a changed bootstrap recomputes the report only
    resampled = _fit(config, "--benchmark.bootstrap", "60")
    assert resampled.returncode == 0, resampled.stderr[-3000:]
    assert _actions(resampled.stdout) == {**{s: "skip" for s in _actions(again.stdout)}, "report": "run"}
    assert _stamps(run) == stamps and json.loads((run / "report.json").read_text())["after"] == report["after"]

    # (a) a changed training temperature reuses the raw samples and the "before" benchmark, and retrains
    creativity = yaml.safe_load(config.read_text())["categories"]["creativity"]
    creativity["training_temperature"] = 0.6
    retrained = _fit(config, "--benchmark.bootstrap", "60", "--categories.creativity", json.dumps(creativity))
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    assert _actions(retrained.stdout) == {"generate": "skip", "filter": "run", "train": "run", "train_plain": "run",
                                          "benchmark": "run", "report": "run"}
    now = _stamps(run)
    kept = {k for k in stamps if now.get(k) == stamps[k]}
    assert {f"raw/{c}.jsonl" for c in CATEGORIES} | {"benchmark/before.jsonl", "benchmark/phase1a@0.3.jsonl",
                                                     "problems/distill.jsonl"} <= kept  # Phase 1A and its frontier
    assert "train/adapter/adapter_model.safetensors" not in kept and "benchmark/after.jsonl" not in kept
    assert (run / "benchmark" / "phase1a@0.6.jsonl").exists()  # the new training temperature joins the sweep
    assert all('"training_temp": 0.6' in line for line in (run / "data" / "creativity_distilled.jsonl").open())
    report = json.loads((run / "report.json").read_text())

    # the same models measured on the problems they learned from, beside (not over) the held-out report
    on_distill = subprocess.run([sys.executable, "-m", "cogumi.cli", "benchmark", "--config", str(config),
                                 "--benchmark.split", "distill", "--benchmark.bootstrap", "60",
                                 "--categories.creativity", json.dumps(creativity)],
                                capture_output=True, text=True, timeout=600)
    assert on_distill.returncode == 0, on_distill.stderr[-3000:]
    assert "distill split" in on_distill.stdout
    learned = json.loads((run / "benchmark_distill" / "report.json").read_text())
    assert learned["split"] == "distill" and set(learned) >= {"before", "after", "plain_sft", "deltas"}
    records = [json.loads(line) for line in (run / "benchmark_distill" / "after.jsonl").read_text().splitlines()]
    trained_on = {json.loads(line)["id"] for line in (run / "problems" / "distill.jsonl").read_text().splitlines()}
    measured = {r["problem_id"] for r in records if "problem_id" in r}
    assert len(measured) == 3 * len(CATEGORIES) and measured <= trained_on
    assert json.loads((run / "report.json").read_text()) == report
