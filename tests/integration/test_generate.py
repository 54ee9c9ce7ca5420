"""The generate stage through the real CLI: files, schema, and resuming after SIGKILL."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support import ROOT

from cogumi.engines.batches import read_batches
from cogumi.models.load import LlamaDims, build_llama
from cogumi.stages.filter import validate_example
from cogumi.world import CATEGORIES


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory, tokenizer):
    root = tmp_path_factory.mktemp("random")
    model = build_llama(LlamaDims(hidden_size=32, intermediate_size=64, num_hidden_layers=2), tokenizer, seed=0)
    model.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    return root


def _config(path: Path, out: Path, base: str, adapter, per_category: int, max_new_tokens: int = 24) -> Path:
    categories = {c: {"decoding": {"temperature": t, "samples": n, "max_new_tokens": max_new_tokens}}
                  for c, (t, n) in {"math": (0.0, 1), "code": (0.0, 1), "reasoning": (0.1, 3), "creativity": (0.7, 3),
                                    "knowledge": (0.0, 1), "instruction": (0.2, 2)}.items()}
    config = {"output_dir": str(out), "seed": 0, "threads": 1, "model": {"base": base, "adapter": adapter},
              "categories": categories, "generate": {"problems": {c: per_category for c in CATEGORIES}, "batch_size": 2}}
    path.write_text(yaml.safe_dump(config))
    return path


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "cogumi.cli", *args]


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_sigkill_part_way_then_rerun_gives_the_uninterrupted_output(tmp_path, random_checkpoint):
    base = str(random_checkpoint / "base")
    whole = _config(tmp_path / "whole.yaml", tmp_path / "whole", base, None, per_category=4)
    subprocess.run(_cli("generate", "--config", str(whole)), check=True, capture_output=True)

    broken = _config(tmp_path / "broken.yaml", tmp_path / "broken", base, None, per_category=4)
    raw = tmp_path / "broken" / "raw"
    markers = lambda: sum(p.read_text().count("batch_done") for p in raw.glob("*.jsonl")) if raw.exists() else 0
    proc = subprocess.Popen(_cli("generate", "--config", str(broken)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and markers() < 3:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 3 <= markers() < 12, "the run must be killed part-way through its 12 batches"
    assert not (tmp_path / "broken" / "data" / "audit.json").exists()

    subprocess.run(_cli("generate", "--config", str(broken)), check=True, capture_output=True)
    same = lambda files: {k: v for k, v in files.items() if k not in ("config.json", "timings.json")}
    assert same(_files(tmp_path / "broken")) == same(_files(tmp_path / "whole"))
    rows = [json.loads(l) for p in sorted(raw.glob("*.jsonl")) for l in p.read_text().splitlines()]
    keys = [(r["problem_id"], r["sample"]) for r in rows if "problem_id" in r]
    assert len(keys) == len(set(keys)) == 4 * (1 + 1 + 3 + 3 + 1 + 2)  # nothing lost, nothing twice


def test_sigterm_stops_generation_at_once_and_the_rerun_finishes_it(tmp_path, random_checkpoint):
    cfg = _config(tmp_path / "c.yaml", tmp_path / "run", str(random_checkpoint / "base"), None, per_category=4)
    raw = tmp_path / "run" / "raw"
    markers = lambda: sum(p.read_text().count("batch_done") for p in raw.glob("*.jsonl")) if raw.exists() else 0
    proc = subprocess.Popen(_cli("generate", "--config", str(cfg)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and markers() < 3:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=30)  # a kill, not a wait for the whole run
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("cogumi generate kept running after SIGTERM")
    assert proc.returncode == 143 and "terminated" in out and "resumes" in out, out[-2000:]
    assert markers() < 12, "SIGTERM must stop the run before its 12 batches are done"
    done = subprocess.run(_cli("generate", "--config", str(cfg)), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert markers() == 12


def test_truncated_tail_is_cut_and_redone(tmp_path, random_checkpoint):
    cfg = _config(tmp_path / "c.yaml", tmp_path / "run", str(random_checkpoint / "base"), None, per_category=2)
    subprocess.run(_cli("generate", "--config", str(cfg)), check=True, capture_output=True)
    raw = tmp_path / "run" / "raw" / "instruction.jsonl"
    complete = raw.read_bytes()
    lines = complete.splitlines(keepends=True)
    raw.write_bytes(b"".join(lines[:-3]) + lines[-3][:10])  # a crash mid-write, before the stage was done
    record = tmp_path / "run" / "stages" / "generate.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "done": False}))
    subprocess.run(_cli("generate", "--config", str(cfg)), check=True, capture_output=True)
    assert raw.read_bytes() == complete


def test_a_done_stage_whose_files_were_cut_or_deleted_redoes_them(tmp_path, random_checkpoint):
    cfg = _config(tmp_path / "c.yaml", tmp_path / "run", str(random_checkpoint / "base"), None, per_category=2)
    subprocess.run(_cli("generate", "--config", str(cfg)), check=True, capture_output=True)
    run = tmp_path / "run"
    raw, knowledge, data = run / "raw" / "math.jsonl", run / "raw" / "knowledge.jsonl", run / "data"
    made = {p: p.read_bytes() for p in [raw, knowledge, *data.iterdir()]}
    raw.write_bytes(b"".join(raw.read_bytes().splitlines(keepends=True)[:-1]))  # the last line cut, the stage done
    knowledge.unlink()
    shutil.rmtree(data)
    again = subprocess.run(_cli("generate", "--config", str(cfg)), capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resume" in again.stdout  # the table says what it redoes, and why (a file missing or changed)
    assert {p: p.read_bytes() for p in made} == made  # every file as it was made
    audit = json.loads((data / "audit.json").read_text())
    assert audit["knowledge"]["problems"] == 2 and audit["math"]["problems"] == 2
    quiet = subprocess.run(_cli("generate", "--config", str(cfg)), capture_output=True, text=True)
    assert "resume" not in quiet.stdout and "skip" in quiet.stdout


@pytest.mark.skipif(not (ROOT / "checkpoints/tiny/phase1a/adapter_model.safetensors").exists(),
                    reason="the shipped tiny checkpoint is not built")
def test_generate_on_the_shipped_checkpoint_writes_six_valid_files(tmp_path):
    cfg = _config(tmp_path / "c.yaml", tmp_path / "run", str(ROOT / "checkpoints/tiny/base"),
                  str(ROOT / "checkpoints/tiny/phase1a"), per_category=6, max_new_tokens=64)
    subprocess.run(_cli("generate", "--config", str(cfg)), check=True, capture_output=True)
    audit = json.loads((tmp_path / "run" / "data" / "audit.json").read_text())
    assert set(audit) == set(CATEGORIES)
    accepted = 0
    for category in CATEGORIES:
        rows = [json.loads(l) for l in (tmp_path / "run" / "data" / f"{category}_distilled.jsonl").read_text().splitlines()]
        for i, row in enumerate(rows):
            validate_example(row, f"{category} row {i}")
            assert row["metadata"]["category"] == category
        accepted += len(rows)
        assert audit[category]["accepted"] == len(rows)
        assert audit[category]["problems"] == 6
    assert accepted > 0


def test_a_changed_policy_regenerates_only_its_category_and_another_model_is_refused(tmp_path, random_checkpoint):
    cfg = _config(tmp_path / "c.yaml", tmp_path / "run", str(random_checkpoint / "base"), None, per_category=2)
    subprocess.run(_cli("generate", "--config", str(cfg)), check=True, capture_output=True)
    raw = tmp_path / "run" / "raw"
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in raw.glob("*.jsonl")}
    policy = json.dumps({"decoding": {"temperature": 0.1, "samples": 5, "max_new_tokens": 24}})
    changed = subprocess.run(_cli("generate", "--config", str(cfg), "--categories.reasoning", policy),
                             capture_output=True, text=True)
    assert changed.returncode == 0, changed.stderr[-3000:]
    assert "settings changed: categories.reasoning.decoding.samples" in changed.stdout.replace("\n", "")
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in raw.glob("*.jsonl")}
    assert {name for name in before if after[name] != before[name]} == {"reasoning.jsonl"}
    rows = [r for r in read_batches(raw / "reasoning.jsonl", list(CATEGORIES))]
    assert len(rows) == 2 * 5  # regenerated with the new policy, nothing of the old one left

    other = subprocess.run(_cli("generate", "--config", str(cfg), "--model.dtype", "bfloat16"),
                           capture_output=True, text=True)
    assert other.returncode == 2
    message = " ".join(other.stdout.split())
    assert "model.dtype = 'float32'" in message and "use a new --output_dir" in message


def test_two_process_gloo_run_gives_the_single_process_output(tmp_path, random_checkpoint):
    base = str(random_checkpoint / "base")
    single = _config(tmp_path / "single.yaml", tmp_path / "single", base, None, per_category=3)
    subprocess.run(_cli("generate", "--config", str(single)), check=True, capture_output=True)
    double = _config(tmp_path / "double.yaml", tmp_path / "double", base, None, per_category=3)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "-m", "cogumi.cli", "generate", "--config", str(double)]
    done = subprocess.run(torchrun, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    raw = tmp_path / "double" / "raw"
    assert list(raw.glob("*.rank1.jsonl"))  # the second rank answered its share
    keep = lambda files: {k: v for k, v in files.items() if not k.startswith("raw/") and k not in
                          ("config.json", "timings.json")}
    assert keep(_files(tmp_path / "double")) == keep(_files(tmp_path / "single"))
    for category in CATEGORIES:
        assert (read_batches(raw / f"{category}.jsonl", list(CATEGORIES))
                == read_batches(tmp_path / "single" / "raw" / f"{category}.jsonl", list(CATEGORIES)))
