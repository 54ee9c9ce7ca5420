"""The tiny model's chat format, in Llama-3.1-Instruct's structure: role headers and an end-of-turn
token. Nothing downstream reads it: engines render prompts with whatever template the model's
tokenizer carries and end responses at that template's own end-of-turn token
(``cogumi.engines.base``)."""

from __future__ import annotations

BOS = "<|begin_of_text|>"
EOS = "<|end_of_text|>"
HEADER_START = "<|start_header_id|>"
HEADER_END = "<|end_header_id|>"
EOT = "<|eot_id|>"
PAD = "<|finetune_right_pad_id|>"
SPECIAL_TOKENS = (BOS, EOS, HEADER_START, HEADER_END, EOT, PAD)

# Llama-3.1's template without its tool-calling and date preamble branches.
CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
