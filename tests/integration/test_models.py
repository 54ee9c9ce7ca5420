import json

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file
from support import example_metadata

from cogumi.config import ModelConfig
from cogumi.models.load import LlamaDims, build_llama, four_bit_problem, load_policy, load_variant
from cogumi.run import RunFolder

# Widths are multiples of 64: bitsandbytes' CPU kernel packs 4-bit weights in blocks of 64 inputs.
DIMS = LlamaDims(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=128)
PROMPT = "Start with 7. Add 5. What number do you get?"
NORM_SCALE = 1.7  # the new adapter's learned logit scale, carried by its copy of the final norm


def _randomize(peft_model, seed: int) -> None:
    """LoRA B starts at zero; make the adapter actually change the output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tokenizer):
    """A tiny random base and a LoRA adapter with non-zero weights, saved as a user would have them."""
    root = tmp_path_factory.mktemp("ckpt")
    model = build_llama(DIMS, tokenizer, seed=0)
    model.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    _randomize(peft_model, 0)
    peft_model.save_pretrained(root / "adapter")
    return root


@pytest.fixture(scope="module")
def trained_run(checkpoint, tmp_path_factory):
    """A run whose "after" adapter was trained on its merged policy: LoRA matrices plus the final
    norm as a module to save, scaled by a learned logit scale that is not 1."""
    run = RunFolder(tmp_path_factory.mktemp("run"))
    model_cfg = ModelConfig(base=str(checkpoint / "base"), adapter=str(checkpoint / "adapter"), dtype="float32")
    start, _ = load_variant(model_cfg, run, "before")
    new = get_peft_model(start, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "o_proj", "up_proj"],
                                           modules_to_save=["model.norm"]))
    _randomize(new, 1)
    norm = new.get_submodule("base_model.model.model.norm").modules_to_save["default"]
    with torch.no_grad():
        norm.weight.mul_(NORM_SCALE)
    new.save_pretrained(run.adapter("after"))
    return model_cfg, run


def _logits(model, tokenizer, prompt: str = PROMPT):
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def _merged_by_hand(base: str, adapters: list[str]):
    """base + each adapter, W += B @ A * alpha / r and saved modules replaced, computed in fp32 from
    the saved files alone (no PEFT)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    weights = model.state_dict()
    for adapter in adapters:
        config = json.loads(open(f"{adapter}/adapter_config.json").read())
        tensors = load_file(f"{adapter}/adapter_model.safetensors")
        for key, tensor in tensors.items():
            name = key.removeprefix("base_model.model.")
            if ".lora_A." in key:
                b = tensors[key.replace(".lora_A.", ".lora_B.")]
                target = name.replace(".lora_A.weight", ".weight")
                weights[target] += (b.float() @ tensor.float()) * config["lora_alpha"] / config["r"]
            elif ".lora_B." not in key:
                weights[name] = tensor.float()  # a module saved whole (the final norm)
    model.load_state_dict(weights)
    return model.eval()


def test_merged_and_unmerged_adapter_give_the_same_logits(checkpoint, tokenizer):
    merged, _ = load_policy(str(checkpoint / "base"), str(checkpoint / "adapter"), merge=True)
    unmerged, tok = load_policy(str(checkpoint / "base"), str(checkpoint / "adapter"), merge=False)
    base, _ = load_policy(str(checkpoint / "base"))
    assert isinstance(unmerged, PeftModel)
    assert type(merged).__name__ == "LlamaForCausalLM"
    torch.testing.assert_close(_logits(merged, tok), _logits(unmerged, tok), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(_logits(base, tok), _logits(merged, tok), atol=1e-3)


def test_the_benchmarked_after_model_is_base_plus_phase1a_plus_its_adapter(trained_run, checkpoint, monkeypatch):
    """With the trained adapter's final norm (its logit scale), the "after" model the benchmark
    stage measures gives the logits of base + Phase 1A + new adapter merged by hand in fp32."""
    import cogumi.stages.benchmark
    import cogumi.stages.generate
    from cogumi.stages.benchmark import run_benchmark

    model_cfg, run = trained_run
    saved = load_file(run.adapter("after") / "adapter_model.safetensors")
    assert any("norm" in key for key in saved)  # the module to save travels in the adapter
    cfg, _ = _experiment(checkpoint, run.root)
    measured = {}
    monkeypatch.setattr(cogumi.stages.benchmark, "run_batches", lambda engine, *a, **k: measured.update(
        model=engine.model, tokenizer=engine.tokenizer))
    run_benchmark(cfg, run, "after")
    after, tok = measured["model"], measured["tokenizer"]
    assert type(after).__name__ == "LlamaForCausalLM"  # merged: no adapter left to wrap
    expected = _merged_by_hand(model_cfg.base, [model_cfg.adapter, str(run.adapter("after"))])
    torch.testing.assert_close(_logits(after, tok), _logits(expected, tok), atol=1e-4, rtol=0)
    before, _ = load_variant(model_cfg, run, "before")
    phase1a = _merged_by_hand(model_cfg.base, [model_cfg.adapter])
    torch.testing.assert_close(_logits(before, tok), _logits(phase1a, tok), atol=1e-4, rtol=0)
    assert (run.merged_policy / "config.json").exists()  # Phase 1A merged once, into the run folder


def test_4bit_loads_here_with_bf16_compute(trained_run, tokenizer):
    """bitsandbytes runs NF4 on this machine (a GPU or the CPU): the "after" model keeps its adapter
    unmerged on the 4-bit weights of the merged policy, and its logits stay near the fp32 ones."""
    assert four_bit_problem() is None
    model_cfg, run = trained_run
    quantized = ModelConfig(base=model_cfg.base, adapter=model_cfg.adapter, load_in_4bit=True, dtype="bfloat16")
    after, tok = load_variant(quantized, run, "after")
    assert isinstance(after, PeftModel) and after.base_model.model.is_loaded_in_4bit
    assert after.base_model.model.config.quantization_config.bnb_4bit_compute_dtype == torch.bfloat16
    full, _ = load_variant(model_cfg, run, "after")
    four, exact = _logits(after, tok), _logits(full, tok)
    assert torch.isfinite(four).all()
    assert torch.corrcoef(torch.stack([four.flatten(), exact.flatten()]))[0, 1] > 0.9


FOUR_BIT = ("--model.load_in_4bit", "true", "--model.dtype", "bfloat16")


class Captured(Exception):
    """Stops a stage once it has built its model."""


def _experiment(checkpoint, root, *overrides):
    """A run of the tiny config on the test checkpoint, one math problem per split and one
    distilled example."""
    from cogumi.cli import parse

    _, cfg = parse(["fit", "--config", "configs/tiny.yaml", "--output_dir", str(root), "--model.base",
                    str(checkpoint / "base"), "--model.adapter", str(checkpoint / "adapter"),
                    "--generate.problems", '{"math": 1}', "--benchmark.problems", '{"math": 1}', *overrides])
    run = RunFolder(root)
    run.distilled("math").parent.mkdir(parents=True, exist_ok=True)
    example = {"instruction": PROMPT, "output": "7 + 5 = 12. The answer is \\boxed{12}.",
               "metadata": example_metadata(0.1)}
    run.distilled("math").write_text(json.dumps(example) + "\n")
    return cfg, run


def test_4bit_before_is_one_model_in_generate_train_and_benchmark(checkpoint, tmp_path, monkeypatch, tokenizer):
    """Each stage's own loading path gives the same NF4 weights and the same logits: the model
    trained on is the model generated with and measured."""
    import cogumi.stages.benchmark
    import cogumi.stages.generate
    import cogumi.stages.train
    from cogumi.stages.benchmark import run_benchmark
    from cogumi.stages.generate import run_generation

    cfg, run = _experiment(checkpoint, tmp_path, *FOUR_BIT)
    seen = {}

    def spy(stage):
        def capture(model, tokenizer=None, *args, **kwargs):
            if tokenizer is None or not hasattr(tokenizer, "pad_token_id"):  # a stage's engine
                model, tokenizer = model.model, model.tokenizer
            seen[stage] = model.state_dict(), _logits(model, tokenizer)
            raise Captured
        return capture

    monkeypatch.setattr(cogumi.stages.generate, "run_batches", spy("generate"))
    with pytest.raises(Captured):
        run_generation(cfg, run)
    monkeypatch.setattr(cogumi.stages.benchmark, "run_batches", spy("benchmark"))
    with pytest.raises(Captured):
        run_benchmark(cfg, run, "before")
    monkeypatch.setattr(cogumi.stages.train, "make_trainer", spy("train"))
    with pytest.raises(Captured):
        cogumi.stages.train.run_training(cfg.train, cfg.model, run, "after", seed=0, serve_temperature=0.7, categories=["math"])
    (weights, logits), *others = seen.values()
    assert any(v.dtype == torch.uint8 for v in weights.values())  # NF4-packed weights
    for other_weights, other_logits in others:
        assert other_weights.keys() == weights.keys()
        assert all(torch.equal(weights[k], other_weights[k]) for k in weights)
        assert torch.equal(logits, other_logits)


def test_qlora_trains_the_model_the_benchmark_measures(checkpoint, tmp_path, monkeypatch):
    """After QLoRA training, the "after" model the benchmark loads (4-bit merged policy + the new
    adapter, unmerged) gives the logits of the trained model itself, learned logit scale included."""
    import cogumi.stages.train

    cfg, run = _experiment(checkpoint, tmp_path, *FOUR_BIT, "--train.epochs", "2", "--train.batch_size", "1",
                           "--train.learning_rate", "0.01")
    trainers = []
    make = cogumi.stages.train.make_trainer
    monkeypatch.setattr(cogumi.stages.train, "make_trainer", lambda *a, **k: trainers.append(make(*a, **k)) or trainers[-1])
    cogumi.stages.train.run_training(cfg.train, cfg.model, run, "after", seed=0, serve_temperature=0.7, categories=["math"])
    trained = trainers[0].model.eval()
    after, tok = load_variant(cfg.model, run, "after")
    assert json.loads((run.adapter("after") / "train_log.json").read_text())["logit_scale"] != 1.0
    torch.testing.assert_close(_logits(after, tok), _logits(trained, tok), atol=0, rtol=0)
    before, _ = load_variant(cfg.model, run, "before")
    assert not torch.allclose(_logits(before, tok), _logits(after, tok), atol=1e-2)


def test_loaded_tokenizer_pads_left_with_a_pad_that_is_not_eos(checkpoint):
    _, tok = load_policy(str(checkpoint / "base"))
    assert tok.padding_side == "left"
    assert tok.pad_token_id is not None and tok.pad_token_id != tok.eos_token_id


def test_incomplete_adapter_folder_is_a_clear_error(checkpoint, tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="lacks .*adapter_model.safetensors"):
        load_policy(str(checkpoint / "base"), str(tmp_path))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_policy(str(checkpoint / "base"), "./no/such/adapter")


def test_missing_or_empty_base_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="base model folder .* does not exist"):
        load_policy(str(tmp_path / "no-such-base"))
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        load_policy(str(tmp_path))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_4bit_loading_on_cuda(checkpoint):
    model, tok = load_policy(str(checkpoint / "base"), str(checkpoint / "adapter"), load_in_4bit=True, merge=False)
    assert any("4bit" in type(m).__name__ for m in model.modules())
    assert torch.isfinite(_logits(model, tok)).all()


def test_an_adapter_replaced_in_place_is_another_model_and_its_merge_is_made_again(checkpoint, tmp_path, tokenizer, capsys):
    import shutil

    from cogumi.models.checks import model_settings
    from cogumi.models.load import policy_base

    adapter = tmp_path / "adapter"
    shutil.copytree(checkpoint / "adapter", adapter)
    model_cfg = ModelConfig(base=str(checkpoint / "base"), adapter=str(adapter), dtype="float32")
    run = RunFolder(tmp_path / "run")
    merged = policy_base(model_cfg, run)
    first = load_file(f"{merged}/model.safetensors")
    before = model_settings(model_cfg)
    assert policy_base(model_cfg, run) == merged and "merging it again" not in capsys.readouterr().out
    peft_model = get_peft_model(build_llama(DIMS, tokenizer, seed=0),
                                LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    _randomize(peft_model, 7)
    peft_model.save_pretrained(adapter)  # new weights, same path
    assert model_settings(model_cfg) != before  # every stage's fingerprint sees another model
    assert policy_base(model_cfg, run) == merged
    assert "merging it again" in capsys.readouterr().out.replace("\n", " ")
    again = load_file(f"{merged}/model.safetensors")
    assert any(not torch.equal(first[k], again[k]) for k in first)
