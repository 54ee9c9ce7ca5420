"""Chains the generate and filter stages on disk: problems -> raw samples -> distilled data."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from rich.table import Table

from cogumi.console import show
from cogumi.filter import distill
from cogumi.files import check_fingerprint, read_jsonl, write_json, write_jsonl
from cogumi.generate import RAW_FILE, barrier, is_main, read_rows, run_generation
from cogumi.world import CATEGORIES, Problem


def distill_problems(cfg, out_dir: Path) -> list[Problem]:
    """The distill-split problems of this run, drawn once and then read back from disk. Before
    they are first drawn, the benchmark problems are checked for overlap with them."""
    from cogumi.benchmark import benchmark_problems
    from cogumi.data import check_overlap, load_problems

    path = out_dir / "problems" / "distill.jsonl"
    if is_main():
        check_fingerprint(out_dir / "problems" / "settings.json",
                          {"seed": cfg.seed, "problems": cfg.generate.problems, "data": asdict(cfg.data)})
        if path.exists():
            return [Problem.from_json(row) for row in read_jsonl(path)]
    problems = [p for c in CATEGORIES for p in load_problems(cfg.data, c, "distill", cfg.generate.problems.get(c, 0),
                                                              cfg.seed)]
    if is_main():
        notes = check_overlap(cfg.data, problems, benchmark_problems(cfg))
        write_json(out_dir / "problems" / "overlap.json", notes)
        write_jsonl(path, [p.to_json() for p in problems])
    return problems


def audit_table(audit: dict) -> Table:
    table = Table(title="distill audit")
    for column in ("category", "problems", "samples", "accepted", "problems kept", "rejected"):
        table.add_column(column, justify="left" if column in ("category", "rejected") else "right")
    for category, row in audit.items():
        reasons = ", ".join(f"{k} {v}" for k, v in row["rejected"].items() if v) or "-"
        table.add_row(category, str(row["problems"]), str(row["samples"]), str(row["accepted"]),
                      str(row["problems_accepted"]), reasons)
    return table


def generate_and_filter(cfg) -> dict:
    """Run generation (resuming) and the filter; returns the audit."""
    from cogumi.models import load_policy

    out_dir = Path(cfg.output_dir)
    problems = distill_problems(cfg, out_dir)
    if is_main():
        check_fingerprint(out_dir / "raw" / "settings.json",
                          {"seed": cfg.seed, "model": asdict(cfg.model), "decoding": asdict(cfg.generate.decoding),
                           "batch_size": cfg.generate.batch_size, "memory_budget_gb": cfg.generate.memory_budget_gb})
    model, tokenizer = load_policy(cfg.model.base, cfg.model.adapter, load_in_4bit=cfg.model.load_in_4bit,
                                   dtype=cfg.model.dtype)
    run_generation(model, tokenizer, problems, cfg.generate, out_dir, cfg.seed)
    audit: dict = {}
    if is_main():  # every rank's samples are on disk (run_generation ends at a barrier); one rank filters
        examples, audit = distill(problems, read_rows(out_dir / RAW_FILE), cfg.filter)
        for category in CATEGORIES:
            if category in audit:
                write_jsonl(out_dir / "data" / f"{category}_distilled.jsonl", examples[category])
        write_json(out_dir / "data" / "audit.json", audit)
        show(audit_table(audit))
    barrier()
    return audit
