"""What the report says in words: categories a model never trained on, greedy regressions, and how
the answers ended."""

from cogumi.categories import defaults
from cogumi.report.build import build_report
from cogumi.report.frontier import frontier_records
from cogumi.report.tables import markdown


def _rows(n, greedy, **extra):
    return [{"category": "math", "problem_id": f"p{i}", "greedy_accuracy": greedy(i), "sampled_accuracy": 0.5,
             "majority_accuracy": 0.5, "agreement_rate": 0.5, "pass_at_k": 1.0, "pass_curve": [0.5, 1.0],
             "majority_curve": [0.5, 0.5], **extra} for i in range(n)]


def _report(before, after, trained, **options):
    categories = {"math": defaults()["math"]}
    return build_report(categories, {"before": before, "after": after},
                        frontier_records(categories, before, {}, 0.7, 2), effective={}, serve_temperature=0.7,
                        samples_per_problem=2, resamples=200, seed=0, config="c.yaml", timings={}, trained=trained,
                        **options)


def test_a_greedy_regression_and_a_category_never_trained_on_are_said_in_words():
    before = _rows(40, lambda i: 1.0)
    after = _rows(40, lambda i: float(i % 4 == 0))
    report = _report(before, after, {"after": {"math": 0}})
    said = " ".join(report["warnings"])
    assert "no training example of math" in said
    assert "math: the distilled model is worse than Phase 1A greedily: greedy_accuracy fell from 1.000 to 0.250" in said
    text = markdown(report)
    assert "> math: the distilled model is worse" in text and "## Training examples per category" in text


def test_a_model_no_worse_greedily_draws_no_warning():
    before = _rows(40, lambda i: float(i % 2))
    report = _report(before, before, {"after": {"math": 12}})
    assert report["warnings"] == []


def test_how_the_answers_ended_is_counted_per_model_and_category():
    extra = {"greedy_reason": "no_answer", "greedy_finished": False, "sampled_reasons": ["correct", "no_answer"],
             "sampled_finished": [True, False]}
    before = _rows(3, lambda i: 0.0, **extra)
    after = _rows(3, lambda i: 0.0, greedy_reason="correct", sampled_reasons=["correct"] * 2)  # written before
    # answers were kept: their endings are unknown
    report = _report(before, after, {})
    assert report["outputs"]["before"]["math"] == {"greedy": 3, "greedy_no_answer": 3, "greedy_ended": 0,
                                                   "samples": 6, "samples_no_answer": 3, "samples_ended": 3}
    assert report["outputs"]["after"]["math"]["greedy_ended"] is None
    assert report["outputs"]["after"]["math"]["samples_ended"] is None
    assert "| Phase 1A | math | 3 of 3 | 0 of 3 | 3 of 6 | 3 of 6 |" in markdown(report)


def test_a_model_without_an_adapter_is_called_your_model_not_phase_1a():
    before = _rows(40, lambda i: 1.0, greedy_reason="correct", greedy_finished=True,
                   sampled_reasons=["correct"] * 2, sampled_finished=[True, True])
    after = _rows(40, lambda i: float(i % 4 == 0))
    report = _report(before, after, {"after": {"math": 3}}, policy="your model")
    text = markdown(report)
    assert "Phase 1A" not in text and "Phase 1A" not in " ".join(report["warnings"])
    assert "worse than your model greedily" in " ".join(report["warnings"])
    assert "| category | metric | your model |" in text and "| your model | math |" in text
    assert "your model" in report["verdicts"]["after"]["math"]["sentence"]
    assert "Phase 1A" in markdown(_report(before, after, {"after": {"math": 3}}))  # with an adapter
