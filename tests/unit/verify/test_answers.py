import pytest

from cogumi.verify.answers import extract_short_answer, matches, numeric_value, same_answer
from cogumi.verify.vote import majority


@pytest.mark.parametrize("text, expected", [
    ("Monday + 2 = Wednesday. The answer is Wednesday.", "Wednesday"),
    ("first the answer is 3, then the answer is: 4.", "4"),
    ("The answer is 7.5.", "7.5"),
    ("The answer is $1,000.", "$1,000"),
    ("Thinking... The capital of Hukavo is Tarmi.", "Tarmi"),
    ("Tarmi", "Tarmi"),
    ("", None),
    ("   ", None),
])
def test_extract_short_answer_on_awkward_text(text, expected):
    assert extract_short_answer(text) == expected


@pytest.mark.parametrize("answer, references, expected", [
    ("the Tarmi", ["Tarmi"], True),           # articles and case
    ("Tarmi City", ["Tarmi", "Tarmi City"], True),  # an alias
    ("Tarmo", ["Tarmi"], False),
    ("$72", ["72"], True),                    # GSM8K: by value
    ("72 dollars", ["72"], True),
    ("1,000", ["1000"], True),
    ("72.0", ["72"], True),
    ("7.2", ["72"], False),                   # not the same number once the point is gone
    ("73", ["72"], False),
    ("5 pm", ["5 pm"], True),                 # a reference with words is matched as text
    ("5 am", ["5 pm"], False),
    ("", ["72"], False),
    ("Dublin, which is the largest city in the Irish Republic", ["Dublin"], True),  # a comment after it
    ("Tokyo (formerly Edo)", ["Tokyo"], True),
    ("Siraconde, a city located in the south of the island of Malta", ["Valletta"], False),
    ("Washington, D.C.", ["Washington, D.C."], True),  # a reference with a comma is matched whole
    ("Ben has 6 + 7 = 13 apples", ["13"], True),  # a worked answer by its result
    ("Ben has 6 + 7 = 14 apples", ["13"], False),
])
def test_matches_by_value_or_normalised_text(answer, references, expected):
    assert matches(answer, references) is expected


def test_numeric_value_reads_only_plain_numbers():
    assert numeric_value("$1,000.") == 1000 and numeric_value("-3") == -3 and numeric_value("12%") == 12
    assert numeric_value("5 pm") is None and numeric_value("Wednesday") is None


def test_votes_group_numbers_by_value_and_words_by_text():
    vote = majority(["72", "72.0", "$72", "7.2", None], threshold=0.6, equivalent=same_answer)
    assert vote.answer == "72" and vote.agreement_rate == 0.6 and vote.accepted
    assert majority(["Monday", "monday.", "Tuesday"], threshold=0.6, equivalent=same_answer).agreement_rate == 2 / 3


def test_a_fraction_is_judged_by_its_value_and_the_vote_and_verdict_agree():
    from cogumi.categories import defaults
    from cogumi.types import Problem

    reasoning = defaults()["reasoning"]
    problem = Problem(id="f", category="reasoning", prompt="What part is left?", key="f", answer="3/4")
    assert reasoning.judge_one(problem, "The answer is 3/4.", True).correct
    assert reasoning.judge_one(problem, "The answer is 0.75.", True).correct
    assert not reasoning.judge_one(problem, "The answer is 3.", True).correct
    half = Problem(id="h", category="reasoning", prompt="Half?", key="h", answer="0.5")
    verdicts = [reasoning.judge_one(half, f"The answer is {said}.", True) for said in ("1/2", "0.5")]
    assert reasoning.same_answer(verdicts[0].answer, verdicts[1].answer)
    assert [v.correct for v in verdicts] == [True, True]  # one answer, one verdict
