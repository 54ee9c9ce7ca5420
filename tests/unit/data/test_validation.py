"""Every data source is read and checked before any weights load: a row that would be misread is
refused with its file, line, field and the fix (issue 16, finding A)."""

import json
import os

import pytest

from cogumi.cli import parse
from cogumi.config import CategorySpec
from cogumi.data.sources import Source, load_problems, read_rows, to_problems
from cogumi.plan import preflight


def _write(path, rows):
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def _problems(path, category="knowledge", **source):
    source = Source(path=str(path), **source)
    return to_problems(read_rows(source), source, CategorySpec().build(category), "distill")


def test_duplicate_ids_are_refused_not_merged(tmp_path):
    path = _write(tmp_path / "poems.jsonl", [{"id": "p1", "prompt": "A poem about rain."},
                                             {"id": "p2", "prompt": "A poem about snow."},
                                             {"id": "p1", "prompt": "A poem about wind."}])
    with pytest.raises(ValueError, match=r"poems.jsonl:3: id 'p1' repeats line 1") as refused:
        _problems(path, "creativity")
    assert "its own id" in str(refused.value)


@pytest.mark.parametrize("row, message", [
    ({"prompt": "Capital of Norway?", "answer": "Oslo", "aliases": "Christiania"},
     r"kb.jsonl:1: aliases \(dataset field 'aliases'\) is a string \('Christiania'\); it must be a list of strings"),
    ({"prompt": "Capital of Norway?", "answer": ["Oslo", "Bergen"]},
     r"kb.jsonl:1: answer \(dataset field 'answer'\) is a list .*one string or number; put the others in aliases"),
    ({"prompt": None, "answer": "Oslo"}, r"kb.jsonl:1: prompt \(dataset field 'prompt'\) is null"),
    ({"prompt": ["Capital", "of Norway?"], "answer": "Oslo"}, r"kb.jsonl:1: prompt .* is a list .*a string"),
    ({"prompt": "Capital of Norway?", "answer": "Oslo", "aliases": ["Kristiania", {"x": 1}]},
     r"aliases .* holds an object"),
], ids=["aliases-string", "answer-list", "prompt-null", "prompt-list", "alias-object"])
def test_fields_of_the_wrong_type_are_refused_with_file_line_and_field(tmp_path, row, message):
    path = _write(tmp_path / "kb.jsonl", [row])
    with pytest.raises(ValueError, match=message) as refused:
        _problems(path)
    assert "categories.knowledge.distill.fields" in str(refused.value)  # how to map another field


def test_numbers_are_answers_and_aliases(tmp_path):
    path = _write(tmp_path / "kb.jsonl", [{"prompt": "How many legs has a spider?", "answer": 8, "aliases": [8.0]}])
    [problem] = _problems(path)
    assert problem.answer == "8" and problem.aliases == ("8.0",)


@pytest.mark.parametrize("row, message", [
    ({"prompt": "Write three words."}, r"lacks constraints"),
    ({"prompt": "Write three words.", "constraints": None}, r"constraints .* is null"),
    ({"prompt": "Write three words.", "constraints": {}},
     r"constraints .* is empty.*every answer would count as correct"),
    ({"prompt": "Write three words.", "constraints": "num_words: 3"}, r"constraints .* is a string .*a mapping"),
], ids=["missing", "null", "empty", "string"])
def test_instruction_rows_need_constraints(tmp_path, row, message):
    path = _write(tmp_path / "instructions.jsonl", [row])
    with pytest.raises(ValueError, match=message):
        _problems(path, "instruction")


def test_a_row_holding_a_unicode_line_separator_is_one_row(tmp_path):
    path = tmp_path / "kb.jsonl"
    path.write_text(json.dumps({"prompt": "Line one\u2028line two?", "answer": "x"}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    assert [p.prompt for p in _problems(path)] == ["Line one\u2028line two?"]


def test_a_byte_order_mark_is_stripped(tmp_path):
    path = tmp_path / "kb.jsonl"
    row = json.dumps({"prompt": "Capital of Norway?", "answer": "Oslo"}).encode()
    path.write_bytes(b"\xef\xbb\xbf" + row + b"\r\n")
    assert [p.answer for p in _problems(path)] == ["Oslo"]


@pytest.mark.parametrize("lines, message", [
    (['{"prompt": "a", "answer": "b"}', "", '{"prompt": "c", "answer": }'], r"kb.jsonl:3: not valid JSON"),
    (['{"prompt": "a", "answer": "b"}', '["c", "d"]'], r"kb.jsonl:2: a JSON list where a row \(an object\)"),
], ids=["malformed", "not-an-object"])
def test_unreadable_jsonl_names_the_file_and_line(tmp_path, lines, message):
    path = _write(tmp_path / "kb.jsonl", lines)
    with pytest.raises(ValueError, match=message):
        _problems(path)


def test_a_malformed_json_file_names_its_line(tmp_path):
    path = tmp_path / "kb.json"
    path.write_text('[\n  {"prompt": "a", "answer": "b"},\n  {"prompt": "c" "answer": "d"}\n]\n')
    with pytest.raises(ValueError, match=r"kb.json:3: not valid JSON"):
        _problems(path)
    path.write_text('{"prompt": "a", "answer": "b"}')
    with pytest.raises(ValueError, match=r"kb.json: a JSON object where a list of rows"):
        _problems(path)


def test_an_empty_source_asked_for_problems_is_an_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    knowledge = CategorySpec(distill=Source(path=str(path))).build("knowledge")
    with pytest.raises(ValueError, match=r"empty.jsonl holds no rows.*generate.problems.knowledge: 0"):
        load_problems(knowledge, "distill", 5, seed=0)
    assert load_problems(knowledge, "distill", 0, seed=0) == []


def _cfg(tmp_path, categories: dict, *extra):
    return parse(["fit", "--config", "configs/tiny.yaml", "--output_dir", str(tmp_path / "run"),
                  "--categories", json.dumps(categories), *extra])[1]


def test_preflight_reports_every_bad_source_at_once_before_weights_load(tmp_path):
    kb = _write(tmp_path / "kb.jsonl", [{"prompt": "Capital of Norway?", "answer": "Oslo", "aliases": "Oslo"}])
    empty = tmp_path / "instructions_test.jsonl"
    empty.write_text("")
    duplicated = _write(tmp_path / "poems.jsonl", [{"id": 1, "prompt": "Rain."}, {"id": 1, "prompt": "Snow."}])
    cfg = _cfg(tmp_path, {"knowledge": {"distill": {"path": str(kb)}},
                          "instruction": {"benchmark": {"path": str(empty)}},
                          "creativity": {"distill": {"path": str(duplicated)}}})
    problems = "\n".join(preflight(cfg))
    assert "kb.jsonl:1: aliases" in problems
    assert "instructions_test.jsonl holds no rows" in problems and "benchmark.problems.instruction: 0" in problems
    assert "poems.jsonl:2: id 1 repeats" in problems


def test_plan_refuses_an_output_folder_that_cannot_be_created(tmp_path):
    (tmp_path / "a_file").write_text("")
    cfg = _cfg(tmp_path, {}, "--output_dir", str(tmp_path / "a_file" / "run"))
    assert any("output_dir" in p and "cannot be created" in p and "a_file" in p for p in preflight(cfg))


def test_plan_refuses_a_read_only_output_folder(tmp_path, monkeypatch):
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o500)
    if os.geteuid() == 0:  # root writes into any folder of mode 500; the check asks access(2) as this user does
        real = os.access
        monkeypatch.setattr(os, "access", lambda path, mode: real(path, mode) and str(path) != str(folder))
    try:
        cfg = _cfg(tmp_path, {}, "--output_dir", str(folder / "run"))
        assert any("output_dir" in p and "read-only" in p for p in preflight(cfg))
    finally:
        folder.chmod(0o700)


def test_plan_refuses_the_vllm_engine_where_no_environment_has_vllm(tmp_path):
    cfg = _cfg(tmp_path, {})
    assert not any("vllm" in p for p in preflight(cfg))  # the HF engine needs nothing more
    cfg.benchmark.engine = "vllm"
    cfg.vllm.python = "/bin/false"  # runs, and exits 1 as a python without vLLM does
    problems = "\n".join(preflight(cfg))
    assert "vllm.python is '/bin/false', which cannot import vllm" in problems and "pip install vllm" in problems


def test_a_number_is_read_as_written_and_judged_by_it(tmp_path):
    from cogumi.categories import defaults

    path = _write(tmp_path / "m.jsonl", ['{"prompt": "Tiny?", "answer": 0.00001}', '{"prompt": "Huge?", "answer": 1e20}'])
    tiny, huge = _problems(path, "math")
    assert (tiny.answer, huge.answer) == ("0.00001", "100000000000000000000")
    math = defaults()["math"]
    assert math.judge_one(tiny, "So it is \\boxed{0.00001}.", True).correct


@pytest.mark.parametrize("value, message", [("NaN", "NaN or Infinity"), ("Infinity", "NaN or Infinity"),
                                            ("-Infinity", "NaN or Infinity"), ("true", "is a boolean")])
def test_values_no_answer_equals_are_refused_with_line_and_fix(tmp_path, value, message):
    path = _write(tmp_path / "kb.jsonl", ['{"prompt": "Capital of Norway?", "answer": "Oslo"}',
                                          '{"prompt": "Odd?", "answer": ' + value + '}'])
    with pytest.raises(ValueError, match=rf"kb.jsonl:2: answer .*{message}"):
        _problems(path)
    aliases = _write(tmp_path / "al.jsonl", ['{"prompt": "Odd?", "answer": "x", "aliases": [' + value + ']}'])
    with pytest.raises(ValueError, match=r"al.jsonl:1: aliases"):
        _problems(aliases)


@pytest.mark.parametrize("constraints", [{"keywords": []}, {"end_with": ""}, {"keywords": ["ocean", " "]},
                                         {"num_words": 0}], ids=["no-keywords", "empty-end", "blank-keyword", "zero-words"])
def test_a_constraint_every_answer_satisfies_is_refused(tmp_path, constraints):
    path = _write(tmp_path / "instructions.jsonl", [{"prompt": "Write about the sea.", "constraints": constraints}])
    with pytest.raises(ValueError, match=r"instructions.jsonl:1: .*(every answer satisfies|>= 1)"):
        _problems(path, "instruction")


@pytest.mark.parametrize("benchmark", ["Sam has 1000 apples. How many are left?",
                                       "Sam has 1.000 apples. How many are left?",
                                       "Sam has １,０００ apples. How many are left?",
                                       "Sam has 1,000 ap\u00adples. How many are\u200b left?",
                                       "SAM HAS 1,000 APPLES. HOW MANY ARE LEFT?"],
                         ids=["no-separator", "dot-separator", "full-width", "soft-hyphen-zero-width", "case"])
def test_a_short_prompt_written_another_way_is_still_an_overlap(benchmark):
    from cogumi.data.overlap import overlap
    from cogumi.types import Problem

    distill = [Problem(id="d", category="math", prompt="Sam has 1,000 apples. How many are left?", key="d")]
    assert overlap(distill, [Problem(id="b", category="math", prompt=benchmark, key="b")], 13) == [("d", "b", "exact")]
    other = Problem(id="c", category="math", prompt="Sam has 1,001 apples. How many are left?", key="c")
    assert overlap(distill, [other], 13) == []


def test_a_benchmark_pointed_at_the_distill_problems_is_refused_by_plan_and_by_the_benchmark(tmp_path):
    from cogumi.data.problems import distill_problems, guarded_benchmark
    from cogumi.run import RunFolder

    rows = [{"prompt": f"What is the capital of country number {i}?", "answer": f"City {i}"} for i in range(6)]
    distill, held_out = _write(tmp_path / "kb_train.jsonl", rows), _write(tmp_path / "kb_test.jsonl",
                                                                          [{"prompt": "Capital of Peru?", "answer": "Lima"}])
    cfg = _cfg(tmp_path, {"knowledge": {"distill": {"path": str(distill)}, "benchmark": {"path": str(held_out)}}})
    assert not [p for p in preflight(cfg) if "overlap" in p]
    run = RunFolder(cfg.output_dir)
    distill_problems(cfg, run)  # drawn, as generate draws them, against the held-out file
    copied = _cfg(tmp_path, {"knowledge": {"distill": {"path": str(distill)}, "benchmark": {"path": str(distill)}}})
    assert any("knowledge" in p and "overlap" in p for p in preflight(copied))
    with pytest.raises(ValueError, match="knowledge: .* overlap"):
        guarded_benchmark(copied, run)


def test_a_folder_cogumi_did_not_make_is_refused_as_output_dir_and_left_untouched(tmp_path, capsys):
    from cogumi import cli

    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "my_questions.jsonl").write_text('{"prompt": "mine"}\n')
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"num_hidden_layers": 2}')
    for folder, what in ((project, "a folder Cogumi did not make"), (model, "a model folder")):
        before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        assert any(what in p and "no run.json" in p for p in preflight(_cfg(tmp_path, {}, "--output_dir", str(folder))))
        with pytest.raises(SystemExit):
            cli.main(["generate", "--config", "configs/tiny.yaml", "--output_dir", str(folder)])
        assert what in capsys.readouterr().out.replace("\n", " ")
        assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before  # nothing written or deleted
    own = tmp_path / "run"
    own.mkdir()
    (own / "run.json").write_text("{}")
    assert not [p for p in preflight(_cfg(tmp_path, {}, "--output_dir", str(own))) if "output_dir" in p]
