"""Chat format in Llama-3.1-Instruct's structure: role headers and an end-of-turn token.

The same rendering and response extraction serve the tiny model and Llama-3.1, so nothing
downstream knows which one it is talking to.
"""

from __future__ import annotations

import re

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

_TURN = re.compile(re.escape(HEADER_START) + r"(\w+)" + re.escape(HEADER_END) + r"\n\n(.*?)(?:" + re.escape(EOT) + r"|$)", re.S)
_ASSISTANT = HEADER_START + "assistant" + HEADER_END + "\n\n"


def parse_chat(text: str) -> list[dict[str, str]]:
    """The messages of a rendered conversation, in order (an unfinished last turn included)."""
    return [{"role": role, "content": content} for role, content in _TURN.findall(text)]


def extract_response(text: str) -> str:
    """The last assistant turn of ``text``, cut at the end-of-turn (or end-of-text) token.

    Accepts a whole rendered conversation or only the generated continuation.
    """
    if _ASSISTANT in text:
        text = text.rsplit(_ASSISTANT, 1)[1]
    for stop in (EOT, EOS, HEADER_START):
        text = text.split(stop, 1)[0]
    return text.strip()
