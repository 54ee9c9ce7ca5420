"""The tiny world's tokenizer: byte-level BPE with Llama-3.1's number grouping and special tokens."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from cogumi.models.chat import BOS, CHAT_TEMPLATE, EOS, EOT, PAD, SPECIAL_TOKENS


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``corpus`` and wrap it with the chat template.

    Numbers are cut into groups of up to three digits, as Llama-3's tokenizer does, so a small
    number is one token and arithmetic on it is a lookup rather than a digit-by-digit carry.
    """
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\d{1,3}"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=BOS, eos_token=EOT,
                                        pad_token=PAD, padding_side="left", clean_up_tokenization_spaces=False)
    tokenizer.add_special_tokens({"additional_special_tokens": [EOS]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer
