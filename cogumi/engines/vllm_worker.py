"""The vLLM engine's own process: ``python vllm_worker.py '<json spec>'``, run by ``cogumi.engines.vllm``.

It imports nothing of Cogumi's, so it runs in whichever environment has vLLM (vLLM pins its own
transformers and torch). One JSON request per line on stdin, one JSON reply per line on the
stdout it was started with; vLLM's own output goes to stderr. It exits when stdin closes, so a
parent that dies, even by SIGKILL, takes it along.

Request: ``{"prompts": [[token ids], ...], "temperature": t, "n": n, "max_tokens": [one per prompt],
"seeds": [one per prompt], "stop": [token ids]}``. Reply: ``{"outputs": [[[token ids], ...n], ...]}``
(a stopped answer ends with its stop token), or ``{"error": "..."}``.
"""

import json
import os
import signal
import sys

# Run as a script, this folder leads sys.path, and its vllm.py (the engine's other half) would hide
# the vLLM package.
sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != os.path.dirname(os.path.realpath(__file__))]


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when its parent dies (no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def serve(spec: dict, requests, reply) -> None:
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt
    from vllm.platforms import current_platform

    # vLLM samples a token for a prompt it has prefilled only in part, throws it away and rewinds that
    # request's seeded generator; a CPU generator has no offset to rewind ("CPU Generator does not use
    # offset"), so on the CPU every prompt is prefilled whole, and seeded sampling works at any batch.
    chunked = False if current_platform.is_cpu() else None

    llm = LLM(model=spec["model"], tokenizer=spec["model"], dtype=spec.get("dtype", "auto"), seed=spec.get("seed", 0),
              max_model_len=spec.get("max_model_len"), tensor_parallel_size=spec.get("tensor_parallel_size", 1),
              gpu_memory_utilization=spec.get("gpu_memory_utilization", 0.85),
              quantization=spec.get("quantization"), enforce_eager=spec.get("enforce_eager", False),
              enable_prefix_caching=True, skip_tokenizer_init=True, enable_chunked_prefill=chunked,
              # one engine on one device runs in this process: no further processes to spawn and import vLLM
              distributed_executor_backend="uni" if spec.get("tensor_parallel_size", 1) == 1 else None)
    reply({"ready": True, "max_model_len": llm.llm_engine.model_config.max_model_len})
    for line in requests:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("close"):
            break
        sampling = request["temperature"] > 0
        params = [SamplingParams(n=request["n"], temperature=request["temperature"] if sampling else 0.0,
                                 top_p=1.0, top_k=-1 if sampling else 0, max_tokens=most,
                                 seed=seed if sampling else None, stop_token_ids=request["stop"],
                                 ignore_eos=True, detokenize=False)
                  for seed, most in zip(request["seeds"], request["max_tokens"])]
        done = llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in request["prompts"]], params,
                            use_tqdm=False)
        reply({"outputs": [[list(c.token_ids) for c in out.outputs] for out in done]})


def main() -> None:
    spec = json.loads(sys.argv[1])
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # from here on print() and vLLM's logs reach stderr; the channel carries replies alone
    _die_with_parent()

    def reply(message: dict) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    try:
        serve(spec, sys.stdin, reply)
    except Exception as error:  # noqa: BLE001  the parent shows it; a traceback went to stderr
        import traceback

        traceback.print_exc()
        reply({"error": f"{type(error).__name__}: {error}"})
        sys.exit(1)


if __name__ == "__main__":  # vLLM starts its engine processes with spawn: they re-import this file
    main()
