"""The vLLM engine on the CPU (vLLM's CPU build, which `bash .ci/setup` installs in .venv-vllm):
greedy parity with the HF engine, seeded samples, SIGKILL and rerun, and `cogumi fit` with it.

The shipped tiny checkpoint has attention heads of size 32, the smallest vLLM's CPU kernels take."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from support import ROOT, SHIPPED, processes_with, tiny_config

from cogumi.categories import judge
from cogumi.config import Experiment, VllmSettings
from cogumi.types import Completion, Decoding
from cogumi.world import CATEGORIES

SETTINGS = dict(enforce_eager=True, chunk=64)

pytestmark = pytest.mark.skipif(not (SHIPPED / "phase1a" / "adapter_model.safetensors").exists(),
                                reason="the shipped tiny checkpoint is not built")


@pytest.fixture(scope="module")
def merged(tmp_path_factory) -> Path:
    from cogumi.models.load import save_merged

    return save_merged(str(SHIPPED / "base"), [str(SHIPPED / "phase1a")], tmp_path_factory.mktemp("m") / "policy",
                       "float32")


@pytest.fixture(scope="module")
def engines(merged, tmp_path_factory):
    from cogumi.engines.vllm import VllmEngine
    from cogumi.models.load import load_policy

    engine = VllmEngine(merged, VllmSettings(**SETTINGS), dtype="float32", seed=0,
                        log=tmp_path_factory.mktemp("logs") / "vllm.log")
    model, tokenizer = load_policy(str(merged), dtype="float32")
    yield engine, model, tokenizer
    engine.close()


@pytest.fixture(scope="module")
def problems():
    from cogumi.data.sources import load_problems

    cfg = Experiment()
    return [p for name, c in cfg.resolved.items() for p in load_problems(c, "benchmark", 25, 0)]


def test_greedy_outputs_match_the_hf_engine(engines, problems):
    from cogumi.engines.hf import generate

    engine, model, tokenizer = engines
    prompts = [p.prompt for p in problems]
    ours = [g[0] for g in engine.generate(prompts, Decoding(0.0, 1, 96))]
    theirs = [g[0] for g in generate(model, tokenizer, prompts, Decoding(0.0, 1, 96), batch_size=64)]
    same = sum(a == b for a, b in zip(ours, theirs))
    assert same >= 0.95 * len(prompts), f"greedy outputs identical on {same} of {len(prompts)} prompts"
    assert all(a.finished or a.tokens == 96 for a in ours)  # a stopped answer keeps its stop token
    right = {}
    for name, outputs in (("vllm", ours), ("hf", theirs)):
        verdicts = judge(Experiment().resolved, problems, [c.text for c in outputs], [c.finished for c in outputs])
        right[name] = Counter(p.category for p, v in zip(problems, verdicts) if v.correct)
    for category in CATEGORIES:
        assert abs(right["vllm"][category] - right["hf"][category]) <= 1, (category, right)


def test_samples_are_reproduced_by_their_seed_whatever_the_chunks(engines, problems):
    engine, _, tokenizer = engines
    prompts = [p.prompt for p in problems if p.category == "creativity"][:20]
    decoding = Decoding(0.7, 4, 48)
    first = engine.generate(prompts, decoding, seed=3)
    assert engine.generate(prompts, decoding, seed=3) == first
    other = engine.generate(prompts, decoding, seed=4)
    assert sum(a != b for a, b in zip(first, other)) >= len(prompts) // 2
    assert all(len({c.text for c in group}) > 1 for group in first[:5]), "samples of a prompt should differ"
    engine.vllm.chunk = 7  # prompt i keeps its own seed when the prompts go in other chunks
    try:
        assert engine.generate(prompts, decoding, seed=3) == first
    finally:
        engine.vllm.chunk = SETTINGS["chunk"]


def test_the_tiny_configs_sampled_policies_run_at_their_real_counts_with_seeds_reproduced(engines):
    """vLLM's CPU build rewinds a torch generator's offset, which CPU generators lack, whenever it
    discards a sample of a prompt still being prefilled; 64 prompts of 10 samples each get there."""
    from cogumi.data.sources import load_problems

    engine, _, _ = engines
    cfg = tiny_config(ROOT / "runs" / "unused")
    for name in ("reasoning", "creativity", "instruction"):
        category = cfg.resolved[name]
        prompts = [p.prompt for p in load_problems(category, "distill", 64, 0)]
        decoding = category.decoding
        assert decoding.samples >= 4 and decoding.temperature > 0, name  # the config's real policy
        first = engine.generate(prompts, decoding, seed=11)
        assert [len(group) for group in first] == [decoding.samples] * len(prompts), name
        again = engine.generate(prompts[:40], decoding, seed=11)
        same = sum(a == b for a, b in zip(first, again))
        assert same >= 0.9 * len(again), f"{name}: {same} of {len(again)} prompts' samples reproduced by their seed"


def test_a_prompt_longer_than_the_context_gets_an_empty_answer_and_the_others_theirs(engines, problems):
    engine, _, tokenizer = engines
    long = " ".join(["word"] * (engine.max_model_len + 10))
    short = [p.prompt for p in problems[:3]]
    out = engine.generate([short[0], long, *short[1:]], Decoding(0.7, 2, 32), seed=5)
    assert out[1] == [Completion("", False, 0)] * 2
    alone = engine.generate(short, Decoding(0.7, 2, 32), seed=5)
    assert out[0] == alone[0] and all(c.text for g in out[2:] for c in g)


def test_no_two_samples_of_a_call_share_a_seed_so_repeated_prompts_differ(engines, problems):
    from cogumi.engines.vllm import prompt_seed

    seeds = {prompt_seed(7, i, 4) + k for i in range(50) for k in range(4)}  # vLLM seeds sample k with seed + k
    assert len(seeds) == 200
    engine, _, tokenizer = engines
    poem = next(p.prompt for p in problems if p.category == "creativity")
    twice = engine.generate([poem, poem], Decoding(0.7, 4, 48), seed=7)
    assert [c.text for c in twice[0]] != [c.text for c in twice[1]]


def test_a_worker_that_dies_mid_reply_is_reported_with_its_log(merged, tmp_path, monkeypatch):

    import cogumi.engines.vllm as vllm_engine

    fake = tmp_path / "worker.py"
    fake.write_text("import json, os, sys\n"
                    "print(json.dumps({'ready': True, 'max_model_len': 100}), flush=True)\n"
                    "sys.stdin.readline()\n"
                    "sys.stdout.write('{\"outputs\": [[{\"tok'); sys.stdout.flush()\n"
                    "sys.stderr.write('worker crashed here\\n'); sys.stderr.flush(); os._exit(3)\n")
    monkeypatch.setattr(vllm_engine, "WORKER", fake)
    monkeypatch.setattr(vllm_engine, "vllm_python", lambda settings: sys.executable)
    engine = vllm_engine.VllmEngine(merged, VllmSettings(), dtype="float32", seed=0, log=tmp_path / "log.txt")
    with pytest.raises(RuntimeError, match="failed to generate") as caught:
        engine.generate(["Hi"], Decoding(0.0, 1, 8))
    assert "exit code 3" in str(caught.value) and "worker crashed here" in str(caught.value)
    with pytest.raises(RuntimeError, match="failed to generate"):  # a closed engine says so again, no BrokenPipe
        engine.generate(["Hi"], Decoding(0.0, 1, 8))


def test_a_worker_that_cannot_start_says_why(tmp_path):
    from cogumi.engines.vllm import VllmEngine

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{}")
    with pytest.raises(RuntimeError, match="failed to start") as caught:
        VllmEngine(tmp_path / "bad", VllmSettings(**SETTINGS, start_timeout_s=300), dtype="float32", seed=0,
                   log=tmp_path / "log.txt")
    assert "log.txt" in str(caught.value)


def test_a_python_without_vllm_is_refused_with_the_fix():
    from cogumi.engines.vllm import vllm_python

    with pytest.raises(RuntimeError, match="cannot import vllm"):
        vllm_python(VllmSettings(python="/bin/false"))  # runs, and exits 1 as a python without vLLM does


def _config(path: Path, out: Path, **extra) -> Path:
    config = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
    config.update(output_dir=str(out), threads=1, ablations=[], vllm=SETTINGS | {"chunk": 8})
    config["model"].update(base=str(SHIPPED / "base"), adapter=str(SHIPPED / "phase1a"))
    config["generate"].update(problems={c: 8 for c in CATEGORIES}, engine="vllm")
    for category in config["categories"].values():
        category["decoding"]["samples"] = min(category["decoding"]["samples"], 3)
    config["train"].update(epochs=1, batch_size=4, logging_steps=1)
    config["benchmark"].update(problems={c: 4 for c in CATEGORIES}, samples_per_problem=2, max_new_tokens=48,
                               bootstrap=50, sweep_temperatures=[0.0, 0.7], engine="vllm")
    for key, value in extra.items():
        config[key].update(value)
    path.write_text(yaml.safe_dump(config))
    return path


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "cogumi.cli", *args]


def _workers(tmp_path) -> set[int]:
    """The engine processes serving a model of this test's folders."""
    return processes_with("vllm_worker.py", str(tmp_path))


def test_fit_with_vllm_then_sigkill_and_rerun_of_generate_gives_the_same_files(tmp_path):
    done = subprocess.run(_cli("fit", "--config", str(_config(tmp_path / "fit.yaml", tmp_path / "fit"))),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    fit = tmp_path / "fit"
    assert "the distilled model is" in (fit / "report.md").read_text()
    measured = sorted(p.name for p in (fit / "benchmark").glob("*.jsonl"))
    assert {"before.jsonl", "after.jsonl"} < set(measured) and any(m.startswith("phase1a@") for m in measured), measured
    for name in measured:
        records = [json.loads(l) for l in (fit / "benchmark" / name).read_text().splitlines()]
        assert sum("problem_id" in r for r in records) == 4 * len(CATEGORIES), name
    assert (fit / "train" / "merged" / "config.json").exists(), "the trained variant is served from its merged folder"
    assert not _workers(tmp_path), "every engine process ends with the run"

    broken = _config(tmp_path / "broken.yaml", tmp_path / "broken")
    raw = tmp_path / "broken" / "raw"
    markers = lambda: sum(p.read_text().count("batch_done") for p in raw.glob("*.jsonl")) if raw.exists() else 0
    proc = subprocess.Popen(_cli("generate", "--config", str(broken)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and markers() < 2:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 2 <= markers() < len(CATEGORIES), "the run must be killed part-way through its batches"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _workers(tmp_path):
        time.sleep(0.2)
    assert not _workers(tmp_path), "the engine process dies with the stage that started it"

    again = subprocess.run(_cli("generate", "--config", str(broken)), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    for path in sorted((fit / "data").glob("*.jsonl")):
        assert (tmp_path / "broken" / "data" / path.name).read_bytes() == path.read_bytes(), path.name
    assert (tmp_path / "broken" / "data" / "audit.json").read_text() == (fit / "data" / "audit.json").read_text()


def test_under_torchrun_each_rank_serves_from_its_own_gpus():
    from cogumi.engines.vllm import rank_devices

    env = {"LOCAL_RANK": "1", "RANK": "5", "WORLD_SIZE": "8", "MASTER_ADDR": "node0", "MASTER_PORT": "29500",
           "TORCHELASTIC_RUN_ID": "r", "CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7", "HOME": "/root"}
    assert rank_devices(env, 2) == {"CUDA_VISIBLE_DEVICES": "2,3"}
    assert env == {"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7", "HOME": "/root"}  # vLLM must not join torchrun's group
    alone = {"CUDA_VISIBLE_DEVICES": "0,1"}
    assert rank_devices(alone, 2) == {} and alone == {"CUDA_VISIBLE_DEVICES": "0,1"}
    with pytest.raises(RuntimeError, match="nproc_per_node"):
        rank_devices({"LOCAL_RANK": "2", "CUDA_VISIBLE_DEVICES": "0,1,2,3"}, 2)
