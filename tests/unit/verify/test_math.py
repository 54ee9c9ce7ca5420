import functools
import threading
from concurrent.futures import ProcessPoolExecutor

import pytest

from cogumi.categories import defaults, judge
from cogumi.types import Problem
from cogumi.verify import math as vm


@pytest.mark.parametrize("text, expected", [
    ("so the answer is \\boxed{70000}.", "70000"),
    ("first \\boxed{3}, then corrected: \\boxed{4}", "4"),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("\\boxed{\\left\\{ 1, 2 \\right\\}}", "\\left\\{ 1, 2 \\right\\}"),
    ("\\boxed {42}", "42"),
    ("\\fbox{7}", "7"),
    ("The answer is 12.", "12"),
    ("The answer is 7.5.", "7.5"),  # a decimal point is not the sentence's end
    ("first the answer is 3, then the answer is 4.", "4"),
    ("So the answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
    ("we get 3 apples, then 5 apples", "5"),
    ("unclosed \\boxed{12 and then 9", "9"),
    ("\\boxed{} but later the answer is 8.", "8"),
    ("no answer here", None),
    ("", None),
])
def test_extract_answer_on_awkward_text(text, expected):
    assert vm.extract_answer(text) == expected


@pytest.mark.parametrize("pred, ref", [
    ("1/2", "\\frac{1}{2}"), ("0.5", "\\frac12"), ("70,000", "70000"), ("\\dfrac{3}{4}", "0.75"),
    ("2\\sqrt{2}", "\\sqrt{8}"), ("x = 3", "3"), (" 9 ", "9"), ("\\frac{\\pi}{2}", "\\pi/2"),
])
def test_differently_written_answers_are_equivalent(pred, ref):
    assert vm.is_equivalent(pred, ref)


@pytest.mark.parametrize("pred, ref", [("3", "4"), ("1/3", "0.3"), ("-2", "2"), ("\\sqrt{2}", "2")])
def test_different_answers_are_not_equivalent(pred, ref):
    assert not vm.is_equivalent(pred, ref)


_original_is_equivalent = vm.is_equivalent


def _slow(pred, ref):
    threading.Event().wait(10)
    return True


def test_timeout_holds_off_the_main_thread(monkeypatch):
    monkeypatch.setattr(vm, "_math_verify", _slow)
    box = {}

    def worker():
        try:
            vm.is_equivalent("1", "2", timeout_s=0.2)
        except vm.VerifierTimeout as exc:
            box["error"] = exc

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(5)
    assert isinstance(box.get("error"), vm.VerifierTimeout)


def _equivalent_in_worker(args):
    return vm.is_equivalent(*args)


def test_works_in_worker_processes():
    with ProcessPoolExecutor(2) as pool:
        assert list(pool.map(_equivalent_in_worker, [("1/2", "0.5"), ("3", "4")])) == [True, False]


def test_verifier_errors_and_timeouts_are_their_own_reasons(monkeypatch):
    problem = Problem(id="m", category="math", prompt="?", key="k", answer="2")

    def broken(pred, ref):
        raise RuntimeError("sympy blew up")

    monkeypatch.setattr(vm, "_math_verify", broken)
    [verdict] = judge(defaults(), [problem], ["\\boxed{x+}"], [True])
    assert verdict.reason == "verifier_error" and verdict.correct is None
    monkeypatch.setattr(vm, "_math_verify", _slow)
    monkeypatch.setattr(vm, "is_equivalent", functools.partial(_original_is_equivalent, timeout_s=0.1))
    [verdict] = judge(defaults(), [problem], ["\\boxed{3}"], [True])
    assert verdict.reason == "timeout" and verdict.correct is None
    [verdict] = judge(defaults(), [Problem(id="m", category="math", prompt="?", key="k")], ["\\boxed{3}"], [True])
    assert verdict.reason == "no_reference" and verdict.correct is None
