from cogumi.engines.base import completion, render_prompts, stop_ids
from cogumi.models.chat import EOT


def test_tokenizer_round_trips_text(tokenizer):
    texts = ["Sam has 17 apples. 17 + 5 = 22. The answer is \\boxed{22}.",
             "```python\ndef add_five(x):\n    return x + 5\n```",
             "Unseen wörds, émoji 🍄 and   spaces\n\ttabs!"]
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text


def test_numbers_are_cut_into_groups_of_up_to_three_digits(tokenizer):
    pieces = [tokenizer.convert_tokens_to_string([t]) for t in tokenizer.tokenize("1234567 has 42")]
    ends, total = set(), 0
    for piece in pieces:
        total += len(piece)
        ends.add(total)
    assert {3, 6, 7} <= ends  # 123|456|7, as Llama-3 groups digits
    assert all(len(p) <= 3 for p in pieces[:3])


def test_special_tokens_are_single_ids(tokenizer):
    for token in ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", EOT, "<|finetune_right_pad_id|>"):
        ids = tokenizer(token, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and ids[0] == tokenizer.convert_tokens_to_ids(token)
    assert tokenizer.eos_token == EOT and tokenizer.pad_token_id != tokenizer.eos_token_id


def test_chat_template_renders_llama_structure(tokenizer):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 3?"},
                {"role": "assistant", "content": "2 + 3 = 5. The answer is \\boxed{5}."}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert text == ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                    "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2 + 3?<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\n2 + 3 = 5. The answer is \\boxed{5}.<|eot_id|>")


def test_generation_prompt_and_response_extraction(tokenizer):
    prompt = render_prompts(tokenizer, ["Hi"])[0]
    assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    stop = stop_ids(_no_config(), tokenizer)
    assert tokenizer.convert_tokens_to_ids(EOT) in stop
    generated = tokenizer("Hello there.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nignored",
                          add_special_tokens=False)["input_ids"]
    done = completion(tokenizer, generated, stop)
    assert done.text == "Hello there." and done.finished and done.tokens == generated.index(stop[0]) + 1
    cut = completion(tokenizer, tokenizer("cut short without end", add_special_tokens=False)["input_ids"], stop)
    assert cut.text == "cut short without end" and not cut.finished


def _no_config():
    class Model:  # a loaded model whose generation config names no end token
        class generation_config:
            eos_token_id = None
    return Model()
