import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model

from cogumi.models import LlamaDims, build_llama, load_policy

DIMS = LlamaDims(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=128)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tokenizer):
    """A tiny random base and a LoRA adapter with non-zero weights, saved as a user would have them."""
    root = tmp_path_factory.mktemp("ckpt")
    model = build_llama(DIMS, tokenizer, seed=0)
    model.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)  # LoRA B starts at zero; make the adapter actually change the output
    peft_model.save_pretrained(root / "adapter")
    return root


def _logits(model, tokenizer):
    ids = tokenizer("Start with 7. Add 5. What number do you get?", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_merged_and_unmerged_adapter_give_the_same_logits(checkpoint, tokenizer):
    merged, _ = load_policy(str(checkpoint / "base"), str(checkpoint / "adapter"), merge=True)
    unmerged, tok = load_policy(str(checkpoint / "base"), str(checkpoint / "adapter"), merge=False)
    base, _ = load_policy(str(checkpoint / "base"))
    assert isinstance(unmerged, PeftModel)
    assert type(merged).__name__ == "LlamaForCausalLM"
    torch.testing.assert_close(_logits(merged, tok), _logits(unmerged, tok), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(_logits(base, tok), _logits(merged, tok), atol=1e-3)


def test_loaded_tokenizer_pads_left_with_a_pad_that_is_not_eos(checkpoint):
    _, tok = load_policy(str(checkpoint / "base"))
    assert tok.padding_side == "left"
    assert tok.pad_token_id is not None and tok.pad_token_id != tok.eos_token_id


def test_4bit_without_cuda_is_a_clear_error(checkpoint):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="load_in_4bit needs a CUDA GPU"):
        load_policy(str(checkpoint / "base"), load_in_4bit=True)


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
