"""The guard between the distill and benchmark problems: the same normalised prompt, or a shared
run of words, is an error unless the config allows it (then the report says so)."""

from __future__ import annotations

import re
import unicodedata

from cogumi.types import Problem

_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))  # soft hyphen, zero-width
_DIGIT_SEPARATOR = re.compile(r"(?<=\d)[,.'_\u00a0\u202f\u2009](?=\d)")  # 1,000 1.000 1'000 1 000


def _words(text: str) -> list[str]:
    """The words of ``text`` as the guard compares them: compatibility forms folded (full-width digits
    and letters, ligatures: NFKC), invisible characters dropped, digit group separators removed, lower
    case."""
    text = _DIGIT_SEPARATOR.sub("", unicodedata.normalize("NFKC", text).translate(_INVISIBLE))
    return re.findall(r"\w+", text.casefold())


def _text(problem: Problem) -> list[str]:
    """The dataset's own prompt: the shared prompt template would make every pair look alike."""
    return _words(problem.spec.get("source_prompt", problem.prompt))


def overlap(distill: list[Problem], benchmark: list[Problem], n: int) -> list[tuple[str, str, str]]:
    """(distill id, benchmark id, how) for every benchmark problem that a distill problem repeats:
    the same normalised prompt, or a shared run of ``n`` words."""
    exact = {" ".join(_text(p)): p.id for p in distill}
    grams: dict[tuple[str, ...], str] = {}
    for p in distill:
        words = _text(p)
        for i in range(len(words) - n + 1):
            grams.setdefault(tuple(words[i:i + n]), p.id)
    found = []
    for p in benchmark:
        words = _text(p)
        if " ".join(words) in exact:
            found.append((exact[" ".join(words)], p.id, "exact"))
            continue
        hit = next((grams[g] for g in (tuple(words[i:i + n]) for i in range(len(words) - n + 1)) if g in grams), None)
        if hit:
            found.append((hit, p.id, f"{n}-gram"))
    return found


def check_overlap(categories, guard, distill: list[Problem], benchmark: list[Problem]) -> list[str]:
    """Refuse (or, with ``overlap.allow_overlap``, report) distill/benchmark overlap per category. The
    tiny world's splits are disjoint by construction but share templates, so its categories get the
    exact check only. Returns the notes for the report."""
    notes = []
    for category, spec in categories.items():
        d = [p for p in distill if p.category == category]
        b = [p for p in benchmark if p.category == category]
        external = any(source is not None for source in spec.sources.values())
        # prompts built on shared templates (the tiny world's, IFEval's constraint sentences) are compared whole
        exact_only = not external or getattr(spec, "templated_prompts", False)
        found = overlap(d, b, 10**9 if exact_only else guard.ngram)
        if not found:
            continue
        examples = "; ".join(f"{a} ~ {c} ({how})" for a, c, how in found[:3])
        message = f"{category}: {len(found)} of {len(b)} benchmark problems overlap the distill problems ({examples})"
        if not guard.allow_overlap:
            raise ValueError(message + ". Use disjoint sources, or set overlap.allow_overlap: true to go on "
                                       "(the report will say so)")
        notes.append("overlap allowed: " + message)
    return notes
