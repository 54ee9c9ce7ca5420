"""Generate stage: the policy model answers every category's distill split with that category's
decoding, into ``raw/<category>.jsonl`` (resumable batch files, see ``cogumi.batches``).

Lightning's Trainer owns the loop (``cogumi.loop``); ``answer_batch`` is the pure step it drives.
A category's raw file carries its own fingerprint inside the stage's, so a changed decoding policy
regenerates that category's batches only.
"""

from __future__ import annotations

from collections.abc import Mapping

from cogumi.batches import finished_batches, plan_batches, read_batches, remove
from cogumi.categories import Category, Decoding
from cogumi.config import engine_batch_size
from cogumi.dist import barrier, is_main
from cogumi.files import read_jsonl, write_json, write_jsonl
from cogumi.run import RunFolder
from cogumi.world import Problem


def answer_batch(decodings: Mapping[str, Decoding], model, tokenizer, batch: dict, seed: int) -> list[dict]:
    """The rows of one batch: each problem answered ``samples`` times with its category's decoding."""
    from cogumi.engine import generate

    problems = batch["problems"]
    decoding = decodings[batch["category"]]
    completions = generate(model, tokenizer, [p.prompt for p in problems], decoding, batch_size=len(problems),
                           seed=seed)
    return [{"problem_id": p.id, "category": p.category, "sample": i, "text": c.text, "finished": c.finished,
             "tokens": c.tokens, "temperature": decoding.temperature}
            for p, group in zip(problems, completions) for i, c in enumerate(group)]


def category_settings(category: Category, decoding: Decoding, count: int, batch_size: int, memory_budget_gb) -> dict:
    """What one category's raw samples depend on (beside the model and seed)."""
    return {"problems": count, "data": category.data_settings("distill"), "decoding": vars(decoding),
            "batch_size": batch_size, "memory_budget_gb": memory_budget_gb}


def rft_decodings(cfg) -> dict[str, Decoding]:
    """The rft ablation's sampling of its categories: ``rft.samples`` at ``rft.temperature``."""
    return {name: Decoding(cfg.rft.temperature, cfg.rft.samples, cfg.resolved[name].decoding.max_new_tokens)
            for name in cfg.rft.categories}


def stale_categories(old: dict, new: dict) -> list[str]:
    """Categories whose raw samples were made with other settings than ``new`` asks for."""
    if {k: v for k, v in old.items() if k != "categories"} != {k: v for k, v in new.items() if k != "categories"}:
        return sorted(old["categories"].keys() | new["categories"].keys())  # model or seed: everything
    return sorted(c for c in old["categories"].keys() | new["categories"].keys()
                  if old["categories"].get(c) != new["categories"].get(c))


def clear_categories(run: RunFolder, names: list[str], raw_of=None) -> None:
    """Forget the samples of ``names`` (their settings changed) and, for the main samples, the
    drawn problems."""
    for name in names:
        remove((raw_of or run.raw)(name))
    if raw_of is None:
        run.problems("distill").unlink(missing_ok=True)


def draw_problems(cfg, run: RunFolder) -> list[Problem]:
    """The distill-split problems of this run, drawn once and then read back from disk. Before
    they are first drawn, the benchmark problems are checked for overlap with them."""
    from cogumi.benchmark import benchmark_problems
    from cogumi.data import check_overlap, load_problems

    path = run.problems("distill")
    if path.exists():
        return [Problem.from_json(row) for row in read_jsonl(path)]
    problems = [p for name, c in cfg.resolved.items()
                for p in load_problems(c, "distill", cfg.generate.problems.get(name, 0), cfg.seed)]
    if is_main():
        notes = check_overlap(cfg.resolved, cfg.data, problems, benchmark_problems(cfg, "benchmark"))
        write_json(run.overlap, notes)
        write_jsonl(path, [p.to_json() for p in problems])
    return problems


def batch_sizes(model, tokenizer, problems: list[Problem], cfg, decodings: Mapping[str, Decoding]) -> dict[str, int]:
    """Each category's batch size: ``engine_batch_size``, or what fits ``generate.memory_budget_gb``."""
    from cogumi.engine import batch_size_for

    if cfg.generate.engine == "vllm":  # vLLM manages its own KV cache
        return {c: engine_batch_size(cfg.generate, cfg.vllm) for c in decodings}

    if cfg.generate.memory_budget_gb is None:
        return {c: cfg.generate.batch_size for c in decodings}
    sizes = {}
    for name, policy in decodings.items():
        lengths = [len(tokenizer(p.prompt)["input_ids"]) for p in problems if p.category == name]
        sizes[name] = batch_size_for(model, max(lengths, default=1) + 16, policy.max_new_tokens, policy.samples,
                                     cfg.generate.memory_budget_gb, most=cfg.generate.batch_size)
    return sizes


def run_generation(cfg, run: RunFolder, decodings: Mapping[str, Decoding] | None = None, raw_of=None,
                   label: str = "generate") -> None:
    """Answer the distill problems of the categories in ``decodings`` (default: every category with
    its own policy) into ``raw_of(category)`` (default ``raw/<category>.jsonl``), resuming whatever
    is already there."""
    from functools import partial

    from cogumi.loop import run_batches
    from cogumi.models import load_engine, release

    decodings = decodings or {name: c.decoding for name, c in cfg.resolved.items()}
    raw_of = raw_of or run.raw
    problems = [p for p in draw_problems(cfg, run) if p.category in decodings]
    order = [name for name in cfg.resolved if name in decodings]  # registry order seeds the batches
    done = set().union(*(finished_batches(raw_of(c)) for c in order))
    if not problems or all(k in done for k in _all_keys(problems, cfg, order)):
        return
    model, tokenizer = load_engine(cfg, run, "before", cfg.generate.engine)
    todo = [b for b in plan_batches(problems, batch_sizes(model, tokenizer, problems, cfg, decodings), order)
            if b["key"] not in done]
    try:
        if todo:
            run_batches(model, tokenizer, partial(answer_batch, decodings), cfg.seed, todo, raw_of, label)
    finally:
        release(model)
    barrier()


def _all_keys(problems: list[Problem], cfg, order: list[str]) -> set[str]:
    """Batch keys of a plan without a model: exact unless a memory budget chooses the sizes (which
    it does for the HF engine only)."""
    if cfg.generate.memory_budget_gb is not None and cfg.generate.engine == "hf":
        return {"<needs the model>"}
    size = engine_batch_size(cfg.generate, cfg.vllm)
    return {b["key"] for b in plan_batches(problems, {c: size for c in order}, order)}


def read_samples(cfg, run: RunFolder, raw_of=None) -> list[dict]:
    """Every generated sample of the run (or of ``raw_of``'s files), category by category."""
    order, raw_of = list(cfg.resolved), raw_of or run.raw
    return [row for c in order if raw_of(c).exists() for row in read_batches(raw_of(c), order)]
