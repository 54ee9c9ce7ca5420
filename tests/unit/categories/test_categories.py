"""Each category object: its scoring, its filter rule, the registry, and a category from outside the
package running end to end through `cogumi fit`."""

from collections import Counter

import pytest

from cogumi.categories import builtin, defaults, judge
from cogumi.config import CategorySpec, Experiment
from cogumi.types import Completion, Problem, Verdict
from cogumi.world import CATEGORIES, make_split, respond


def _samples(texts, finished=True):
    return [{"text": t, "finished": finished, "temperature": 0.7, "sample": i} for i, t in enumerate(texts)]


def test_the_registry_holds_the_six_built_in_categories_in_seed_order():
    assert tuple(builtin()) == CATEGORIES
    for name, category in defaults().items():
        assert category.name == name and category.metrics and category.headline in category.metrics


@pytest.mark.parametrize("name", CATEGORIES)
def test_each_category_judges_its_own_worked_answers(name):
    problems = make_split(name, "benchmark", 6, seed=0)
    rng = __import__("random").Random(0)
    verdicts = judge(defaults(), problems, [respond(p, rng) for p in problems], [True] * len(problems))
    assert all(v.reason == "correct" for v in verdicts), [(p.prompt, v) for p, v in zip(problems, verdicts)]


@pytest.mark.parametrize("name", CATEGORIES)
def test_a_response_cut_off_at_max_new_tokens_is_truncated_and_has_no_answer_in_every_category(name):
    problems = make_split(name, "benchmark", 4, seed=0)
    rng = __import__("random").Random(0)
    texts = [respond(p, rng) for p in problems]  # right answers, each cut off by the token limit
    verdicts = judge(defaults(), problems, texts, [False, True, False, True])
    assert [v.reason for v in verdicts] == ["truncated", "correct", "truncated", "correct"]
    assert verdicts[0].answer is None and verdicts[0].correct is False


def test_cut_off_samples_never_vote_and_are_counted_as_truncated():
    from cogumi.stages.filter import filter_samples

    problem = Problem(id="p", category="reasoning", prompt="?", key="k", answer="Friday")
    samples = [{"problem_id": "p", "sample": i, "text": "The answer is Friday.", "finished": i < 2, "temperature": 0.1}
               for i in range(5)]  # 2 of 5 ended by the model: below the majority threshold
    examples, audit = filter_samples({"reasoning": defaults()["reasoning"]}, [problem], samples)
    assert not examples["reasoning"] and audit["reasoning"]["rejected"] == {"low_agreement": 1}


def test_accuracy_scores_count_samples_majority_and_agreement():
    math = defaults()["math"]
    problem = Problem(id="m", category="math", prompt="?", key="k", answer="7")
    texts = ["\\boxed{7}", "\\boxed{7.0}", "\\boxed{8}", "no answer"]
    verdicts = [math.judge_one(problem, t, True) for t in texts]
    greedy = math.judge_one(problem, "\\boxed{8}", True)
    scores = math.score(problem, greedy, verdicts, [Completion(t, True, 3) for t in texts])
    assert scores == {"greedy_accuracy": 0.0, "sampled_accuracy": 0.5, "majority_accuracy": 1.0,
                      "agreement_rate": 0.5, "pass_at_k": 1.0,  # 7 and 7.0 are one vote by value
                      "pass_curve": [0.5, pytest.approx(5 / 6), 1.0, 1.0], "majority_curve": [1.0, 1.0, 1.0, 1.0]}


def test_writing_scores_measure_well_formedness_and_diversity():
    creativity = defaults()["creativity"]
    problem = Problem(id="c", category="creativity", prompt="Write.", key="k")
    texts = ["the sun is warm today", "the sun is warm today", "a cold wind blows over the hill"]
    verdicts = [creativity.judge_one(problem, t, f) for t, f in zip(texts, [True, True, False])]
    scores = creativity.score(problem, verdicts[0], verdicts, [Completion(t, True, 5) for t in texts])
    assert scores["greedy_well_formed"] == 1.0 and scores["sampled_well_formed"] == pytest.approx(2 / 3)
    assert scores["diversity"] == pytest.approx((0 + 1 + 1) / 3)  # identical pair 0, others share no bigram


def test_verified_rule_keeps_the_first_correct_and_counts_each_rejection():
    rejected = Counter()
    verdicts = [Verdict("3", False, "incorrect"), Verdict(None, False, "no_answer"), Verdict("7", True, "correct"),
                Verdict("7", True, "correct")]
    kept = defaults()["math"].keep(None, _samples(["a", "b", "c", "d"]), verdicts, rejected)
    assert [(k.index, k.answer, k.correct) for k in kept] == [(2, "7", True)]
    assert rejected == Counter({"incorrect": 1, "no_answer": 1})
    kept = defaults()["code"].keep(None, _samples(["x"]), [Verdict("def f(): pass", True, "correct")], Counter())
    assert kept[0].answer is None  # a program is not an answer to record


def test_majority_rule_keeps_distinct_majority_samples_only_at_the_threshold():
    reasoning = defaults()["reasoning"]  # threshold 0.6
    texts = ["It is Monday.", "The answer is monday", "It is Monday.", "Friday", "Tuesday"]
    verdicts = [Verdict(a, a.lower() == "monday", "x") for a in ("Monday", "monday", "Monday", "Friday", "Tuesday")]
    rejected = Counter()
    kept = reasoning.keep(None, _samples(texts), verdicts, rejected)
    assert [k.index for k in kept] == [0, 1]  # the repeated text is kept once
    assert all(k.agreement == 0.6 and k.correct for k in kept) and not rejected
    verdicts[2] = Verdict("Sunday", False, "x")
    assert reasoning.keep(None, _samples(texts), verdicts, rejected) == [] and rejected == {"low_agreement": 1}


def test_diverse_rule_keeps_well_formed_outputs_no_two_alike():
    from cogumi.categories.rules import select_diverse

    texts = ["a b c d", "a b c d", "e f g h", "a b x y", "i j k l"]
    assert select_diverse(texts, keep=3, max_similarity=0.5) == [0, 2, 4]
    assert select_diverse(texts, keep=10, max_similarity=0.0) == [0, 2, 4]  # an identical text never joins
    assert select_diverse(texts, keep=10, max_similarity=1.0)[:3] == [0, 2, 4]  # farthest first
    assert select_diverse([], keep=3, max_similarity=0.5) == []
    creativity = CategorySpec(init_args={"keep": 2, "max_similarity": 0.5}).build("creativity")
    verdicts = [Verdict(t, None, "correct") for t in texts[:4]] + [Verdict(texts[4], None, "ill_formed")]
    rejected = Counter()
    kept = creativity.keep(None, _samples(texts), verdicts, rejected)
    assert [k.index for k in kept] == [0, 2] and rejected == {"ill_formed": 1, "too_similar": 2}


def test_instruction_rule_keeps_the_first_sample_meeting_every_constraint():
    instruction = defaults()["instruction"]
    problem = Problem(id="i", category="instruction", prompt="?", key="k", constraints={"case": "upper"})
    texts = ["quiet words", "LOUD WORDS", "ALSO LOUD"]
    verdicts = [instruction.judge_one(problem, t, True) for t in texts]
    assert [k.index for k in instruction.keep(problem, _samples(texts), verdicts, Counter())] == [1]
    rejected = Counter()
    assert instruction.keep(problem, _samples(texts[:1]), verdicts[:1], rejected) == []
    assert rejected == {"constraint_failed": 1}


def test_instruction_consistency_is_the_agreement_of_what_is_checked_not_of_the_words():
    """Different texts that meet and break the same constraints agree fully; text agreement stays
    a metric of its own, and a response that cannot be checked agrees with none."""
    instruction = defaults()["instruction"]
    problem = Problem(id="i", category="instruction", prompt="?", key="k",
                      constraints={"case": "upper", "end_with": "!"})

    def scores(texts, finished=None):
        finished = finished or [True] * len(texts)
        verdicts = judge({"instruction": instruction}, [problem] * len(texts), texts, finished)
        return instruction.score(problem, None, verdicts, [Completion(t, f, 3) for t, f in zip(texts, finished)])

    same = scores(["LOUD!", "ALSO LOUD!", "QUITE LOUD!", "VERY LOUD!"])
    assert same["constraint_agreement"] == 1.0 and same["agreement_rate"] == 0.25
    mixed = scores(["LOUD!", "LOUD.", "quiet!", "LOUDER!"])  # case: 3 of 4 agree; end: 3 of 4
    assert mixed["constraint_agreement"] == 0.75 and mixed["sampled_accuracy"] == 0.5
    broken = scores(["LOUD.", "STILL LOUD.", "", "CUT OFF"], [True, True, True, False])
    assert broken["constraint_agreement"] == 0.5  # two broke the end alike; no answer and cut off agree with none
    assert scores(["", "", "", ""])["constraint_agreement"] == 0.0
    assert instruction.consistency == "constraint_agreement" in instruction.metrics
    assert instruction.greedy_record({"greedy_accuracy": 1.0, "constraint_agreement": 0.4}, 4)[
        "constraint_agreement"] == 1.0


def test_category_settings_are_validated_where_they_are_written():
    with pytest.raises(ValueError, match="categories.reasoning.init_args.vote_threshold must be in"):
        CategorySpec(init_args={"vote_threshold": 0}).build("reasoning")
    with pytest.raises(ValueError, match="no built-in category of that name"):
        Experiment(categories={"maths": {}})
    with pytest.raises(ValueError, match="categories.math has unknown settings \\['decodng'\\]"):
        Experiment(categories={"math": {"decodng": {}}})
    with pytest.raises(ValueError, match="set samples: 1"):
        Experiment(categories={"math": {"decoding": {"samples": 4}}})  # greedy by default, so one sample
    with pytest.raises(ValueError, match="lacks \\{prompt\\}"):
        Experiment(categories={"math": {"prompt_template": "Solve it."}})
    sampled = Experiment(categories={"math": {"decoding": {"temperature": 0.5, "samples": 4}}}).resolved["math"]
    assert (sampled.decoding.temperature, sampled.decoding.samples, sampled.decoding.max_new_tokens) == (0.5, 4, 96)


def test_code_votes_by_behaviour_not_by_text():
    from cogumi.categories.metrics import accuracy_scores

    code = defaults()["code"]
    problem = Problem(id="c", category="code", prompt="?", key="k", entry_point="f",
                      tests="def check(candidate):\n    assert candidate(1) == 10\n")
    texts = ["```python\ndef f(x):\n    return x + 9\n```", "```python\ndef f(x):\n    return x - 9\n```",
             "```python\ndef f(x):\n    return x - 9\n```"]
    verdicts = code.judge([problem] * 3, texts, [True] * 3)
    assert [v.reason for v in verdicts] == ["correct", "incorrect", "incorrect"]
    scores = accuracy_scores(verdicts, verdicts[0], code.vote_key, code.same_answer)
    assert scores["agreement_rate"] == pytest.approx(2 / 3) and scores["majority_accuracy"] == 0.0
    assert code.vote_key(verdicts[0]) != code.vote_key(verdicts[1])  # one character apart, not one vote


def test_reasoning_keeps_a_majority_only_when_it_agrees_with_the_reference():
    from cogumi.stages.filter import filter_samples

    reasoning = defaults()["reasoning"]
    wrong = Problem(id="w", category="reasoning", prompt="?", key="k1", answer="Monday")
    right = Problem(id="r", category="reasoning", prompt="?", key="k2", answer="Friday")
    samples = [{"problem_id": p.id, "sample": i, "text": f"The answer is {a}.", "finished": True, "temperature": 0.1}
               for p, answers in ((wrong, ["Sunday"] * 4 + ["Monday"]), (right, ["Friday"] * 5))
               for i, a in enumerate(answers)]
    examples, audit = filter_samples({"reasoning": reasoning}, [wrong, right], samples)
    assert {e["metadata"]["problem_id"] for e in examples["reasoning"]} == {"r"}
    assert audit["reasoning"]["rejected"] == {"majority_wrong": 1} and audit["reasoning"]["kept_correct"] == 1
    lenient = CategorySpec(init_args={"agree_with_reference": False}).build("reasoning")
    examples, _ = filter_samples({"reasoning": lenient}, [wrong, right], samples)
    assert {e["metadata"]["problem_id"] for e in examples["reasoning"]} == {"w", "r"}


def test_numeric_votes_group_equal_values_however_written():
    from cogumi.verify.vote import majority

    reasoning = defaults()["reasoning"]
    vote = majority(["1/2", "0.5", "\\frac{1}{2}", "3", "4"], equivalent=reasoning.same_answer)
    assert vote.members == (0, 1, 2)


def test_instruction_keywords_are_whole_words():
    instruction = defaults()["instruction"]
    problem = Problem(id="i", category="instruction", prompt="?", key="k", constraints={"keywords": ["light"]})
    assert instruction.judge_one(problem, "what a delight", True).correct is False
    assert instruction.judge_one(problem, "the Light, at last", True).correct is True


def test_a_code_prompt_in_words_is_not_put_before_the_answer_but_a_python_one_is(tmp_path):
    """A dataset prompt that is Python (HumanEval's signature and docstring) prefixes the program; a
    prompt in words would make every answer a syntax error."""
    import json

    from cogumi.data.sources import Source, load_problems

    rows = [{"id": "words", "prompt": "Write a Python function `last_5(s)` that returns the last 5 characters of s.",
             "tests": "def check(candidate):\n    assert candidate('abcdefg') == 'cdefg'\n", "entry_point": "last_5"},
            {"id": "python", "prompt": "import math\n\ndef root(x):\n    \"\"\"The square root of x.\"\"\"\n",
             "tests": "def check(candidate):\n    assert candidate(9) == 3\n", "entry_point": "root"}]
    path = tmp_path / "code.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = CategorySpec(distill=Source(str(path)), benchmark=Source(str(path))).build("code")
    problems = load_problems(code, "distill", 2, 0)
    words = next(p for p in problems if "last_5" in p.prompt)
    python = next(p for p in problems if "root" in p.prompt)
    assert words.spec["code_prefix"] == "" and python.spec["code_prefix"].startswith("import math")
    answers = ["```python\ndef last_5(s):\n    return s[-5:]\n```", "```python\ndef root(x):\n    return math.sqrt(x)\n```"]
    verdicts = code.judge([words, python], answers, [True, True])
    assert [v.reason for v in verdicts] == ["correct", "correct"], verdicts
