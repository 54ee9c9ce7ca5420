"""``cogumi perf``: how fast generation and SFT are, against the obvious baselines, on one model.

Every measurement (``cogumi.perf.jobs``) runs in its own spawned process, so each one's peak memory
is its own (taken on its first, cold run); its time is the median of ``repeats`` warm runs after
that, and is reported as a ratio against the baseline measured the same way in the same session.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

from rich.table import Table

from cogumi.console import console, show
from cogumi.files import write_json
from cogumi.perf.harness import PerfConfig


def _isolated(job: str, cfg: PerfConfig, arg=None) -> dict:
    """Run one measurement in a fresh interpreter, so its peak memory is its own."""
    payload = json.dumps({"job": job, "cfg": asdict(cfg), "arg": arg})
    done = subprocess.run([sys.executable, "-m", "cogumi.perf.jobs", payload], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"perf measurement {job} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


PEER = "batched model.generate (the peer)"


def _row(name: str, baseline: str, fast: dict, slow: dict, note: str) -> dict:
    fast_tps, slow_tps = fast["tokens"] / fast["seconds"], slow["tokens"] / slow["seconds"]
    return {"measurement": name, "baseline": baseline, "tokens_per_s": round(fast_tps, 3),
            "baseline_tokens_per_s": round(slow_tps, 3), "speedup": round(fast_tps / slow_tps, 2),
            "seconds": round(fast["seconds"], 2), "baseline_seconds": round(slow["seconds"], 2),
            "runs_seconds": fast["all_seconds"], "baseline_runs_seconds": slow["all_seconds"],
            "peak_mb": round(fast["peak_mb"], 1), "baseline_peak_mb": round(slow["peak_mb"], 1), "note": note}


def run_perf(cfg: PerfConfig) -> list[dict]:
    """Measure, print the table of ratios and write ``cfg.output``; returns the rows."""
    rows, skip = [], set(cfg.skip)
    console.print("greedy: the engines vs batched model.generate and one prompt at a time ...")
    peer = _isolated("peer", cfg)
    naive = None if "naive" in skip else _isolated("naive", cfg)
    same = lambda a, b: f"{sum(x == y for x, y in zip(a['texts'], b['texts']))}/{len(b['texts'])} outputs identical"  # noqa: E731
    other = replace(cfg, dtype=cfg.compare_dtype) if cfg.compare_dtype else None
    for name in cfg.engines:
        label, job = ("HF engine", "engine") if name == "hf" else ("vLLM engine", "vllm")
        fast = _isolated(job, cfg)
        note = (f"; engine start {fast['start_seconds']:.0f} s, not timed; peak MB: the whole vLLM process"
                if name == "vllm" else "")
        rows.append(_row(f"{label}, greedy", PEER, fast, peer, same(fast, peer) + note))
        if naive is not None:
            rows.append(_row(f"{label}, greedy", "model.generate per prompt", fast, naive, same(fast, naive) + note))
        if name == "hf" and "continuous" not in skip:
            continuous = _isolated("continuous", cfg)
            rows.append(_row(f"{label}, greedy", "transformers continuous batching (generate_batch)", fast, continuous,
                             same(fast, continuous)))
        if other is not None:
            slow = _isolated(job, other)
            rows.append(_row(f"{label}, greedy, {cfg.dtype}", f"{label}, greedy, {other.dtype}", fast, slow,
                             same(fast, slow) + note))
    if "sampling" not in skip:
        console.print("sampling: shared prefix vs expanded prompts ...")
        shared, expanded = _isolated("sampling", cfg, True), _isolated("sampling", cfg, False)
        identical = sum(a == b for a, b in zip(shared["texts"], expanded["texts"]))
        rows.append(_row(f"{cfg.samples} samples per prompt", "prompt prefilled per sample", shared, expanded,
                         f"prompts of {shared['prompt_tokens']:.0f} tokens; {identical}/{len(shared['texts'])} samples identical"))
    if "sft" not in skip:
        console.print("SFT: length-grouped and padding-free vs random padded batches ...")
        padded = _isolated("sft", cfg, "random")
        for name, batching in (("SFT, length-grouped batches", "grouped"), ("SFT, padding-free", "padding_free")):
            fast = _isolated("sft", cfg, batching)
            rows.append(_row(name, "TRL's random padded batches", fast, padded,
                             f"mean loss {fast['loss']:.4f} vs {padded['loss']:.4f}"))
            if other is not None and batching == "grouped":
                slow = _isolated("sft", other, batching)
                rows.append(_row(f"{name}, {cfg.dtype}", f"the same, {other.dtype}", fast, slow,
                                 f"{cfg.sft_examples / fast['seconds']:.1f} vs {cfg.sft_examples / slow['seconds']:.1f} "
                                 f"examples/s; mean loss {fast['loss']:.4f} vs {slow['loss']:.4f}"))
    table = Table(title=f"cogumi perf: {cfg.base} ({cfg.threads} threads)")
    for column in ("measurement", "baseline", "speedup", "tokens/s", "baseline tokens/s", "peak MB", "baseline peak MB", "note"):
        table.add_column(column, justify="left" if column in ("measurement", "baseline", "note") else "right")
    for r in rows:
        table.add_row(r["measurement"], r["baseline"], f"{r['speedup']:.2f}x", f"{r['tokens_per_s']:.0f}",
                      f"{r['baseline_tokens_per_s']:.0f}", f"{r['peak_mb']:.0f}", f"{r['baseline_peak_mb']:.0f}", r["note"])
    show(table)
    write_json(Path(cfg.output), {"settings": asdict(cfg), "rows": rows})
    console.print(f"wrote {cfg.output}")
    return rows
