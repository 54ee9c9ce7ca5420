"""What a run will generate, counted before anything loads: tokens per stage at most (every answer
running to its token limit), and the time that takes at a measured generation speed."""

from __future__ import annotations

import json
from pathlib import Path


def generation_tokens(cfg) -> dict[str, int]:
    """Stage -> the most tokens it generates."""
    generate = sum(cfg.generate.problems.get(name, 0) * c.decoding.samples * c.decoding.max_new_tokens
                   for name, c in cfg.resolved.items())
    found = {"generate": generate}
    if "rft" in cfg.ablations:
        found["generate_rft"] = sum(cfg.generate.problems.get(name, 0) * cfg.rft.samples
                                    * cfg.resolved[name].decoding.max_new_tokens for name in cfg.rft.categories)
    problems = sum(cfg.benchmark.problems.values())
    per_model = problems * (1 + cfg.benchmark.samples_per_problem) * cfg.benchmark.max_new_tokens
    sweep_points = sum(1 for t in cfg.benchmark.sweep_temperatures if t > 0 and t != cfg.serve_temperature)
    sweep_points += len(cfg.variants)  # each trained model's effective temperature, at most
    per_point = problems * cfg.benchmark.samples_per_problem * cfg.benchmark.max_new_tokens
    found["benchmark"] = per_model * (1 + len(cfg.variants)) + per_point * sweep_points
    return found


def measured_speed(path: Path = Path("runs/perf.json")) -> tuple[float, str] | None:
    """Tokens per second of the generate stage as `cogumi perf` last measured it, and on what."""
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    row = next((r for r in record.get("rows", []) if r.get("measurement", "").startswith("generate stage")), None)
    if row is None:
        return None
    return row["tokens_per_s"], f"{record['settings'].get('base')} ({path})"


def budget_rows(cfg) -> list[tuple[str, str]]:
    """The plan's rows: tokens per stage and, where a speed was measured, the time at that speed."""
    speed = measured_speed()
    rows = []
    for stage, tokens in generation_tokens(cfg).items():
        time = f", about {tokens / speed[0] / 3600:.1f} h at {speed[0]:.0f} tokens/s" if speed else ""
        rows.append((f"tokens: {stage}", f"at most {tokens:,}{time}"))
    rows.append(("generation speed", f"measured on {speed[1]}; a real model runs at its own speed: run `cogumi perf "
                                     "--base MODEL` on the target machine" if speed else
                 "not measured: `cogumi perf --base MODEL --adapter ADAPTER` on the target machine gives the "
                 "tokens/s that turns these counts into hours"))
    return rows
