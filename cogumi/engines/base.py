"""What every generation engine is: ``Engine``, the one interface the generate and benchmark stages
call, and what engines share: prompts rendered with the model's own chat template, its end-of-turn
tokens, generated tokens decoded into a ``Completion``, and the one rule by which seeds derive.

Seeds: a stage batch's seed comes from the run's seed, its category's own seed and its number
(``batch_seed``); inside a call, an engine seeds the part of its prompts that starts at position
``offset`` (an engine's sub-batch, or one prompt's samples) with ``offset_seed(seed, offset)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar
from weakref import WeakKeyDictionary

from cogumi.types import Completion, Decoding

# What a Decoding leaves null: one greedy completion of at most 96 tokens.
DEFAULT_DECODING = Decoding(0.0, 1, 96)


def batch_seed(run_seed: int, category_seed: int, number: int) -> int:
    """The seed of stage batch ``number`` of a category seeded ``category_seed``, in a run seeded
    ``run_seed``: the same batch samples alike whenever, on whichever rank and with whichever
    other categories it runs."""
    return run_seed * 100_003 + number * 101 + category_seed


def offset_seed(seed: int, offset: int) -> int:
    """The seed of the prompts of a call seeded ``seed`` from position ``offset`` on."""
    return seed * 1_000_003 + offset


class Engine:
    """One loaded model that answers prompts. A subclass sets ``name``, implements ``open`` and
    ``generate``, and overrides the class methods whose defaults do not fit it; registered under
    its name (``cogumi.engines.register``), it serves every stage that generates."""

    name: ClassVar[str] = ""
    """The value of ``generate.engine`` / ``benchmark.engine`` that chooses it."""
    perf_labels: ClassVar[tuple[str, ...]] = ()
    """How ``cogumi perf`` names (or once named) its greedy measurement: ``cogumi plan`` reads its
    speed there."""
    module = None
    """The ``torch.nn.Module`` the engine runs in this process, if any: Lightning places it on the
    stage's device. None for an engine that runs elsewhere."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    @classmethod
    def open(cls, cfg, run, label: str) -> Engine:
        """The engine serving the model the run ``run`` of experiment ``cfg`` calls ``label``
        ("before" for Phase 1A, or a trained variant)."""
        raise NotImplementedError

    def generate(self, prompts: list[str], decoding: Decoding, *, seed: int, batch_size: int) -> list[list[Completion]]:
        """``decoding.samples`` completions for each user prompt, in the order of ``prompts``; the same
        prompts, decoding, seed and batch size give the same completions."""
        raise NotImplementedError

    def batch_sizes(self, problems: list, decodings: dict[str, Decoding], section, cfg) -> dict[str, int]:
        """Problems per stage batch of each category, once the model is loaded (default: ``batch_size``)."""
        return {name: self.batch_size(section, cfg) for name in decodings}

    def close(self) -> None:
        """Free what the engine holds beyond this process's memory; safe to call twice."""

    @classmethod
    def batch_size(cls, section, cfg) -> int | None:
        """Problems per stage batch of ``section`` (``cfg.generate`` or ``cfg.benchmark``), known
        without the model; None when only the loaded model can tell."""
        return section.batch_size

    @classmethod
    def settings(cls, cfg) -> dict:
        """What a stage's outputs depend on of this engine, beside its batch size (for fingerprints)."""
        return {"engine": cls.name}

    @classmethod
    def check(cls, cfg) -> tuple[str, list[str]]:
        """For ``cogumi plan``: where the engine runs, and what would stop it, found without loading weights."""
        return "in this process", []


def render_prompts(tokenizer, prompts: list[str]) -> list[str]:
    """Each user prompt in the model's own chat template, ready for the assistant's turn."""
    return [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
            for p in prompts]


def stop_ids(model, tokenizer) -> list[int]:
    """The tokens that end a turn: the generation config's end tokens, the tokenizer's end token, and
    the token the model's chat template writes after an assistant message (``end_of_turn_ids``).
    ``model`` is a loaded model or a model folder."""
    if isinstance(model, (str, Path)):
        from transformers import AutoConfig, GenerationConfig

        try:
            ids = GenerationConfig.from_pretrained(model).eos_token_id
        except OSError:  # no generation_config.json: what transformers derives from config.json
            ids = GenerationConfig.from_model_config(AutoConfig.from_pretrained(model)).eos_token_id
    else:
        ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    return sorted(set(ids) | {tokenizer.eos_token_id} | set(end_of_turn_ids(tokenizer)) - {None})


_PROBE = "Cogumi probe reply"


def end_of_turn_ids(tokenizer) -> list[int]:
    """The special token the chat template closes an assistant message with (``<|eot_id|>`` in
    Llama 3's, ``<|im_end|>`` in ChatML, ``<end_of_turn>`` in Gemma's, ``</s>`` in Mistral's), read
    off the template itself by rendering one exchange; none when the template writes no special
    token there or cannot render it."""
    try:
        text = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": _PROBE}],
                                             tokenize=False)
    except Exception:  # a template that refuses the probe exchange (it then says why when prompts render)
        return []
    if _PROBE not in text:
        return []
    after = tokenizer(text.rsplit(_PROBE, 1)[1], add_special_tokens=False)["input_ids"]
    return after[:1] if after and after[0] in special_ids(tokenizer) else []


def special_ids(tokenizer) -> frozenset[int]:
    """Every special token of ``tokenizer``: its named ones and its added tokens marked special."""
    if tokenizer not in _SPECIAL:
        added = {i for i, token in getattr(tokenizer, "added_tokens_decoder", {}).items() if token.special}
        _SPECIAL[tokenizer] = frozenset(tokenizer.all_special_ids) | added
    return _SPECIAL[tokenizer]


_SPECIAL: WeakKeyDictionary = WeakKeyDictionary()  # a tokenizer's special ids, read once


def completion(tokenizer, tokens: list[int], stop: list[int]) -> Completion:
    """A generated token sequence as a ``Completion``: kept up to its first end-of-turn token
    (padding past it dropped); the response is the text before its first special token of any kind
    (an end-of-turn, or a new turn's header the model started without closing its own)."""
    ended = next((k for k, t in enumerate(tokens) if t in stop), None)
    kept = tokens if ended is None else tokens[:ended + 1]
    special = special_ids(tokenizer)
    text_end = next((k for k, t in enumerate(kept) if t in special), len(kept))
    return Completion(tokenizer.decode(kept[:text_end], skip_special_tokens=False).strip(), ended is not None, len(kept))
