"""Benchmark stage: accuracy and consistency of each model on each category's benchmark split.

The pure core: ``score_problems`` turns completions into one record per problem, with each
category's own metrics (``Category.score``). The shell answers batches under Lightning's
``Trainer.test`` (``cogumi.engines.loop``), appending each finished batch of records to
``benchmark/<model>.jsonl``, so a rerun skips it. Phase 1A is measured first, at the serving
temperature and over the temperature sweep (``cogumi.report.frontier``), then each trained model.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict
from functools import cache, partial

from cogumi.categories import Category, judge
from cogumi.console import console
from cogumi.data.problems import benchmark_problems, guarded_benchmark
from cogumi.dist import barrier
from cogumi.engines import engine_class
from cogumi.engines.batches import finished_batches, plan_batches, read_batches, remove, remove_batches
from cogumi.engines.loop import run_batches
from cogumi.report.frontier import sweep_points
from cogumi.run import RunFolder
from cogumi.stages.contract import Stage
from cogumi.types import Decoding, Problem


def stage(cfg, run: RunFolder, models: dict[str, str]) -> Stage:
    """``models``: label -> what that model is (the Phase 1A model, or a train stage's digest). The
    Phase 1A model is also measured over the temperature sweep and at each trained model's effective
    temperature (``cogumi.report.frontier``)."""
    split = cfg.benchmark.split
    settings = {**measured_settings(cfg), "models": models}

    def clear(old: dict) -> None:
        if _alike(old) != _alike(settings):
            shutil.rmtree(run.results_dir(split), ignore_errors=True)
            return
        stale = [c for c in old.get("categories", {}).keys() | settings["categories"].keys()
                 if old.get("categories", {}).get(c) != settings["categories"].get(c)]
        for records in run.results_dir(split).glob("*.jsonl"):
            remove_batches(records, stale)
        for label in old.get("models", {}):
            if old["models"][label] != models.get(label):
                remove(run.records(split, label))
        if old.get("models", {}).get("before") != models.get("before"):  # the sweep measures Phase 1A too
            for records in run.results_dir(split).glob("phase1a@*.jsonl"):
                remove(records)

    return Stage("benchmark" if split == "benchmark" else "benchmark_distill", settings,
                 lambda: run_models(cfg, run, list(models)), clear,
                 lambda: sorted(run.results_dir(split).glob("*.jsonl")))


def measured_settings(cfg) -> dict:
    """What every record of the stage depends on, each category's part apart (its class, options
    and the measured split's data: ``category.settings()``), so that a changed category option redoes
    that category's records alone."""
    engine = engine_class(cfg.benchmark.engine)
    measure = {k: v for k, v in asdict(cfg.benchmark).items() if k not in ("bootstrap", "engine", "min_problems")}
    if own := engine.settings(cfg):
        measure.update(own, batch_size=engine.batch_size(cfg.benchmark, cfg))
    per_category = isinstance(cfg.benchmark.max_new_tokens, dict)  # then each category's limit is its own part
    if per_category:
        del measure["max_new_tokens"]
    categories = {name: category_settings(c, cfg.benchmark.split) for name, c in cfg.resolved.items()}
    for name in categories if per_category else ():
        categories[name]["max_new_tokens"] = cfg.benchmark.tokens_for(name)
    return {"benchmark": measure, "seed": cfg.seed, "serve_temperature": cfg.serve_temperature,
            "categories": categories}


def category_settings(category: Category, split: str) -> dict:
    """A category's part of the benchmark's settings; its metrics too, so that records scored on
    other metrics are measured again."""
    own = category.settings()
    return {"class": own["class"], "options": own["options"], "seed": own["seed"], "data": own["data"][split],
            "metrics": list(category.metrics)}


def _alike(found: dict) -> dict:
    """What every record depends on alike: not the models (each has its own file), the sweep (each
    temperature has its own file, and one measured is reused whatever else the sweep holds) nor one
    category's own settings (each category has its own batches)."""
    return {**{k: v for k, v in found.items() if k not in ("models", "categories")},
            "benchmark": {k: v for k, v in found.get("benchmark", {}).items() if k != "sweep_temperatures"}}


def run_models(cfg, run: RunFolder, models: list[str]) -> None:
    """Phase 1A and its sweep first, on one engine, which then goes (one vLLM engine holds a GPU at a
    time); then each trained variant on its own."""
    kind = engine_class(cfg.benchmark.engine)
    phase1a = cache(lambda: kind.open(cfg, run, "before"))  # opened once for "before" and the sweep
    # drawn once for every model; the held-out split checked again against what was distilled
    split = cfg.benchmark.split
    problems = guarded_benchmark(cfg, run) if split == "benchmark" else benchmark_problems(cfg, split)
    variants = [m for m in models if m != "before"]
    try:
        if "before" in models:
            run_benchmark(cfg, run, "before", phase1a, problems)
        for label, temperature in sweep_points(cfg, run, variants).items():
            run_benchmark(cfg, run, label, phase1a, problems, temperature=temperature)
    finally:
        if phase1a.cache_info().currsize:
            phase1a().close()
        phase1a.cache_clear()
    for label in variants:
        run_benchmark(cfg, run, label, problems=problems)


def run_benchmark(cfg, run: RunFolder, label: str, engine: Callable | None = None, problems: list[Problem] | None = None,
                  temperature: float | None = None) -> list[dict]:
    """Benchmark one model of the run on ``benchmark.split`` into its records file, resuming what is
    on disk; returns every record. ``"before"`` and the trained variants are measured greedily and at
    the serving temperature; a sweep point (``temperature`` given) is the Phase 1A model sampled at
    that temperature alone. ``engine()`` opens (or hands back the already open) engine of the model,
    which is opened only when some batch is left to answer (default: the engine of ``label``, or of
    Phase 1A for a sweep point, opened here and closed when done). ``problems`` default to the
    split's, drawn here."""
    if engine is None:
        opened = cache(lambda: engine_class(cfg.benchmark.engine).open(cfg, run, "before" if temperature else label))
        try:
            return run_benchmark(cfg, run, label, opened, problems, temperature)
        finally:
            if opened.cache_info().currsize:
                opened().close()
    problems = benchmark_problems(cfg, cfg.benchmark.split) if problems is None else problems
    split = cfg.benchmark.split
    path = run.records(split, label)
    order = list(cfg.resolved)
    seeds = {name: c.category_seed for name, c in cfg.resolved.items()}
    size = engine_class(cfg.benchmark.engine).batch_size(cfg.benchmark, cfg)
    done = finished_batches(path)
    todo = [b for b in plan_batches(problems, {c: size for c in order}, order, seeds) if b["key"] not in done]
    if todo:
        console.print(f"benchmark: {label} on the {split} split")
        answer = partial(answer_and_score, cfg.resolved, cfg.benchmark.tokens_for,
                         cfg.benchmark.samples_per_problem, temperature or cfg.serve_temperature, temperature is None)
        run_batches(engine(), answer, cfg.seed, todo, lambda category: path, f"benchmark {label}", test=True)
    barrier()
    return read_batches(path, order)


def answer_and_score(categories: Mapping[str, Category], tokens_for: Callable[[str], int], samples: int,
                     temperature: float, with_greedy: bool, engine, batch: dict, seed: int) -> list[dict]:
    """One batch (of one category) answered ``samples`` times at ``temperature`` (and greedily,
    ``with_greedy``), each answer at most ``tokens_for(category)`` tokens, then scored."""
    problems = batch["problems"]
    max_new_tokens = tokens_for(problems[0].category)
    prompts = [p.prompt for p in problems]
    greedy = (engine.generate(prompts, Decoding(0.0, 1, max_new_tokens), seed=seed, batch_size=len(prompts))
              if with_greedy else None)
    sampled = engine.generate(prompts, Decoding(temperature, samples, max_new_tokens), seed=seed,
                              batch_size=len(prompts))
    return score_problems(categories, problems, greedy and [g[0] for g in greedy], sampled)


def score_problems(categories: Mapping[str, Category], problems: list[Problem], greedy: list | None,
                   samples: list[list]) -> list[dict]:
    """One record per problem: its category's metrics from the greedy completion (None: sampled
    metrics only) and the samples, with each answer's text, extracted answer, verdict reason and
    whether the model ended it (so that extraction can be audited)."""
    k = len(samples[0])
    flat = [c for group in samples for c in group]
    greedy_v = (judge(categories, problems, [c.text for c in greedy], [c.finished for c in greedy])
                if greedy is not None else [None] * len(problems))
    sampled_v = judge(categories, [p for p in problems for _ in range(k)], [c.text for c in flat],
                      [c.finished for c in flat])
    records = []
    for i, problem in enumerate(problems):
        verdicts = sampled_v[i * k:(i + 1) * k]
        record = {"problem_id": problem.id, "category": problem.category}
        if greedy_v[i] is not None:
            record.update(greedy_reason=greedy_v[i].reason, greedy_text=greedy[i].text,
                          greedy_answer=greedy_v[i].answer, greedy_finished=greedy[i].finished)
        record.update(sampled_reasons=[v.reason for v in verdicts], sampled_texts=[c.text for c in samples[i]],
                      sampled_answers=[v.answer for v in verdicts], sampled_finished=[c.finished for c in samples[i]])
        record.update(categories[problem.category].score(problem, greedy_v[i], verdicts, samples[i]))
        records.append(record)
    return records
