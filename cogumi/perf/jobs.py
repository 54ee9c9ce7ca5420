"""The measurements of ``cogumi perf``, each run alone in a fresh interpreter by
``python -m cogumi.perf.jobs '{"job": ..., "cfg": ..., "arg": ...}'`` so that its peak memory is its own."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from cogumi.config import TrainConfig
from cogumi.engines.base import completion, render_prompts, stop_ids
from cogumi.engines.hf import generate
from cogumi.engines.vllm import VllmEngine
from cogumi.models.load import save_merged
from cogumi.perf.harness import PeakMemory, PerfConfig, greedy_prompts, load, long_prompts, measure
from cogumi.training.trainer import make_trainer
from cogumi.types import Decoding
from cogumi.world import CATEGORIES, make_split, respond


def _engine(cfg: PerfConfig) -> dict:

    model, tokenizer = load(cfg)
    prompts = greedy_prompts(cfg)

    def run():
        started = time.perf_counter()
        out = generate(model, tokenizer, prompts, Decoding(0.0, 1, cfg.max_new_tokens), batch_size=cfg.batch_size)
        return time.perf_counter() - started, {"tokens": sum(c[0].tokens for c in out),
                                               "texts": [c[0].text for c in out]}

    return measure(run, cfg.repeats)


def _naive(cfg: PerfConfig) -> dict:
    """The obvious loop: one prompt at a time through ``model.generate``."""
    import torch


    model, tokenizer = load(cfg)
    prompts = greedy_prompts(cfg)
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
            texts.append(completion(tokenizer, new, stop).text)
        return time.perf_counter() - started, {"tokens": tokens, "texts": texts}

    return measure(run, cfg.repeats)


def _peer(cfg: PerfConfig) -> dict:
    """What a user of transformers writes: the prompts in their order, ``batch_size`` at a time,
    left-padded through ``model.generate``, each batch decoding until its longest answer ends."""
    import torch


    model, tokenizer = load(cfg)
    rendered = render_prompts(tokenizer, greedy_prompts(cfg))
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

    return measure(run, cfg.repeats)


def _continuous(cfg: PerfConfig) -> dict:
    """transformers' continuous batching (``generate_batch``), which drops each answer as it ends."""
    from transformers import GenerationConfig


    model, tokenizer = load(cfg)
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in render_prompts(tokenizer, greedy_prompts(cfg))]
    stop = stop_ids(model, tokenizer)
    config = GenerationConfig(max_new_tokens=cfg.max_new_tokens, do_sample=False, eos_token_id=stop,
                              pad_token_id=tokenizer.pad_token_id)

    def run():
        started = time.perf_counter()
        out = model.generate_batch(inputs=ids, generation_config=config, warmup=False)
        seconds = time.perf_counter() - started
        done = [completion(tokenizer, list(out[key].generated_tokens), stop) for key in sorted(out, key=_request_number)]
        return seconds, {"tokens": sum(c.tokens for c in done), "texts": [c.text for c in done]}

    return measure(run, cfg.repeats)


def _request_number(request_id: str) -> int:
    return int("".join(ch for ch in request_id if ch.isdigit()) or 0)


def _vllm(cfg: PerfConfig) -> dict:
    """The vLLM engine on the merged model; its peak memory is its worker process's peak resident set
    (the whole process: vLLM, the weights and its preallocated KV cache), its start-up timed apart."""
    import tempfile


    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "model"
        if cfg.adapter is None:
            folder = Path(cfg.base)
        else:
            save_merged(cfg.base, [cfg.adapter], folder, cfg.dtype)
        started = time.perf_counter()
        engine = VllmEngine(folder, cfg.vllm, dtype=cfg.dtype, seed=cfg.seed, log=Path(scratch) / "vllm.log")
        start_seconds = time.perf_counter() - started
        prompts = greedy_prompts(cfg)
        try:
            def run():
                began = time.perf_counter()
                out = engine.generate(prompts, Decoding(0.0, 1, cfg.max_new_tokens))
                return time.perf_counter() - began, {"tokens": sum(c[0].tokens for c in out),
                                                     "texts": [c[0].text for c in out]}

            result = measure(run, cfg.repeats)
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

    model, tokenizer = load(cfg)
    prompts = long_prompts(cfg, tokenizer)
    prompt_tokens = sum(len(tokenizer(p)["input_ids"]) for p in prompts) / len(prompts)

    def run():
        started = time.perf_counter()
        out = generate(model, tokenizer, prompts, Decoding(0.7, cfg.samples, cfg.sample_new_tokens),
                       batch_size=len(prompts), seed=cfg.seed, share_prefix=share_prefix)
        return time.perf_counter() - started, {"tokens": sum(c.tokens for g in out for c in g),
                                               "texts": [c.text for g in out for c in g],
                                               "prompt_tokens": prompt_tokens}

    return measure(run, cfg.repeats)


def _sft(cfg: PerfConfig, batching: str) -> dict:
    """One epoch of the train stage over the same examples: "random" padded batches (TRL's default),
    "grouped" padded batches of similar length, or "padding_free" flattened batches. Each repetition
    trains a fresh LoRA on a freshly loaded model."""
    import random
    import tempfile


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
        model, tokenizer = load(cfg)
        with tempfile.TemporaryDirectory() as out:
            trainer = make_trainer(model, tokenizer, rows, train, Path(out), cfg.seed, serve_temperature=0.7)
            trainer.args.disable_tqdm = True
            tokens = sum(len(x["input_ids"]) for x in trainer.train_dataset)
            with PeakMemory() as memory:
                started = time.perf_counter()
                result = trainer.train()
                seconds = time.perf_counter() - started
            return seconds, {"tokens": tokens, "loss": result.training_loss, "peak_mb": memory.mb}

    return measure(run, cfg.repeats)


JOBS = {"engine": _engine, "naive": _naive, "peer": _peer, "continuous": _continuous, "vllm": _vllm,
        "sampling": _sampling, "sft": _sft}


if __name__ == "__main__":
    request = json.loads(sys.argv[1])
    job, settings = JOBS[request["job"]], PerfConfig(**request["cfg"])
    result = job(settings) if request["arg"] is None else job(settings, request["arg"])
    print(json.dumps(result))
