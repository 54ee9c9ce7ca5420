"""Code: the answer's code block must pass the problem's tests in the sandbox; greedy distill."""

from __future__ import annotations

import ast
import os
import sys
from collections import Counter
from dataclasses import replace

from cogumi.categories.base import Category, check_option
from cogumi.categories.rules import keep_first_correct
from cogumi.types import Decoding, Keep, Verdict
from cogumi.verify.code import describe_sandbox, extract_code, judging_interpreter, run_many, sandbox


def code_prefix(prompt: str) -> str:
    """``prompt`` where it is Python with at least one statement beyond a bare expression (a word
    or two parse as an expression too), else nothing."""
    try:
        tree = ast.parse(prompt)
    except (SyntaxError, ValueError):
        return ""
    return prompt if any(not isinstance(node, ast.Expr) for node in tree.body) else ""


class Code(Category):
    name = "code"
    default_decoding = Decoding(0.0, 1, 128)
    default_training_temperature = 0.0
    fields = ("prompt", "tests", "entry_point")
    leads = True
    position = 1
    seed = 1

    def __init__(self, timeout_s: float = 5.0, python: str | None = None):
        """``timeout_s``: wall-clock limit of one sandboxed test run. ``python``: the interpreter that
        runs and judges programs (default: this project's, where the sandbox can run it, else the
        system's; ``cogumi plan`` says which)."""
        super().__init__()
        check_option("code", "timeout_s", timeout_s, (int, float))
        if timeout_s <= 0:
            raise ValueError(f"categories.code.init_args.timeout_s must be > 0, got {timeout_s}")
        if python is not None and not (isinstance(python, str) and os.access(python, os.X_OK)):
            raise ValueError(f"categories.code.init_args.python must be an interpreter that exists and runs, got {python!r}")
        self.timeout_s, self.python = timeout_s, python

    def options(self) -> dict:
        return {"timeout_s": self.timeout_s, **({"python": self.python} if self.python else {})}

    def prepare(self, problem):
        """A prompt that is Python (HumanEval's imports, signature and docstring) goes before the answer,
        which may leave them out; a prompt in words ("Write a function f(x) that ...") does not."""
        return replace(problem, spec={**problem.spec, "code_prefix": code_prefix(problem.spec.get("source_prompt", ""))})

    def judge(self, problems, texts, finished) -> list:
        """Extract each program and run every problem's tests in parallel in the sandbox."""
        verdicts: list = [None] * len(problems)
        jobs = []
        for i, (problem, text) in enumerate(zip(problems, texts)):
            program = extract_code(text)
            if program is None:
                verdicts[i] = Verdict(None, False, "no_answer")
                continue
            if problem.spec.get("code_prefix"):
                program = problem.spec["code_prefix"] + "\n" + program
            jobs.append((i, program))
        results = run_many([(program, problems[i].tests, problems[i].entry_point) for i, program in jobs],
                           self.timeout_s, python=self.python)
        for (i, program), result in zip(jobs, results):
            # A crash or a hang is the program's fault, so it is judged wrong; a sandbox that cannot
            # start raises instead of reading as a verdict.
            status = {"passed": "correct", "timeout": "timeout"}.get(result.status, "incorrect")
            verdicts[i] = Verdict(program, result.passed, status)
        return verdicts

    def plan_rows(self) -> tuple[list[tuple[str, str]], list[str]]:
        warnings = [] if sandbox(self.python).confines_writes else [
            "generated code can write wherever this user can (no Landlock in this kernel, not run as root); "
            "run on Linux 5.13+ to confine it"]
        interpreter, own = judging_interpreter(self.python)
        if not own and not self.python:
            who = " (it runs as nobody, who cannot run this project's interpreter)" if os.geteuid() == 0 else ""
            warnings.append(f"code is judged by {interpreter}, not this project's interpreter {sys.executable}{who}: "
                            "a right answer that imports a package only the project's environment has is judged "
                            "wrong; set categories.code.init_args.python to an interpreter with those packages")
        judged = f"{interpreter} ({'this project' if own else 'named in the config' if self.python else 'the system'}'s)"
        return [("code sandbox", describe_sandbox(self.python)), ("code judged by", judged)], warnings

    def vote_key(self, verdict) -> str | None:
        """Programs vote by behaviour, their verdict on the tests, not by their text (``x + 9`` and
        ``x - 9`` differ by one character and behave differently)."""
        return None if verdict.reason == "no_answer" else verdict.reason

    def same_answer(self, a: str, b: str) -> bool:
        return a == b

    def keep(self, problem, samples: list[dict], verdicts: list, rejected: Counter) -> list[Keep]:
        return keep_first_correct(verdicts, rejected, record_answer=False)
