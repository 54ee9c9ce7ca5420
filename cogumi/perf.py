"""``cogumi perf``: how fast generation and SFT are, against the obvious baselines, on one model.

Every measurement runs in its own spawned process, so each one's peak memory is its own (taken on
its first, cold run); its time is the median of ``repeats`` warm runs after that, and is reported
as a ratio against the baseline measured the same way in the same session.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.table import Table

from cogumi.config import VllmSettings
from cogumi.console import console, show


@dataclass
class PerfConfig:
    """What the performance harness measures."""

    base: str = "checkpoints/tiny/base"
    """Folder or hub id of the base model."""
    adapter: str | None = "checkpoints/tiny/phase1a"
    """Phase 1A adapter, merged before measuring; null for the base alone."""
    dtype: str = "float32"
    """Weights dtype."""
    prompts: int = 64
    """Prompts answered greedily by the engine and by the one-at-a-time loop."""
    max_new_tokens: int = 64
    """Generation limit for the greedy comparison."""
    batch_size: int = 64
    """The engine's batch size."""
    long_prompts: int = 8
    """Prompts of the shared-prefix comparison."""
    long_prompt_tokens: int = 160
    """Approximate length of each of those prompts."""
    samples: int = 10
    """Samples per long prompt (the reasoning and creativity policy)."""
    sample_new_tokens: int = 16
    """Generation limit per sample in the shared-prefix comparison."""
    sft_examples: int = 256
    """Examples per SFT measurement."""
    sft_batch_size: int = 16
    """Sequences per SFT step."""
    threads: int = 2
    """CPU threads for torch."""
    repeats: int = 3
    """Timed runs of each measurement after a first, cold one (which gives the peak memory); the
    median counts."""
    seed: int = 0
    """Seed for the prompts and the samples."""
    output: str = "runs/perf.json"
    """Where the figures are written."""
    engines: list[str] = field(default_factory=lambda: ["hf", "vllm"])
    """Engines measured; the vLLM rows need vLLM (see ``vllm``)."""
    vllm: VllmSettings = field(default_factory=VllmSettings)
    """The vLLM engine measured (its own process; its start-up is timed apart)."""

    def __post_init__(self) -> None:
        if isinstance(self.vllm, dict):  # from the JSON an isolated measurement is handed
            self.vllm = VllmSettings(**self.vllm)
        unknown = set(self.engines) - {"hf", "vllm"}
        if unknown:
            raise ValueError(f"engines names unknown engines {sorted(unknown)}; choose from hf, vllm")


def _load(cfg: PerfConfig):
    import torch

    from cogumi.models import load_policy

    torch.set_num_threads(cfg.threads)
    device = "cuda" if torch.cuda.is_available() else None
    return load_policy(cfg.base, cfg.adapter, dtype=cfg.dtype, device=device)


class PeakMemory:
    """Peak memory above the level at entry while the block runs: CUDA's allocator statistics on a
    GPU, otherwise the process's resident set sampled every 10 ms."""

    def __enter__(self):
        import torch

        self.cuda = torch.cuda.is_available()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        else:
            self.start = self.peak = _rss()
            self.running = True
            self.thread = threading.Thread(target=self._poll, daemon=True)
            self.thread.start()
        return self

    def _poll(self):
        while self.running:
            self.peak = max(self.peak, _rss())
            time.sleep(0.01)  # rarely enough to leave the measured loop its speed

    def __exit__(self, *exc):
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            self.mb = (torch.cuda.max_memory_allocated() - self.start) / 2**20
        else:
            self.running = False
            self.thread.join()
            self.mb = (max(self.peak, _rss()) - self.start) / 2**20
        return False


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _greedy_prompts(cfg: PerfConfig) -> list[str]:
    from cogumi.world import make_split

    per = cfg.prompts // 3 + 1
    prompts = [p.prompt for c in ("math", "knowledge", "code") for p in make_split(c, "benchmark", per, cfg.seed)]
    return prompts[:cfg.prompts]


def _long_prompts(cfg: PerfConfig, tokenizer) -> list[str]:
    """Reasoning questions behind a long shared-world preamble (facts of the knowledge world)."""
    import random

    from cogumi.world import make_split
    from cogumi.world.knowledge import fact_prompts

    facts = [answer for _, answer in fact_prompts()]
    rng = random.Random(cfg.seed)
    prompts = []
    for problem in make_split("reasoning", "benchmark", cfg.long_prompts, cfg.seed):
        preamble = []
        while len(tokenizer(" ".join(preamble + [problem.prompt]))["input_ids"]) < cfg.long_prompt_tokens:
            preamble.append(rng.choice(facts))
        prompts.append(" ".join(preamble[:-1] + [problem.prompt]))
    return prompts


def _measure(run, repeats: int) -> dict:
    """Call ``run`` once cold, which gives the peak memory, then ``repeats`` times more; ``run``
    returns (seconds of its timed part, payload), the payload with its own ``peak_mb`` where only
    part of the call should count. Returns the last payload with the median seconds."""
    with PeakMemory() as memory:
        _, cold = run()
    timings, payload = [], cold
    for _ in range(repeats):
        seconds, payload = run()
        timings.append(seconds)
    return {**payload, "seconds": statistics.median(timings), "all_seconds": [round(t, 4) for t in timings],
            "peak_mb": cold.get("peak_mb", memory.mb)}


def _engine(cfg: PerfConfig) -> dict:
    from cogumi.engine import Decoding, generate

    model, tokenizer = _load(cfg)
    prompts = _greedy_prompts(cfg)

    def run():
        started = time.perf_counter()
        out = generate(model, tokenizer, prompts, Decoding(0.0, 1, cfg.max_new_tokens), batch_size=cfg.batch_size)
        return time.perf_counter() - started, {"tokens": sum(c[0].tokens for c in out),
                                               "texts": [c[0].text for c in out]}

    return _measure(run, cfg.repeats)


def _naive(cfg: PerfConfig) -> dict:
    """The obvious loop: one prompt at a time through ``model.generate``."""
    import torch

    from cogumi.chat import extract_response
    from cogumi.engine import render_prompts, stop_ids

    model, tokenizer = _load(cfg)
    prompts = _greedy_prompts(cfg)
    stop = stop_ids(model, tokenizer)

    @torch.inference_mode()
    def run():
        started, tokens, texts = time.perf_counter(), 0, []
        for text in render_prompts(tokenizer, prompts):
            ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"].to(model.device)
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                 max_new_tokens=cfg.max_new_tokens, eos_token_id=stop,
                                 pad_token_id=tokenizer.pad_token_id, temperature=None, top_p=None, top_k=None)
            new = out[0, ids.shape[1]:].tolist()
            tokens += len(new)
            texts.append(extract_response(tokenizer.decode(new, skip_special_tokens=False)))
        return time.perf_counter() - started, {"tokens": tokens, "texts": texts}

    return _measure(run, cfg.repeats)


def _peer(cfg: PerfConfig) -> dict:
    """What a user of transformers writes: the prompts in their order, ``batch_size`` at a time,
    left-padded through ``model.generate``, each batch decoding until its longest answer ends."""
    import torch

    from cogumi.engine import completion, render_prompts, stop_ids

    model, tokenizer = _load(cfg)
    rendered = render_prompts(tokenizer, _greedy_prompts(cfg))
    stop = stop_ids(model, tokenizer)

    @torch.inference_mode()
    def run():
        started, done = time.perf_counter(), []
        for start in range(0, len(rendered), cfg.batch_size):
            batch = tokenizer(rendered[start:start + cfg.batch_size], add_special_tokens=False, padding=True,
                              return_tensors="pt").to(model.device)
            out = model.generate(**batch, do_sample=False, max_new_tokens=cfg.max_new_tokens, eos_token_id=stop,
                                 pad_token_id=tokenizer.pad_token_id, temperature=None, top_p=None, top_k=None)
            done += [completion(tokenizer, row, stop) for row in out[:, batch["input_ids"].shape[1]:].tolist()]
        return time.perf_counter() - started, {"tokens": sum(c.tokens for c in done), "texts": [c.text for c in done]}

    return _measure(run, cfg.repeats)


def _continuous(cfg: PerfConfig) -> dict:
    """transformers' continuous batching (``generate_batch``), which drops each answer as it ends."""
    from transformers import GenerationConfig

    from cogumi.engine import completion, render_prompts, stop_ids

    model, tokenizer = _load(cfg)
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in render_prompts(tokenizer, _greedy_prompts(cfg))]
    stop = stop_ids(model, tokenizer)
    config = GenerationConfig(max_new_tokens=cfg.max_new_tokens, do_sample=False, eos_token_id=stop,
                              pad_token_id=tokenizer.pad_token_id)

    def run():
        started = time.perf_counter()
        out = model.generate_batch(inputs=ids, generation_config=config, warmup=False)
        seconds = time.perf_counter() - started
        done = [completion(tokenizer, list(out[key].generated_tokens), stop) for key in sorted(out, key=_request_number)]
        return seconds, {"tokens": sum(c.tokens for c in done), "texts": [c.text for c in done]}

    return _measure(run, cfg.repeats)


def _request_number(request_id: str) -> int:
    return int("".join(ch for ch in request_id if ch.isdigit()) or 0)


def _vllm(cfg: PerfConfig) -> dict:
    """The vLLM engine on the merged model; its peak memory is its worker process's peak resident set
    (the whole process: vLLM, the weights and its preallocated KV cache), its start-up timed apart."""
    import tempfile

    from cogumi.categories.base import Decoding
    from cogumi.models import save_merged
    from cogumi.vllm_engine import VllmEngine

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "model"
        if cfg.adapter is None:
            folder = Path(cfg.base)
        else:
            save_merged(cfg.base, [cfg.adapter], folder, cfg.dtype)
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        started = time.perf_counter()
        engine = VllmEngine(folder, cfg.vllm, dtype=cfg.dtype, seed=cfg.seed, log=Path(scratch) / "vllm.log")
        start_seconds = time.perf_counter() - started
        prompts = _greedy_prompts(cfg)
        try:
            def run():
                began = time.perf_counter()
                out = engine.generate(tokenizer, prompts, Decoding(0.0, 1, cfg.max_new_tokens))
                return time.perf_counter() - began, {"tokens": sum(c[0].tokens for c in out),
                                                     "texts": [c[0].text for c in out]}

            result = _measure(run, cfg.repeats)
            result.update(peak_mb=_peak_rss_mb(engine.process.pid), start_seconds=start_seconds)
        finally:
            engine.close()
    return result


def _peak_rss_mb(pid: int) -> float:
    """A process's peak resident set so far (Linux's VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _sampling(cfg: PerfConfig, share_prefix: bool) -> dict:
    from cogumi.engine import Decoding, generate

    model, tokenizer = _load(cfg)
    prompts = _long_prompts(cfg, tokenizer)
    prompt_tokens = sum(len(tokenizer(p)["input_ids"]) for p in prompts) / len(prompts)

    def run():
        started = time.perf_counter()
        out = generate(model, tokenizer, prompts, Decoding(0.7, cfg.samples, cfg.sample_new_tokens),
                       batch_size=len(prompts), seed=cfg.seed, share_prefix=share_prefix)
        return time.perf_counter() - started, {"tokens": sum(c.tokens for g in out for c in g),
                                               "texts": [c.text for g in out for c in g],
                                               "prompt_tokens": prompt_tokens}

    return _measure(run, cfg.repeats)


def _sft(cfg: PerfConfig, batching: str) -> dict:
    """One epoch of the train stage over the same examples: "random" padded batches (TRL's default),
    "grouped" padded batches of similar length, or "padding_free" flattened batches. Each repetition
    trains a fresh LoRA on a freshly loaded model."""
    import random
    import tempfile

    from cogumi.config import TrainConfig
    from cogumi.train import make_trainer
    from cogumi.world import CATEGORIES, make_split, respond

    rng = random.Random(cfg.seed)
    problems = [p for c in CATEGORIES for p in make_split(c, "distill", cfg.sft_examples // len(CATEGORIES) + 1,
                                                         cfg.seed, at_most=True)]
    rows = [{"prompt": [{"role": "user", "content": p.prompt}],
             "completion": [{"role": "assistant", "content": respond(p, rng)}], "tau": 0.05, "category": p.category}
            for p in problems[:cfg.sft_examples]]
    train = TrainConfig(batch_size=cfg.sft_batch_size, epochs=1, padding_free=batching == "padding_free",
                        group_by_length=batching == "grouped",
                        gradient_checkpointing=False, logging_steps=10_000, save_steps=10_000, warmup_ratio=0.0)

    def run():
        model, tokenizer = _load(cfg)
        with tempfile.TemporaryDirectory() as out:
            trainer = make_trainer(model, tokenizer, rows, train, Path(out), cfg.seed, serve_temperature=0.7)
            trainer.args.disable_tqdm = True
            tokens = sum(len(x["input_ids"]) for x in trainer.train_dataset)
            with PeakMemory() as memory:
                started = time.perf_counter()
                result = trainer.train()
                seconds = time.perf_counter() - started
            return seconds, {"tokens": tokens, "loss": result.training_loss, "peak_mb": memory.mb}

    return _measure(run, cfg.repeats)


JOBS = {"engine": _engine, "naive": _naive, "peer": _peer, "continuous": _continuous, "vllm": _vllm,
        "sampling": _sampling, "sft": _sft}


def _isolated(job: str, cfg: PerfConfig, arg=None) -> dict:
    """Run one measurement in a fresh interpreter, so its peak memory is its own."""
    payload = json.dumps({"job": job, "cfg": asdict(cfg), "arg": arg})
    done = subprocess.run([sys.executable, "-m", "cogumi.perf", payload], capture_output=True, text=True)
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
    from cogumi.files import write_json

    rows = []
    console.print("greedy: the engines vs batched model.generate and one prompt at a time ...")
    peer, naive = _isolated("peer", cfg), _isolated("naive", cfg)
    same = lambda a, b: f"{sum(x == y for x, y in zip(a['texts'], b['texts']))}/{len(b['texts'])} outputs identical"  # noqa: E731
    if "hf" in cfg.engines:
        engine, continuous = _isolated("engine", cfg), _isolated("continuous", cfg)
        rows.append(_row("HF engine, greedy", PEER, engine, peer, same(engine, peer)))
        rows.append(_row("HF engine, greedy", "model.generate per prompt", engine, naive, same(engine, naive)))
        rows.append(_row("HF engine, greedy", "transformers continuous batching (generate_batch)", engine, continuous,
                         same(engine, continuous)))
    if "vllm" in cfg.engines:
        vllm = _isolated("vllm", cfg)
        note = f"engine start {vllm['start_seconds']:.0f} s, not timed; peak MB: the whole vLLM process"
        rows.append(_row("vLLM engine, greedy", PEER, vllm, peer, f"{same(vllm, peer)}; {note}"))
        rows.append(_row("vLLM engine, greedy", "model.generate per prompt", vllm, naive, f"{same(vllm, naive)}; {note}"))
    console.print("sampling: shared prefix vs expanded prompts ...")
    shared, expanded = _isolated("sampling", cfg, True), _isolated("sampling", cfg, False)
    same = sum(a == b for a, b in zip(shared["texts"], expanded["texts"]))
    rows.append(_row(f"{cfg.samples} samples per prompt", "prompt prefilled per sample", shared, expanded,
                     f"prompts of {shared['prompt_tokens']:.0f} tokens; {same}/{len(shared['texts'])} samples identical"))
    console.print("SFT: length-grouped and padding-free vs random padded batches ...")
    padded = _isolated("sft", cfg, "random")
    for name, batching in (("SFT, length-grouped batches", "grouped"), ("SFT, padding-free", "padding_free")):
        fast = _isolated("sft", cfg, batching)
        rows.append(_row(name, "TRL's random padded batches", fast, padded,
                         f"mean loss {fast['loss']:.4f} vs {padded['loss']:.4f}"))
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


if __name__ == "__main__":  # one isolated measurement: python -m cogumi.perf '{"job": ..., "cfg": ..., "arg": ...}'
    request = json.loads(sys.argv[1])
    job, settings = JOBS[request["job"]], PerfConfig(**request["cfg"])
    result = job(settings) if request["arg"] is None else job(settings, request["arg"])
    print(json.dumps(result))
