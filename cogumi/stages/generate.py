"""Generate stage: the policy model answers every category's distill split with that category's
decoding, into ``raw/<category>.jsonl`` (resumable batch files, see ``cogumi.engines.batches``).

Lightning's Trainer owns the loop (``cogumi.engines.loop``); ``answer_batch`` is the pure step it
drives. A category's raw file carries its own fingerprint inside the stage's, so a changed decoding
policy regenerates that category's batches only, and a category added leaves the others' alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from cogumi.categories import Category
from cogumi.data.problems import distill_problems
from cogumi.dist import barrier
from cogumi.engines import engine_class
from cogumi.engines.batches import finished_batches, plan_batches, rank_files, read_batches, remove
from cogumi.engines.loop import run_batches
from cogumi.models.checks import model_settings
from cogumi.run import RunFolder
from cogumi.stages.contract import Stage
from cogumi.types import Decoding


def stage(cfg, run: RunFolder, rft: bool = False) -> Stage:
    """Answering the distill problems: with each category's policy, or (``rft``) the rft ablation's."""
    decodings = rft_decodings(cfg) if rft else {name: c.decoding for name, c in cfg.resolved.items()}
    raw_of = run.raw_rft if rft else run.raw
    engine = engine_class(cfg.generate.engine)
    size = engine.batch_size(cfg.generate, cfg)
    settings = {"model": model_settings(cfg.model), "seed": cfg.seed, **engine.settings(cfg), "categories": {
        name: category_settings(cfg.resolved[name], decoding, cfg.generate.problems.get(name, 0), size,
                                cfg.generate.memory_budget_gb)
        for name, decoding in decodings.items()}}
    return Stage("generate_rft" if rft else "generate", settings,
                 lambda: run_generation(cfg, run, decodings, raw_of, "generate rft" if rft else "generate"),
                 lambda old: clear_categories(run, stale_categories(old, settings), raw_of if rft else None),
                 lambda: [p for name in decodings for p in rank_files(raw_of(name))])


def category_settings(category: Category, decoding: Decoding, count: int, batch_size: int | None,
                      memory_budget_gb) -> dict:
    """What one category's raw samples depend on (beside the model and seed): its class, its seed,
    its distill data and the decoding it is answered with (``category.settings()``)."""
    own = category.settings()
    return {"class": own["class"], "seed": own["seed"], "problems": count, "data": own["data"]["distill"],
            "decoding": vars(decoding), "batch_size": batch_size, "memory_budget_gb": memory_budget_gb}


def rft_decodings(cfg) -> dict[str, Decoding]:
    """The rft ablation's sampling of its categories: ``rft.samples`` at ``rft.temperature``."""
    return {name: Decoding(cfg.rft.temperature, cfg.rft.samples, cfg.resolved[name].decoding.max_new_tokens)
            for name in cfg.rft.categories}


def stale_categories(old: dict, new: dict) -> list[str]:
    """Categories whose raw samples were made with other settings than ``new`` asks for (every
    category, for settings unknown: ``{}``)."""
    before = old.get("categories", {})
    if {k: v for k, v in old.items() if k != "categories"} != {k: v for k, v in new.items() if k != "categories"}:
        return sorted(before.keys() | new["categories"].keys())  # model or seed: everything
    return sorted(c for c in before.keys() | new["categories"].keys() if before.get(c) != new["categories"].get(c))


def clear_categories(run: RunFolder, names: list[str], raw_of=None) -> None:
    """Forget the samples of ``names`` (their settings changed) and, for the main samples, the
    drawn problems (drawn again, each category's alike: a category's draw depends on it alone)."""
    for name in names:
        remove((raw_of or run.raw)(name))
    if raw_of is None:
        run.problems("distill").unlink(missing_ok=True)


def answer_batch(decodings: Mapping[str, Decoding], engine, batch: dict, seed: int) -> list[dict]:
    """The rows of one batch: each problem answered ``samples`` times with its category's decoding."""
    problems = batch["problems"]
    decoding = decodings[batch["category"]]
    completions = engine.generate([p.prompt for p in problems], decoding, seed=seed, batch_size=len(problems))
    return [{"problem_id": p.id, "category": p.category, "sample": i, "text": c.text, "finished": c.finished,
             "tokens": c.tokens, "temperature": decoding.temperature}
            for p, group in zip(problems, completions) for i, c in enumerate(group)]


def run_generation(cfg, run: RunFolder, decodings: Mapping[str, Decoding] | None = None, raw_of=None,
                   label: str = "generate") -> None:
    """Answer the distill problems of the categories in ``decodings`` (default: every category with
    its own policy) into ``raw_of(category)`` (default ``raw/<category>.jsonl``), resuming whatever
    is already there."""
    decodings = decodings or {name: c.decoding for name, c in cfg.resolved.items()}
    raw_of = raw_of or run.raw
    problems = [p for p in distill_problems(cfg, run) if p.category in decodings]
    order = [name for name in cfg.resolved if name in decodings]
    seeds = {name: cfg.resolved[name].category_seed for name in order}
    done = set().union(*(finished_batches(raw_of(c)) for c in order))
    kind = engine_class(cfg.generate.engine)
    size = kind.batch_size(cfg.generate, cfg)
    if not problems or (size is not None and all(
            b["key"] in done for b in plan_batches(problems, {c: size for c in order}, order, seeds))):
        return
    engine = kind.open(cfg, run, "before")
    try:
        sizes = engine.batch_sizes(problems, decodings, cfg.generate, cfg)
        todo = [b for b in plan_batches(problems, sizes, order, seeds) if b["key"] not in done]
        if todo:
            run_batches(engine, partial(answer_batch, decodings), cfg.seed, todo, raw_of, label)
    finally:
        engine.close()
    barrier()


def read_samples(cfg, run: RunFolder, raw_of=None) -> list[dict]:
    """Every generated sample of the run (or of ``raw_of``'s files), category by category."""
    order, raw_of = list(cfg.resolved), raw_of or run.raw
    return [row for c in order if raw_of(c).exists() for row in read_batches(raw_of(c), order)]

