"""A GGUF file written from a Hugging Face Llama folder, as llama.cpp's ``convert_hf_to_gguf.py``
writes one (F32, nothing quantised), so that tests of ``cogumi import-gguf`` need no download."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CONTROL, NORMAL = 3, 1  # gguf.TokenType: special tokens are CONTROL, the rest NORMAL


def permute(weights: np.ndarray, n_head: int, n_head_kv: int) -> np.ndarray:
    """The interleaving llama.cpp's converter applies to q_proj/k_proj rows (``LlamaModel.permute``):
    Hugging Face's rotate-half layout becomes ggml's pairwise rope layout. transformers undoes it on
    load (``LlamaTensorProcessor._reverse_permute_weights``)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def _tokenizer_metadata(model_folder: Path) -> dict:
    """Tokens (in id order), token types, merges and special ids from the folder's tokenizer.json,
    a byte-level BPE (``cogumi.models.tokenizer.build_tokenizer``)."""
    tokenizer = json.loads((model_folder / "tokenizer.json").read_text())
    config = json.loads((model_folder / "tokenizer_config.json").read_text())
    model = tokenizer["model"]
    if model["type"] != "BPE":
        raise ValueError(f"{model_folder}: a {model['type']} tokenizer, not the byte-level BPE this writes")
    vocab = dict(model["vocab"])
    for added in tokenizer["added_tokens"]:
        vocab.setdefault(added["content"], added["id"])
    tokens = [None] * len(vocab)
    for token, index in vocab.items():
        tokens[index] = token
    if None in tokens:
        raise ValueError(f"{model_folder}: token ids are not contiguous")
    special = {added["content"] for added in tokenizer["added_tokens"] if added["special"]}
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    ids = {name: vocab[config[name]] for name in ("bos_token", "eos_token", "pad_token") if config.get(name)}
    template = model_folder / "chat_template.jinja"
    chat_template = template.read_text() if template.exists() else config.get("chat_template")
    return {"tokens": tokens, "types": [CONTROL if t in special else NORMAL for t in tokens], "merges": merges,
            "ids": ids, "chat_template": chat_template}


def write_llama_gguf(model_folder, path, with_output: bool = True) -> Path:
    """Write the LlamaForCausalLM at ``model_folder`` (and its tokenizer) as an F32 GGUF at ``path``.

    ``with_output`` writes ``output.weight`` even when the embeddings are tied (transformers then
    loads an untied model of equal weights); False leaves it out of a tied model, as llama.cpp does.
    """
    import gguf
    import torch
    from transformers import AutoModelForCausalLM

    model_folder, path = Path(model_folder), Path(path)
    model = AutoModelForCausalLM.from_pretrained(model_folder, dtype=torch.float32)
    config = model.config
    if config.model_type != "llama":
        raise ValueError(f"{model_folder} holds a {config.model_type} model, not llama")
    n_head, n_head_kv = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_head
    rope = getattr(config, "rope_parameters", None) or {}
    rope_theta = rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))
    tok = _tokenizer_metadata(model_folder)

    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name(model_folder.name)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(rope_theta))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)

    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tok["tokens"])
    writer.add_token_types(tok["types"])
    writer.add_token_merges(tok["merges"])
    for name, add in (("bos_token", writer.add_bos_token_id), ("eos_token", writer.add_eos_token_id),
                      ("pad_token", writer.add_pad_token_id)):
        if name in tok["ids"]:
            add(tok["ids"][name])
    writer.add_add_bos_token(False)  # the tiny tokenizer adds none; its chat template writes it
    if tok["chat_template"]:
        writer.add_chat_template(tok["chat_template"])

    weights = {name: tensor.detach().numpy().astype(np.float32) for name, tensor in model.state_dict().items()}
    tensors = {"token_embd.weight": weights["model.embed_tokens.weight"]}
    for i in range(config.num_hidden_layers):
        hf = f"model.layers.{i}."
        tensors.update({
            f"blk.{i}.attn_norm.weight": weights[hf + "input_layernorm.weight"],
            f"blk.{i}.attn_q.weight": permute(weights[hf + "self_attn.q_proj.weight"], n_head, n_head),
            f"blk.{i}.attn_k.weight": permute(weights[hf + "self_attn.k_proj.weight"], n_head, n_head_kv),
            f"blk.{i}.attn_v.weight": weights[hf + "self_attn.v_proj.weight"],
            f"blk.{i}.attn_output.weight": weights[hf + "self_attn.o_proj.weight"],
            f"blk.{i}.ffn_norm.weight": weights[hf + "post_attention_layernorm.weight"],
            f"blk.{i}.ffn_gate.weight": weights[hf + "mlp.gate_proj.weight"],
            f"blk.{i}.ffn_up.weight": weights[hf + "mlp.up_proj.weight"],
            f"blk.{i}.ffn_down.weight": weights[hf + "mlp.down_proj.weight"],
        })
    tensors["output_norm.weight"] = weights["model.norm.weight"]
    if with_output or not config.tie_word_embeddings:
        tensors["output.weight"] = weights.get("lm_head.weight", weights["model.embed_tokens.weight"])
    for name, array in tensors.items():
        writer.add_tensor(name, np.ascontiguousarray(array), raw_dtype=gguf.GGMLQuantizationType.F32)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
