"""Every source of configs/full.yaml through the real loader, on a fixture in its hub dataset's schema
(tests/fixtures/hub/, as tests/configs/full_mini.yaml names them), and the row transforms and IFEval
checks those sources need."""


import pytest
from support import ROOT

from cogumi.data.sources import Source, source_problems
from cogumi.data.transforms import MISSING, field_value, mbpp_row, rlvr_ifeval_row
from cogumi.verify.instruction import _has_punkt, check_constraints, failed_constraints

MINI = ROOT / "tests" / "configs" / "full_mini.yaml"


@pytest.fixture(scope="module")
def categories():
    """The categories of the miniature of configs/full.yaml, with their sources, parsed for real."""
    from cogumi.cli import parse

    return parse(["fit", "--config", str(MINI)])[1].resolved


def _problems(categories, name: str, split: str):
    return {p.id: p for p in source_problems(categories[name], split, 100)}


def test_math_from_hendrycks_math_and_math500(categories):
    train = _problems(categories, "math", "distill")
    assert sorted(p.answer for p in train.values()) == sorted(["18", "17", "22", "\\frac{3}{4}"])  # from \boxed{}
    assert all(p.prompt.endswith("within \\boxed{}.") for p in train.values())
    test = _problems(categories, "math", "benchmark")
    assert test["math-benchmark-test/prealgebra/1001.json"].answer == "27"  # MATH-500's unique_id and answer


def test_code_distills_from_mbpp_as_humaneval_problems_whose_reference_passes(categories):
    """The transform makes each MBPP row a HumanEval-style problem: the reference solution passes its
    check in the sandbox, and a wrong one does not."""
    from cogumi.verify.code import run_many

    problems = _problems(categories, "code", "distill")
    assert sorted(p.entry_point for p in problems.values()) == ["add_all", "count_vowels", "long_words", "sub_3"]
    found = problems["code-distill-602"]
    assert found.spec["code_prefix"].startswith("import re\ndef long_words(text):\n    r\"\"\"\n    Write a function")
    assert "Your code should pass these tests:" in found.prompt and found.tests.startswith("def check(candidate):")
    references = {int(row["task_id"]): row["code"] for row in map(__import__("json").loads,
                                                                  (MINI.parents[1] / "fixtures/hub/mbpp_train.jsonl").open())}
    jobs = [(p.spec["code_prefix"] + "\n" + references[int(pid.rsplit("-", 1)[1])], p.tests, p.entry_point)
            for pid, p in sorted(problems.items())]
    jobs.append((found.spec["code_prefix"] + "\ndef long_words(text):\n    return text.split()", found.tests,
                 found.entry_point))
    assert [r.status for r in run_many(jobs, 10.0)] == ["passed"] * 4 + ["failed"]


def test_code_benchmark_is_humaneval(categories):
    problems = _problems(categories, "code", "benchmark")
    assert len(problems) == 164 and problems["code-benchmark-HumanEval/0"].entry_point == "has_close_elements"


def test_reasoning_from_gsm8k(categories):
    assert {p.answer for p in _problems(categories, "reasoning", "distill").values()} == {"Sunday", "5", "Monday"}
    assert {p.answer for p in _problems(categories, "reasoning", "benchmark").values()} == {"24", "Tuesday"}


def test_knowledge_from_triviaqa_reads_nested_answer_fields(categories):
    problems = _problems(categories, "knowledge", "distill")
    lynx = problems["knowledge-distill-tc_2"]
    assert lynx.answer == "lynx" and lynx.aliases == ("lynx", "Lynx", "The lynx")
    assert categories["knowledge"].judge_one(lynx, "The answer is the lynx.", True).correct
    assert set(_problems(categories, "knowledge", "benchmark")) == {"knowledge-benchmark-tc_101",
                                                                     "knowledge-benchmark-tc_102"}


def test_creativity_from_writingprompts(categories):
    problems = _problems(categories, "creativity", "distill")
    assert len(problems) == 3 and all("[ WP ]" in p.prompt for p in problems.values())
    assert len(_problems(categories, "creativity", "benchmark")) == 2


def test_instruction_distills_from_rlvr_ifeval_checked_by_ifeval_checkers(categories, capsys):
    problems = list(_problems(categories, "instruction", "distill").values())
    assert "left out 1 of 5 rows: 1 because validate_choice" in capsys.readouterr().out
    by_name = {next(iter(p.constraints)): p for p in problems}
    assert by_name["keywords:existence"].constraints == {"keywords:existence": {"keywords": ["song"]}}
    assert by_name["length_constraints:number_words"].constraints == {
        "length_constraints:number_words": {"num_words": 7, "relation": "less than"}}  # "at most 6"
    assert by_name["keywords:frequency"].constraints["keywords:frequency"] == [  # exactly once
        {"keyword": "forest", "frequency": 1, "relation": "at least"},
        {"keyword": "forest", "frequency": 2, "relation": "less than"}]
    judge = categories["instruction"].judge_one
    frequency = by_name["keywords:frequency"]
    assert judge(frequency, "A quiet forest sleeps near the lake.", True).correct
    assert not judge(frequency, "The forest and the forest again.", True).correct
    assert judge(by_name["change_case:english_lowercase"], "the desert is quiet and very warm at noon.", True).correct
    assert not judge(by_name["change_case:english_lowercase"], "The desert is quiet.", True).correct


def test_instruction_benchmark_is_ifeval(categories):
    problems = _problems(categories, "instruction", "benchmark")
    note = problems["instruction-benchmark-1001"]
    assert note.constraints == {"change_case:english_lowercase": {}, "punctuation:no_comma": {},
                                "length_constraints:number_words": {"num_words": 3, "relation": "at least"}}
    judge = categories["instruction"].judge_one
    assert judge(note, "the harbor sleeps under a quiet and dark sky tonight", True).correct
    assert not judge(note, "the harbor sleeps, and the sky is dark tonight", True).correct  # a comma


def test_ifeval_constraints_are_refused_before_any_weights_load():
    with pytest.raises(ValueError, match=r"keywords:existence lacks \['keywords'\].*draw them at random"):
        check_constraints({"keywords:existence": {}}, "row 1")
    with pytest.raises(ValueError, match="unknown IFEval instruction 'keywords:nonsense'"):
        check_constraints({"keywords:nonsense": {}}, "row 1")
    with pytest.raises(ValueError, match="cannot take"):
        check_constraints({"length_constraints:number_words": {"num_words": 3, "relation": "exactly"}}, "row 1")
    check_constraints({"num_words": 3, "punctuation:no_comma": {}}, "row 1")  # the tiny world's beside IFEval's
    if not _has_punkt():
        with pytest.raises(ValueError, match="punkt_tab.*python -m nltk.downloader punkt_tab"):
            check_constraints({"length_constraints:number_sentences": {"num_sentences": 2, "relation": "at least"}}, "x")
    assert failed_constraints("hello there", {"num_words": 2, "change_case:english_capital": {}}) == [
        "change_case:english_capital"]


def test_a_row_the_transform_cannot_read_is_refused_with_its_line(tmp_path):
    from cogumi.config import CategorySpec

    path = tmp_path / "mbpp.jsonl"
    path.write_text('{"task_id": 1, "text": "t", "code": "def f(x):\\n    return x", "test_list": ["assert f(1) == 1"]}\n'
                    '{"task_id": 2, "text": "t", "test_list": ["assert g(1) == 1"]}\n')
    code = CategorySpec(distill=Source(path=str(path), transform="mbpp", fields={"id": "task_id"})).build("code")
    with pytest.raises(ValueError, match=r"mbpp.jsonl:2: lacks field 'code' that transform mbpp reads"):
        source_problems(code, "distill", 2)
    with pytest.raises(ValueError, match="unknown transform 'mpbb'"):
        Source(path=str(path), transform="mpbb")


def test_dotted_fields_and_rlvr_quantifiers():
    row = {"answer": {"value": "Mars", "aliases": ["Mars"]}, "a.b": 1}
    assert field_value(row, "answer.aliases") == ["Mars"] and field_value(row, "a.b") == 1
    assert field_value(row, "answer.missing") is MISSING and field_value(row, "answer.value.deeper") is MISSING
    around = rlvr_ifeval_row({"messages": [{"role": "user", "content": "Write."}],
                              "ground_truth": '{"func_name": "validate_word_constraint", "N": 50, "quantifier": "around"}'})
    assert around["constraints"] == {"length_constraints:number_words": [
        {"num_words": 45, "relation": "at least"}, {"num_words": 56, "relation": "less than"}]}
    problem = mbpp_row({"task_id": 9, "text": 'Say """hi""" \\d.', "code": "def f(x):\n    return x",
                        "test_list": ["assert f(2) == 2"], "test_setup_code": ""})
    compile(problem["prompt"] + "    pass\n", "prompt", "exec")  # quotes and backslashes leave valid Python
