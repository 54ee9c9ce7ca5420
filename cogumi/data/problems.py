"""The problems a run works on: the distill split, drawn once and kept in the run folder (after the
overlap guard has compared it with the benchmark split), and the measured split of the benchmark."""

from __future__ import annotations

from cogumi.data.overlap import check_overlap
from cogumi.data.sources import load_problems
from cogumi.dist import is_main
from cogumi.files import read_jsonl, write_json, write_jsonl
from cogumi.run import RunFolder
from cogumi.types import Problem


def benchmark_problems(cfg, split: str) -> list[Problem]:
    """The problems of ``split`` an experiment measures: each category's source, capped at its
    count in ``benchmark.problems`` (and, for the distill split, at the count it generated on, so
    that every one of them is a problem the new adapter learned from)."""
    counts = dict(cfg.benchmark.problems)
    if split == "distill":
        counts = {c: min(n, cfg.generate.problems.get(c, 0)) for c, n in counts.items()}
    return [p for name, c in cfg.resolved.items() for p in load_problems(c, split, counts.get(name, 0), cfg.seed)]


def guarded_benchmark(cfg, run: RunFolder) -> list[Problem]:
    """The benchmark split's problems, checked again for overlap with the run's distill problems
    (the benchmark's source may have changed since they were drawn); the notes are rewritten."""
    problems = benchmark_problems(cfg, "benchmark")
    notes = check_overlap(cfg.resolved, cfg.overlap, distill_problems(cfg, run), problems)
    if is_main():
        write_json(run.overlap, notes)
    return problems


def distill_problems(cfg, run: RunFolder) -> list[Problem]:
    """The distill-split problems of this run, drawn once and then read back from disk. Before
    they are first drawn, the benchmark problems are checked for overlap with them."""
    path = run.problems("distill")
    if path.exists():
        return [Problem.from_json(row) for row in read_jsonl(path)]
    problems = [p for name, c in cfg.resolved.items()
                for p in load_problems(c, "distill", cfg.generate.problems.get(name, 0), cfg.seed)]
    if is_main():
        notes = check_overlap(cfg.resolved, cfg.overlap, problems, benchmark_problems(cfg, "benchmark"))
        write_json(run.overlap, notes)
        write_jsonl(path, [p.to_json() for p in problems])
    return problems
