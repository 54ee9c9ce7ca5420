"""The stage contract: skip what still holds, resume what was cut short, redo what changed (clearing
its old output), and never lock a run after a failure."""

import pytest

from cogumi.stages.contract import Stage, changed_settings, run_stage, status


def _stage(settings, log, fail=False):
    def work():
        log.append(("work", settings["x"]))
        if fail:
            raise RuntimeError("out of memory")

    return Stage("s", settings, work, lambda old: log.append(("clear", old["x"])))


def test_a_finished_stage_is_skipped_and_a_changed_one_redone_after_clearing(tmp_path):
    record, log, timings = tmp_path / "stages" / "s.json", [], {}
    assert status(_stage({"x": 1}, log), record) == ("run", "not run yet")
    assert run_stage(_stage({"x": 1}, log), record, timings) and log == [("work", 1)]
    assert status(_stage({"x": 1}, log), record)[0] == "skip"
    assert not run_stage(_stage({"x": 1}, log), record, timings) and log == [("work", 1)]
    action, why = status(_stage({"x": 2}, log), record)
    assert action == "run" and "settings changed: x" in why
    run_stage(_stage({"x": 2}, log), record, timings)
    assert log[1:] == [("clear", 1), ("work", 2)] and set(timings) == {"s"}


def test_a_failed_stage_resumes_and_a_corrected_setting_redoes_it(tmp_path):
    record, log = tmp_path / "s.json", []
    with pytest.raises(RuntimeError):
        run_stage(_stage({"x": 1}, log, fail=True), record, {})
    assert status(_stage({"x": 1}, log), record) == ("resume", "cut short earlier; resumes where it stopped")
    run_stage(_stage({"x": 3}, log), record, {})  # the corrected setting: no lock, no refusal
    assert log == [("work", 1), ("clear", 1), ("work", 3)] and status(_stage({"x": 3}, log), record)[0] == "skip"


def test_changed_settings_are_named_by_their_dotted_keys():
    old = {"train": {"lr": 1, "lora": {"rank": 8}}, "inputs": {"filter": "abc"}}
    new = {"train": {"lr": 2, "lora": {"rank": 8}}, "inputs": {"filter": "def"}, "seed": 0}
    assert changed_settings(old, new) == ["inputs.filter", "seed", "train.lr"]


@pytest.mark.parametrize("text", ["", '{"settings": {"x": 1}, "do', "[]", '{"done": true}'])
def test_an_unreadable_record_is_named_and_its_stage_redone_from_scratch(tmp_path, capsys, text):
    record, log = tmp_path / "stages" / "s.json", []
    run_stage(Stage("s", {"x": 1}, lambda: log.append("work"), lambda old: log.append(("clear", old))), record, {})
    record.write_text(text)  # what a power cut, or a hand, can leave
    stage = Stage("s", {"x": 1}, lambda: log.append("work"), lambda old: log.append(("clear", old)))
    assert status(stage, record) == ("run", "record unreadable: redone")
    assert run_stage(stage, record, {})
    assert log == ["work", ("clear", {}), "work"]  # everything it made is cleared, then made again
    assert str(record) in capsys.readouterr().out
    assert status(stage, record)[0] == "skip"


def test_a_record_reaches_the_disk_before_it_takes_its_name(tmp_path, monkeypatch):
    import os

    from cogumi.files import write_json

    events = []
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))))
    real_replace = type(tmp_path).replace
    monkeypatch.setattr(type(tmp_path), "replace", lambda self, target: (events.append(("rename", str(target))),
                                                                         real_replace(self, target))[1])
    write_json(tmp_path / "r.json", {"a": 1})
    assert events[0] == ("fsync", str(tmp_path / f"r.json.tmp-{os.getpid()}")) and events[1] == ("rename", str(tmp_path / "r.json"))
    assert ("fsync", str(tmp_path)) in events[2:]  # and the rename itself


def test_a_done_stage_whose_output_is_gone_or_changed_resumes_and_says_which(tmp_path):
    out, record, log = tmp_path / "out.jsonl", tmp_path / "stages" / "s.json", []

    def work():
        log.append("work")
        out.write_text("one\ntwo\n")

    stage = Stage("s", {"x": 1}, work, outputs=lambda: [out])
    run_stage(stage, record, {})
    assert status(stage, record)[0] == "skip"
    out.write_text("one\n")
    assert status(stage, record) == ("resume", f"{out} changed since it finished; redoes what is missing")
    run_stage(stage, record, {})
    out.unlink()
    assert status(stage, record) == ("resume", f"{out} is missing since it finished; redoes what is missing")
    run_stage(stage, record, {})
    assert log == ["work"] * 3 and status(stage, record)[0] == "skip"


def test_files_left_without_their_record_are_cleared_before_the_stage_runs(tmp_path):
    out, record, log = tmp_path / "records.jsonl", tmp_path / "stages" / "s.json", []
    stage = Stage("s", {"x": 1}, lambda: log.append("work"), lambda old: log.append(("clear", old)),
                  lambda: [out])
    out.write_text("made under settings nobody recorded\n")
    run_stage(stage, record, {})
    assert log == [("clear", {}), "work"]
