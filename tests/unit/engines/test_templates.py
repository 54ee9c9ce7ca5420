"""Responses end where the model's own chat template ends a turn, whichever template it is."""

import copy

import pytest

from cogumi.engines.base import completion, end_of_turn_ids, render_prompts, stop_ids

CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
GEMMA = ("{{ bos_token }}{% for m in messages %}{{ '<start_of_turn>' + ('model' if m['role'] == 'assistant' else m['role'])"
         " + '\\n' + m['content'] + '<end_of_turn>\\n' }}{% endfor %}"
         "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}")
MISTRAL = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}"
           "{% else %}{{ ' ' + m['content'] + eos_token }}{% endif %}{% endfor %}")
# name: (template, its special tokens, its end-of-turn token, the tokenizer's own eos token)
TEMPLATES = {"chatml": (CHATML, ["<|im_start|>", "<|im_end|>"], "<|im_end|>", "<|endoftext|>"),
             "gemma": (GEMMA, ["<start_of_turn>", "<end_of_turn>"], "<end_of_turn>", "<eos>"),
             "mistral": (MISTRAL, ["[INST]", "[/INST]"], "</s>", "</s>")}


class NoGenerationConfig:
    class generation_config:
        eos_token_id = None


def _tokenizer(base, name):
    template, specials, _, eos = TEMPLATES[name]
    tok = copy.deepcopy(base)
    tok.add_special_tokens({"additional_special_tokens": specials, "eos_token": eos})
    tok.chat_template = template
    return tok


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_the_end_of_turn_token_is_read_off_the_template(tokenizer, name):
    tok = _tokenizer(tokenizer, name)
    end = TEMPLATES[name][2]
    assert end_of_turn_ids(tok) == [tok.convert_tokens_to_ids(end)]
    stop = stop_ids(NoGenerationConfig(), tok)
    assert tok.convert_tokens_to_ids(end) in stop and tok.eos_token_id in stop
    assert tok.convert_tokens_to_ids("<|eot_id|>") not in stop  # Llama 3's end token is no stop of another template


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_a_response_carries_no_end_token_and_a_cut_one_is_unfinished(tokenizer, name):
    tok = _tokenizer(tokenizer, name)
    end, specials = TEMPLATES[name][2], TEMPLATES[name][1]
    stop = stop_ids(NoGenerationConfig(), tok)
    ids = tok(f"Vienna.{end}\n{specials[0]}user\nmore", add_special_tokens=False)["input_ids"]
    done = completion(tok, ids, stop)
    assert done.text == "Vienna." and done.finished
    assert done.tokens == ids.index(tok.convert_tokens_to_ids(end)) + 1
    opened = completion(tok, tok(f"Paris{specials[0]}assistant", add_special_tokens=False)["input_ids"], stop)
    assert opened.text == "Paris" and not opened.finished  # a new turn opened without ending this one
    assert render_prompts(tok, ["Hi"])[0].count("Hi") == 1


def test_a_template_that_cannot_render_an_exchange_gives_no_end_token(tokenizer):
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = "{{ raise_exception('system message required') }}"
    assert end_of_turn_ids(tok) == []
