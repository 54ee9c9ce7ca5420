"""What a run will generate, counted before anything loads: tokens per stage at most (every answer
running to its token limit), and the time that takes at a measured generation speed."""

from __future__ import annotations

import json
from pathlib import Path

from cogumi import engines
from cogumi.engines import engine_class


def generation_tokens(cfg) -> dict[str, int]:
    """Stage -> the most tokens it generates."""
    generate = sum(cfg.generate.problems.get(name, 0) * c.decoding.samples * c.decoding.max_new_tokens
                   for name, c in cfg.resolved.items())
    found = {"generate": generate}
    if "rft" in cfg.ablations:
        found["generate_rft"] = sum(cfg.generate.problems.get(name, 0) * cfg.rft.samples
                                    * cfg.resolved[name].decoding.max_new_tokens for name in cfg.rft.categories)
    answer_tokens = sum(n * cfg.benchmark.tokens_for(name) for name, n in cfg.benchmark.problems.items())
    per_model = (1 + cfg.benchmark.samples_per_problem) * answer_tokens
    sweep_points = sum(1 for t in cfg.benchmark.sweep_temperatures if t > 0 and t != cfg.serve_temperature)
    sweep_points += len(cfg.variants)  # each trained model's effective temperature, at most
    per_point = cfg.benchmark.samples_per_problem * answer_tokens
    found["benchmark"] = per_model * (1 + len(cfg.variants)) + per_point * sweep_points
    return found


def measured_speeds(path: Path = Path("runs/perf.json")) -> dict[str, tuple[float, str]]:
    """Engine -> (greedy tokens per second as `cogumi perf` last measured it, on what model and file)."""
    if not path.exists():
        return {}
    record = json.loads(path.read_text())
    found = {}
    for engine in engines.names():
        labels = engine_class(engine).perf_labels
        row = next((r for r in record.get("rows", []) if labels and r.get("measurement", "").startswith(labels)), None)
        if row is not None:
            found[engine] = row["tokens_per_s"], f"{record['settings'].get('base')} ({path})"
    return found


def budget_rows(cfg) -> list[tuple[str, str]]:
    """The plan's rows: tokens per stage and, for each engine whose speed was measured, the time at
    that speed (the engine the stage is set to first)."""
    speeds = measured_speeds()
    rows = []
    for stage, tokens in generation_tokens(cfg).items():
        chosen = cfg.benchmark.engine if stage == "benchmark" else cfg.generate.engine
        times = [f"about {tokens / speeds[e][0] / 3600:.1f} h with {e}{' (set)' if e == chosen else ''} at "
                 f"{speeds[e][0]:.0f} tokens/s" for e in sorted(speeds, key=lambda e: e != chosen)]
        rows.append((f"tokens: {stage}", f"at most {tokens:,}" + (", " + "; ".join(times) if times else "")))
    where = next(iter(speeds.values()))[1] if speeds else None
    rows.append(("generation speed", f"measured on {where}; a real model runs at its own speed: run `cogumi perf "
                                     "--base MODEL` on the target machine" if speeds else
                 "not measured: `cogumi perf --base MODEL --adapter ADAPTER` on the target machine gives the "
                 "tokens/s of each engine that turns these counts into hours"))
    return rows
