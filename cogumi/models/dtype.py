"""``model.dtype: fast``: the dtype this machine computes fastest, read without loading torch on
a machine without a GPU."""

from __future__ import annotations

import shutil
from pathlib import Path

# x86 CPU features under which PyTorch's bf16 matmuls run natively (oneDNN); without them bf16 is
# emulated, and on the CPU far slower than float32 (0.001 against 0.12 TFLOPS on 2 AVX2 cores)
FAST_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def fast_dtype(cpuinfo: str | None = None) -> tuple[str, str]:
    """``model.dtype: fast`` on this machine, and why: bfloat16 on a CUDA GPU that has it and on a
    CPU with AMX or AVX512-BF16 (``cpuinfo``: the text of /proc/cpuinfo, read when not given),
    float32 elsewhere."""
    if cpuinfo is None and (Path("/proc/driver/nvidia").exists() or shutil.which("nvidia-smi")):
        import torch

        if torch.cuda.is_available():
            if torch.cuda.is_bf16_supported():
                return "bfloat16", "this GPU computes in bf16"
            return "float32", "this GPU has no bf16"
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    flags = set(next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), []))
    found = [f for f in FAST_BF16_CPU_FLAGS if f in flags]
    if found:
        return "bfloat16", f"this CPU has {found[0]}"
    return "float32", "this CPU has neither AMX nor AVX512-BF16, so bf16 would run emulated, far slower"


def resolve_dtype(dtype: str | None) -> str | None:
    """``dtype`` as a config names it, with ``fast`` replaced by the dtype it means on this machine."""
    return fast_dtype()[0] if dtype == "fast" else dtype
