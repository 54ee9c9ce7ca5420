"""Extending Cogumi without editing it: an engine registered from outside the package, a category
with metrics of its own names, a changed category option, and a category added to a run."""

import json

from support import PLUGINS, cogumi, small_fit_config

from cogumi import categories, cli, engines
from cogumi.engines.base import Engine
from cogumi.types import Completion

SMALL = ["--generate.problems", "{math: 4, code: 0, reasoning: 4, creativity: 0, knowledge: 0, instruction: 0}",
         "--ablations", "[]"]


class FakeEngine(Engine):
    """Answers every prompt with its own length, remembering what it was asked."""

    name = "fake"
    calls: list = []

    @classmethod
    def open(cls, cfg, run, label):
        cls.calls.append(("open", label))
        return cls(tokenizer=None)

    def generate(self, prompts, decoding, *, seed, batch_size):
        self.calls.append(("generate", len(prompts), decoding.samples, seed))
        return [[Completion(f"\\boxed{{{len(p)}}} sample {k}", True, 4) for k in range(decoding.samples)]
                for p in prompts]

    def close(self):
        self.calls.append(("close",))


def test_an_engine_registered_from_outside_runs_cogumi_generate(tmp_path):
    engines.register("fake", FakeEngine)
    try:
        cli.main(["generate", "--config", "configs/tiny.yaml", "--output_dir", str(tmp_path), *SMALL,
                  "--generate.engine", "fake"])
    finally:
        engines._REGISTRY.pop("fake")
    rows = [json.loads(line) for line in (tmp_path / "raw" / "reasoning.jsonl").read_text().splitlines()]
    samples = [r for r in rows if "text" in r]
    assert len(samples) == 4 * 10 and all("sample" in r["text"] for r in samples)  # reasoning: 10 samples
    assert FakeEngine.calls[0] == ("open", "before") and FakeEngine.calls[-1] == ("close",)
    seeds = [c[3] for c in FakeEngine.calls if c[0] == "generate"]
    assert len(set(seeds)) == len(seeds), "each batch has its own seed"
    assert json.loads((tmp_path / "stages" / "generate.json").read_text())["settings"]["engine"] == "fake"


def _tally_rows(split: str, n: int) -> list[dict]:
    start = 100 if split == "benchmark" else 0  # no benchmark question repeats a distill one
    return [{"id": f"{split}-{i}", "question": f"What is {start + i} + {i + 1}? Answer with the number.",
             "answer": str(start + 2 * i + 1)} for i in range(n)]


def test_a_category_with_its_own_metric_names_runs_through_plan_fit_and_the_frontier(tmp_path):
    for split, n in (("distill", 6), ("benchmark", 4)):
        (tmp_path / f"tally_{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _tally_rows(split, n)))
    path = small_fit_config(tmp_path, {"tally": {
        "class_path": "tally:Tally", "training_temperature": 0.0,
        "distill": {"path": str(tmp_path / "tally_distill.jsonl"), "fields": {"prompt": "question"}},
        "benchmark": {"path": str(tmp_path / "tally_benchmark.jsonl"), "fields": {"prompt": "question"}}}},
        generate={"math": 4, "tally": 6}, benchmark={"math": 2, "tally": 4})
    env = {"PYTHONPATH": str(PLUGINS)}
    planned = cogumi("plan", "--config", str(path), env=env)
    assert planned.returncode == 0 and "4 of 4 from" in planned.stdout, planned.stdout + planned.stderr
    done = cogumi("fit", "--config", str(path), env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert set(report["before"]["tally"]) == {"n", "greedy_exact", "sampled_exact", "consensus"}
    zero = report["frontier"]["tally"]["0"]
    assert zero["sampled_exact"] == zero["greedy_exact"] and zero["consensus"] == 1.0
    assert report["verdicts"]["after"]["tally"]["verdict"] in ("matched", "beyond")
    assert report["calibration"]["after"]["tally"]["metric"] == "consensus"


def _benchmark(run, *overrides):
    return cli.main(["benchmark", "--config", "configs/tiny.yaml", "--output_dir", str(run), "--ablations", "[]",
                     "--benchmark.problems", "{math: 3, code: 3, reasoning: 0, creativity: 0, knowledge: 0, instruction: 0}",
                     "--benchmark.samples_per_problem", "2", "--benchmark.sweep_temperatures", "[0.0, 0.7]",
                     "--benchmark.bootstrap", "20", *overrides])


def _mark(path, category):
    """Tamper with the first record of ``category`` in ``path``: a record that is redone loses the mark."""
    lines = path.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if f'"category": "{category}"' in line)
    lines[i] = lines[i].replace('"problem_id": "', '"problem_id": "MARK-', 1)
    path.write_text("\n".join(lines) + "\n")


def test_a_changed_code_timeout_redoes_the_code_records_alone(tmp_path):
    _benchmark(tmp_path)
    records = sorted((tmp_path / "benchmark").glob("*.jsonl"))
    assert len(records) == 1 + 1  # Phase 1A at T_serve, and at the training temperature 0.3 of creativity
    for path in records:
        _mark(path, "math")
        _mark(path, "code")
    _benchmark(tmp_path, "--categories.code", "{init_args: {timeout_s: 3.0}}")
    for path in records:
        text = path.read_text()
        assert "MARK-math" in text, f"{path.name}: math was redone though its settings held"
        assert "MARK-code" not in text, f"{path.name}: code was not redone after its timeout changed"
        assert text.count('"category": "code"') == 3


def test_a_category_added_to_the_registry_leaves_the_other_categories_samples_alike(tmp_path, monkeypatch):
    run = ["generate", "--config", "configs/tiny.yaml", *SMALL]
    cli.main([*run, "--output_dir", str(tmp_path / "alone")])
    builtin = categories.builtin

    class Riddle(type(categories.defaults()["math"])):  # a new built-in, between math and code
        name, position, seed = "riddle", 0, None

    monkeypatch.setattr(categories, "builtin", lambda: {"riddle": Riddle, **builtin()})
    monkeypatch.setattr("cogumi.categories.spec.builtin", categories.builtin)
    cli.main([*run, "--output_dir", str(tmp_path / "beside"), "--generate.problems",
              "{riddle: 0, math: 4, code: 0, reasoning: 4, creativity: 0, knowledge: 0, instruction: 0}"])
    for name in ("math", "reasoning"):
        alone, beside = (tmp_path / folder / "raw" / f"{name}.jsonl" for folder in ("alone", "beside"))
        assert alone.read_bytes() == beside.read_bytes(), f"{name}'s samples changed when a category was added"
