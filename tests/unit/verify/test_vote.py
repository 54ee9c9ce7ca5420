from cogumi.categories import defaults
from cogumi.verify.vote import majority


def test_agreement_exactly_at_the_threshold_is_accepted():
    vote = majority(["7"] * 6 + ["8"] * 4, threshold=0.6)
    assert vote.answer == "7" and vote.agreement_rate == 0.6 and vote.accepted
    assert majority(["7"] * 3 + ["8"] * 2, threshold=0.6).accepted  # 3/5
    assert majority(["7"] * 7 + ["8"] * 3, threshold=0.7).accepted  # 0.7 is not exactly representable


def test_just_below_the_threshold_is_rejected():
    vote = majority(["7"] * 5 + ["8"] * 5, threshold=0.6)
    assert not vote.accepted and vote.agreement_rate == 0.5


def test_missing_answers_count_in_the_denominator():
    vote = majority(["7", "7", "7", None, None], threshold=0.6)
    assert vote.agreement_rate == 0.6 and vote.accepted
    vote = majority(["7", "7", None, None, None], threshold=0.6)
    assert vote.agreement_rate == 0.4 and not vote.accepted
    assert majority([None, None]).answer is None and not majority([None, None]).accepted


def test_answers_are_grouped_by_equivalence_not_raw_strings():
    vote = majority(["1/2", "0.5", "\\frac{1}{2}", "3", "4"], threshold=0.6, equivalent=defaults()["math"].same_answer)
    assert vote.agreement_rate == 0.6 and vote.accepted and vote.members == (0, 1, 2)
    raw = majority(["1/2", "0.5", "\\frac{1}{2}", "3", "4"], threshold=0.6)
    assert not raw.accepted
    names = majority(["Monday", "monday.", "the Monday", "Friday"], equivalent=defaults()["reasoning"].same_answer)
    assert names.agreement_rate == 0.75


def test_ties_keep_the_first_answer_seen():
    assert majority(["a", "b", "b", "a"]).answer == "a"
