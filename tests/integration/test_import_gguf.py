"""`cogumi import-gguf`: a GGUF file becomes a plain Hugging Face folder whose model and tokenizer
are the original's. The GGUF is written here from the shipped tiny model (nothing downloaded), F32
in llama.cpp's layout, so the import must reproduce the tiny model's logits exactly."""

import hashlib
import json

import pytest
import torch
from support import PAIRS, ROOT, cogumi
from support_gguf import write_llama_gguf
from transformers import AutoModelForCausalLM, AutoTokenizer

from cogumi.models.gguf import IMPORT_RECORD, import_gguf

TINY = ROOT / "checkpoints" / "tiny" / "base"
# Prompts of the tiny world's kinds, with punctuation, blank lines and numbers of up to three digits.
# (A run of four or more digits is cut differently: a GGUF names its pre-tokenizer and has no name for
# the tiny tokenizer's three-digit split before GPT-2's regex, so transformers rebuilds GPT-2's.)
TEXTS = [*(f"{prompt}\n\n{answer}" for prompt, answer in PAIRS), "It's 7:45 -- isn't it?  (x, y) = [12, 345]!"]
MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": PAIRS[0][0]}]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny():
    return AutoModelForCausalLM.from_pretrained(TINY, dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(TINY)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The tiny model written as a GGUF, and ``cogumi import-gguf`` of it run as a user runs it."""
    root = tmp_path_factory.mktemp("gguf")
    gguf_file = write_llama_gguf(TINY, root / "tiny.gguf")
    done = cogumi("import-gguf", str(gguf_file), "--output", str(root / "out"), timeout=300)
    return gguf_file, root / "out", done


def logits(model, tokenizer, messages=MESSAGES):
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
    assert ids.shape[1] > 20
    with torch.no_grad():
        return model(ids).logits[0]


def test_gguf_is_what_llama_cpp_writes(imported):
    """The file is F32 in llama.cpp's names, with the metadata transformers' loader reads."""
    from gguf import GGMLQuantizationType, GGUFReader

    reader = GGUFReader(imported[0])
    names = {t.name: t for t in reader.tensors}
    assert {"token_embd.weight", "output_norm.weight", "output.weight", "blk.3.attn_q.weight",
            "blk.0.ffn_down.weight"} <= set(names)
    assert {t.tensor_type for t in reader.tensors} == {GGMLQuantizationType.F32}
    for key in ("general.architecture", "llama.block_count", "llama.attention.head_count_kv",
                "tokenizer.ggml.model", "tokenizer.ggml.merges", "tokenizer.chat_template"):
        assert key in reader.fields, key
    # q_proj's rows are interleaved for ggml's rope, so the stored tensor is not the checkpoint's
    q = AutoModelForCausalLM.from_pretrained(TINY).model.layers[0].self_attn.q_proj.weight.detach().numpy()
    stored = names["blk.0.attn_q.weight"].data.reshape(q.shape)
    assert sorted(stored.ravel().tolist()) == sorted(q.ravel().tolist()) and not (stored == q).all()


def test_import_gives_the_same_model(imported, tiny):
    gguf_file, out, done = imported
    assert done.returncode == 0, done.stdout + done.stderr
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["model_type"] == "llama" and config["num_key_value_heads"] == 2
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    assert model.dtype == torch.float32 and not hasattr(model.config, "quantization_config")
    original, tokenizer = tiny
    expected = logits(original, tokenizer)
    assert (logits(model, tokenizer) - expected).abs().max().item() < 1e-4
    assert expected.std().item() > 0.1  # a trained model's logits, not a flat row that anything matches


def test_import_keeps_the_tokenizer_and_chat_template(imported, tiny):
    out = imported[1]
    assert imported[2].returncode == 0, imported[2].stdout + imported[2].stderr
    original, loaded = tiny[1], AutoTokenizer.from_pretrained(out)
    for text in TEXTS:
        assert loaded(text).input_ids == original(text).input_ids, text
    assert loaded.tokenize(TEXTS[-1]) == original.tokenize(TEXTS[-1])
    for generation in (True, False):
        rendered = original.apply_chat_template(MESSAGES, add_generation_prompt=generation, tokenize=False)
        assert loaded.apply_chat_template(MESSAGES, add_generation_prompt=generation, tokenize=False) == rendered
    assert rendered.startswith("<|begin_of_text|><|start_header_id|>system")
    for name in ("bos_token", "eos_token", "pad_token"):
        assert getattr(loaded, name) == getattr(original, name), name
    assert loaded.convert_tokens_to_ids("<|eot_id|>") == original.convert_tokens_to_ids("<|eot_id|>")
    ids = original.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=True, return_dict=True)
    assert loaded.decode(ids["input_ids"]) == original.decode(ids["input_ids"])


def test_import_records_the_file(imported):
    gguf_file, out, done = imported
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((out / IMPORT_RECORD).read_text())
    assert record["sha256"] == hashlib.sha256(gguf_file.read_bytes()).hexdigest()
    assert record["file"] == str(gguf_file.resolve()) and record["dtype"] == "float32"


def test_import_refuses_a_folder_it_did_not_write(imported, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    done = cogumi("import-gguf", str(imported[0]), "--output", str(foreign), timeout=300)
    assert done.returncode != 0
    message = done.stdout + done.stderr
    assert str(foreign) in message and "not empty" in message, message
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"] and (foreign / "notes.txt").read_text() == "keep me"
    assert not list(tmp_path.glob(".import-*"))  # no staging folder left behind


def test_import_of_tied_gguf_without_output_tensor(tmp_path, tiny):
    """llama.cpp leaves ``output.weight`` out of a model with tied embeddings (SmolLM2's GGUF is one):
    the import ties them again and still gives the tiny model's logits. Imported over an earlier
    import, it replaces it."""
    out = import_gguf(write_llama_gguf(TINY, tmp_path / "untied.gguf"), tmp_path / "out")
    assert json.loads((out / "config.json").read_text())["tie_word_embeddings"] is False
    gguf_file = write_llama_gguf(TINY, tmp_path / "tied.gguf", with_output=False)
    assert import_gguf(gguf_file, out) == out  # a folder it wrote itself is replaced, not refused
    assert json.loads((out / "config.json").read_text())["tie_word_embeddings"] is True
    assert json.loads((out / IMPORT_RECORD).read_text())["file"] == str(gguf_file.resolve())
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    original, tokenizer = tiny
    assert (logits(model, tokenizer) - logits(original, tokenizer)).abs().max().item() < 1e-4
