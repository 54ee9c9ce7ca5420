"""Creative outputs: well-formedness and n-gram diversity."""

from __future__ import annotations

from collections import Counter


def ngrams(text: str, n: int = 2) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)} or {tuple(words)}


def has_repetition_loop(text: str, n: int = 3, max_repeats: int = 2) -> bool:
    """True when some word n-gram occurs more than ``max_repeats`` times."""
    words = text.lower().split()
    counts = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return any(c > max_repeats for c in counts.values())


def is_well_formed(text: str, finished: bool) -> bool:
    """Ended by the model itself, not empty, and free of repetition loops."""
    return finished and bool(text.strip()) and not has_repetition_loop(text)


def similarity(a: str, b: str, n: int = 2) -> float:
    """Jaccard similarity of word n-gram sets."""
    x, y = ngrams(a, n), ngrams(b, n)
    return len(x & y) / len(x | y) if x | y else 1.0
