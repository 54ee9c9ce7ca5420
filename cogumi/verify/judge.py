"""One entry point that judges responses of any category against their problems."""

from __future__ import annotations

from collections.abc import Callable

from cogumi.verify import Verdict
from cogumi.verify import answers as short
from cogumi.verify import code, creativity, instruction
from cogumi.verify import math as math_verify
from cogumi.world import Problem


def _judge_against_reference(problem: Problem, answer: str | None, same: Callable[[str], bool]) -> Verdict:
    """Compare an extracted answer with the problem's reference; an undecided check is never a verdict."""
    if problem.answer is None:
        return Verdict(answer, None, "no_reference")
    if answer is None:
        return Verdict(None, False, "no_answer")
    try:
        ok = same(answer)
    except math_verify.VerifierTimeout:
        return Verdict(answer, None, "timeout")
    except Exception:
        return Verdict(answer, None, "verifier_error")
    return Verdict(answer, ok, "correct" if ok else "incorrect")


def _judge_math(problem: Problem, text: str) -> Verdict:
    return _judge_against_reference(problem, math_verify.extract_answer(text),
                                    lambda answer: math_verify.is_equivalent(answer, problem.answer))


def _judge_short(problem: Problem, text: str) -> Verdict:
    return _judge_against_reference(problem, short.extract_short_answer(text),
                                    lambda answer: short.matches(answer, (problem.answer, *problem.aliases)))


def _judge_instruction(problem: Problem, text: str) -> Verdict:
    if not text.strip():
        return Verdict(None, False, "no_answer")
    failed = instruction.failed_constraints(text, problem.constraints)
    return Verdict(text, not failed, "correct" if not failed else "incorrect")


def equivalence(category: str) -> Callable[[str, str], bool]:
    """How two extracted answers of ``category`` are compared when voting."""
    if category == "math":
        def same(a: str, b: str) -> bool:
            try:
                return math_verify.is_equivalent(a, b)
            except Exception:
                return False
        return same
    return short.same_answer


def judge(problems: list[Problem], texts: list[str], finished: list[bool], timeout_s: float = 5.0) -> list[Verdict]:
    """A verdict for each (problem, response) pair; code runs in parallel in the sandbox."""
    verdicts: list[Verdict | None] = [None] * len(problems)
    code_jobs: list[tuple[int, str]] = []
    for i, (problem, text) in enumerate(zip(problems, texts)):
        if problem.category == "code":
            program = code.extract_code(text)
            if program is not None and problem.spec.get("code_prefix"):
                # a dataset's prompt holds the imports and the signature the answer may leave out
                program = problem.spec["code_prefix"] + "\n" + program
            if program is None:
                verdicts[i] = Verdict(None, False, "no_answer")
            else:
                code_jobs.append((i, program))
        elif problem.category == "creativity":
            ok = creativity.is_well_formed(text, finished[i])
            verdicts[i] = Verdict(text, None, "correct" if ok else "ill_formed")
        elif problem.category == "math":
            verdicts[i] = _judge_math(problem, text)
        elif problem.category == "instruction":
            verdicts[i] = _judge_instruction(problem, text)
        else:
            verdicts[i] = _judge_short(problem, text)
    results = code.run_many([(prog, problems[i].tests, problems[i].entry_point) for i, prog in code_jobs], timeout_s)
    for (i, program), result in zip(code_jobs, results):
        # A crash or a hang is the program's fault, so it is judged wrong; a sandbox that cannot
        # start raises instead of reading as a verdict.
        status = {"passed": "correct", "timeout": "timeout"}.get(result.status, "incorrect")
        verdicts[i] = Verdict(program, result.passed, status)
    return verdicts  # type: ignore[return-value]
