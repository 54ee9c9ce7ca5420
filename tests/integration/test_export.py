"""`cogumi export`: a run's trained model as a plain Hugging Face folder, loaded without Cogumi."""

import inspect
import json
import os
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from safetensors import safe_open
from support import ROOT

from cogumi.cli import parse
from cogumi.files import write_json
from cogumi.models.load import load_variant
from cogumi.run import RunFolder

NORM_SCALE = 1.5
LORA_B_STD = 1.0  # large enough that every prompt's greedy answer changes
NEW_TOKENS = 24
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # a tiny model runs fastest on one thread


pytestmark = pytest.mark.usefixtures("one_thread")


def greedy(model, tokenizer, prompts, new_tokens):
    """Greedy completions (token ids) and the first prompt's last logits, with plain transformers."""
    outputs, first = [], None
    for prompt in prompts:
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                             tokenize=False)
        encoded = tokenizer(text, add_special_tokens=False, return_tensors="pt")
        with torch.no_grad():
            if first is None:
                first = model(**encoded).logits[0, -1].float().tolist()
            ids = model.generate(**encoded, do_sample=False, max_new_tokens=new_tokens,
                                 pad_token_id=tokenizer.pad_token_id)
        outputs.append(ids[0, encoded["input_ids"].shape[1]:].tolist())
    return outputs, first


PLAIN = """import json, sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

{greedy}

folder, prompts = sys.argv[1], json.loads(sys.argv[2])
tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder).eval()
outputs, first = greedy(model, tokenizer, prompts, {new_tokens})
print(json.dumps({{"outputs": outputs, "first": first, "dtype": str(model.dtype),
                  "cogumi": sorted(m for m in sys.modules if m.startswith("cogumi"))}}))
"""


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run of the shipped tiny model whose "after" adapter carries LoRA matrices and its own final
    norm scaled by a learned logit scale, as the train stage saves it."""
    root = tmp_path_factory.mktemp("run")
    _, cfg = parse(["fit", "--config", str(ROOT / "configs" / "tiny.yaml"), "--output_dir", str(root)])
    cfg.model = replace(cfg.model, base=str(ROOT / cfg.model.base), adapter=str(ROOT / cfg.model.adapter))
    run = RunFolder(root)
    write_json(run.binding, {"model": asdict(cfg.model)})
    start, _ = load_variant(cfg.model, run, "before")
    torch.manual_seed(0)  # lora_A is drawn from the global generator: the same adapter whatever ran before
    new = get_peft_model(start, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                                           modules_to_save=["model.norm"]))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in new.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * LORA_B_STD)
        new.get_submodule("base_model.model.model.norm").modules_to_save["default"].weight.mul_(NORM_SCALE)
    new.save_pretrained(run.adapter("after"))
    write_json(run.adapter("after") / "train_log.json", {"logit_scale": NORM_SCALE})
    return cfg, run


def _prompts(cfg) -> list[str]:
    from cogumi.stages.benchmark import benchmark_problems

    problems = benchmark_problems(cfg, "benchmark")
    return [next(p.prompt for p in problems if p.category == c) for c in cfg.resolved]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "cogumi.cli", *args], capture_output=True, text=True, timeout=600,
                          env=ONE_THREAD)


def _plain(folder: Path, prompts: list[str]) -> dict:
    script = PLAIN.format(greedy=inspect.getsource(greedy), new_tokens=NEW_TOKENS)
    done = subprocess.run([sys.executable, "-c", script, str(folder), json.dumps(prompts)], capture_output=True,
                          text=True, timeout=600, env=ONE_THREAD)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_exported_folder_is_the_after_model_without_cogumi(trained_run, tmp_path):
    cfg, run = trained_run
    exported = _cli("export", "--run", str(run.root), "--variant", "after", "--output", str(tmp_path / "model"))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    prompts = _prompts(cfg)
    plain = _plain(tmp_path / "model", prompts)
    assert plain["cogumi"] == [] and plain["dtype"] == "torch.float32"
    after, tokenizer = load_variant(cfg.model, run, "after")
    outputs, first = greedy(after, tokenizer, prompts, NEW_TOKENS)
    assert plain["outputs"] == outputs and len(outputs) == len(cfg.resolved)
    torch.testing.assert_close(torch.tensor(plain["first"]), torch.tensor(first), atol=1e-4, rtol=0)
    before, _ = load_variant(cfg.model, run, "before")
    assert greedy(before, tokenizer, prompts, NEW_TOKENS)[0] != outputs  # the new adapter is in the folder
    with safe_open(str(tmp_path / "model" / "model.safetensors"), "pt") as f:  # the learned scale is the model's norm
        norm = f.get_tensor("model.norm.weight")
    torch.testing.assert_close(norm, after.model.norm.weight.detach(), atol=0, rtol=0)
    assert json.loads((tmp_path / "model" / "cogumi_export.json").read_text())["logit_scale"] == NORM_SCALE


def test_a_4bit_run_exports_full_precision_weights(trained_run, tmp_path):
    """Never merged into 4-bit weights: a QLoRA run exports the bf16 weights its NF4 ones came from."""
    import shutil

    cfg, run = trained_run
    quantized = RunFolder(tmp_path / "run4")
    model = {**asdict(cfg.model), "load_in_4bit": True, "dtype": "bfloat16"}
    write_json(quantized.binding, {"model": model})
    shutil.copytree(run.adapter("after"), quantized.adapter("after"))
    exported = _cli("export", "--run", str(quantized.root), "--output", str(tmp_path / "model"))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert "quantization_config" not in json.loads((tmp_path / "model" / "config.json").read_text())
    with safe_open(str(tmp_path / "model" / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}
    assert json.loads((quantized.merged_policy / "config.json").read_text())["dtype"] == "bfloat16"


def test_export_refuses_what_it_cannot_write(trained_run, tmp_path):
    _, run = trained_run
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    taken = _cli("export", "--run", str(run.root), "--output", str(tmp_path / "full"))
    assert taken.returncode == 2 and "is not an empty folder" in taken.stdout
    untrained = _cli("export", "--run", str(run.root), "--variant", "rft", "--output", str(tmp_path / "x"))
    assert untrained.returncode == 2 and "holds no finished adapter" in untrained.stdout
    wrong = _cli("export", "--run", str(run.root), "--variant", "befor")
    assert wrong.returncode == 2 and "variant must be one of" in wrong.stderr
