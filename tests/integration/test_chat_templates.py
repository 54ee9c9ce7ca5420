"""A model whose chat template is not Llama 3's, through generate, filter and benchmark.

The shipped tiny model is saved again with its turn tokens renamed (``<|im_start|>``, ``<|im_end|>``,
at the same ids) and a template written with those names, and its tokenizer's and generation config's
end token set to ``<|end_of_text|>``: the only way to know that ``<|im_end|>`` ends a turn is to read
the template. The token ids it sees and writes are the shipped model's, so every answer must equal the
shipped model's, with no end token left in any text.
"""

import json
import shutil

import yaml
from support import ROOT, cogumi

RENAMED = {"<|start_header_id|>": "<|im_start|>", "<|eot_id|>": "<|im_end|>"}
TEMPLATE = ("{{- bos_token }}{%- for message in messages %}{{- '<|im_start|>' + message['role'] + "
            "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|im_end|>' }}{%- endfor %}"
            "{%- if add_generation_prompt %}{{- '<|im_start|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}")


def _renamed_model(folder):
    shutil.copytree(ROOT / "checkpoints" / "tiny" / "base", folder)
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    for token in tokenizer["added_tokens"]:
        token["content"] = RENAMED.get(token["content"], token["content"])
    vocab = tokenizer["model"]["vocab"]
    for old, new in RENAMED.items():
        vocab[new] = vocab.pop(old)
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.update(eos_token="<|end_of_text|>", extra_special_tokens=["<|im_end|>"])
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "chat_template.jinja").write_text(TEMPLATE)
    generation = json.loads((folder / "generation_config.json").read_text())
    generation["eos_token_id"] = vocab["<|end_of_text|>"]
    (folder / "generation_config.json").write_text(json.dumps(generation))


def _run(tmp_path, name, base):
    config = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
    config.update(output_dir=str(tmp_path / name), threads=1, ablations=[])
    config["model"].update(base=str(base), adapter=str(ROOT / "checkpoints" / "tiny" / "phase1a"))
    config["generate"]["problems"] = {"math": 6, "knowledge": 6, "creativity": 3, "code": 0, "reasoning": 0,
                                      "instruction": 0}
    config["benchmark"].update(problems={"math": 4, "knowledge": 4, "creativity": 0, "code": 0, "reasoning": 0,
                                         "instruction": 0}, samples_per_problem=2, sweep_temperatures=[])
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    for command in ("generate", "benchmark"):
        done = cogumi(command, "--config", str(path), timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return tmp_path / name


def test_a_chatml_named_template_stops_where_its_turn_ends_and_answers_as_the_shipped_model(tmp_path):
    # the tokenizer's own base folder is named "base", as the adapter records
    renamed = tmp_path / "renamed" / "base"
    _renamed_model(renamed)
    planned = cogumi("plan", "--config", str(ROOT / "configs" / "tiny.yaml"), "--model.base", str(renamed),
                     "--model.adapter", str(ROOT / "checkpoints" / "tiny" / "phase1a"),
                     "--output_dir", str(tmp_path / "plan"))
    assert "'<|im_end|>' (4)" in planned.stdout, planned.stdout
    shipped, chatml = _run(tmp_path, "shipped", ROOT / "checkpoints" / "tiny" / "base"), _run(tmp_path, "chatml", renamed)
    for category in ("math", "knowledge", "creativity"):
        ours = [json.loads(line) for line in (chatml / "raw" / f"{category}.jsonl").read_text().splitlines()]
        theirs = [json.loads(line) for line in (shipped / "raw" / f"{category}.jsonl").read_text().splitlines()]
        assert ours == theirs, category
        texts = [row["text"] for row in ours if "text" in row]
        assert texts and not any("<|" in t for t in texts), texts
    finished = [row["finished"] for row in ours if "finished" in row]
    assert any(finished)  # the model ends its turns with <|im_end|>, known from the template alone
    assert (chatml / "data" / "math_distilled.jsonl").read_text() == (shipped / "data" / "math_distilled.jsonl").read_text()
    assert (chatml / "benchmark").exists()
    assert json.loads((chatml / "report.json").read_text())["before"] == json.loads((shipped / "report.json").read_text())["before"]
