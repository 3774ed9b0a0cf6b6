"""The engine keeps every task to the contract: plugin callbacks that cannot stop a run, task
mistakes named in one line, nothing left behind by a run that never started, the figures a
task is judged on printed and stopped on. Through the real CLI and test plugins really installed
(tests/fixtures: zoo-tinytask, zoo-barecb, zoo-raisingcb, zoo-epochlog)."""

import json

import pytest

TINY = ("zoo-tinytask",)


def _train(run_zoo, out, *options, plugins=TINY):
    return run_zoo("train", "blobs", "--out", str(out), *options, plugins=plugins, timeout=300)


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_a_bare_callback_and_one_that_raises_leave_training_complete(run_zoo, tmp_path):
    out = tmp_path / "run"
    result = _train(run_zoo, out, "--epochs", "4",
                    plugins=(*TINY, "zoo-barecb", "zoo-raisingcb", "zoo-epochlog"))
    assert result.returncode == 0, result.stderr[-3000:]
    output = (result.stdout + result.stderr).splitlines()
    bare = [line for line in output if "zoo-barecb" in line]
    assert bare == ["Warning: plugin zoo-barecb's zoo_callbacks returned Bare, not a list of "
                    "keras.callbacks.Callback; training without its callbacks"]
    flaky = [line for line in output if "zoo-raisingcb" in line]
    assert len(flaky) == 1 and "Flaky failed in on_epoch_end (ConnectionError: tracking server " \
        "went away); training goes on without it" in flaky[0], flaky
    assert "Traceback" not in result.stderr
    # the run is complete: every epoch trained and the other plugins' callbacks saw them all
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["epochs"] == 4
    assert [json.loads(line)["epoch"] for line in (out / "flaky.jsonl").read_text().splitlines()
            ] == [0, 1]  # dropped after it raised
    assert [json.loads(line)["epoch"] for line in
            (out / "epochlog.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    # on_run_end comes once the run is written and no longer locked as training
    seen = set((out / "run-end.txt").read_text().split(","))
    assert {"model.keras", "metrics.json", "report.html"} <= seen and "training.lock" not in seen


@pytest.mark.parametrize("mistake, method, expected", [
    ("load_data_list", "load_data", "a zoo.tasks.TaskData"),
    ("uncompiled", "build_model", None),
    ("stages_dict", "stages", "a list of zoo.tasks.Stage"),
])
def test_a_task_mistake_before_training_is_one_line_and_leaves_no_run(run_zoo, tmp_path, mistake,
                                                                      method, expected):
    out = tmp_path / "runs" / "blobs-1"
    line = _one_error_line(_train(run_zoo, out, "--mistake", mistake))
    assert line.startswith(f"Error: task TinyTask (plugin zoo-tinytask).{method} "), line
    assert (expected or "is not compiled") in line
    assert not out.exists() and not out.parent.exists()


def test_task_mistakes_with_a_trained_run_are_named(run_zoo, tmp_path):
    out = tmp_path / "evaluate"
    line = _one_error_line(_train(run_zoo, out, "--mistake", "evaluate_float"))
    assert line == ("Error: task TinyTask (plugin zoo-tinytask).evaluate returned float; "
                    "expected a dict of metrics (name -> number) (docs/writing-plugins.md, "
                    "'Tasks')")
    assert (out / "model.keras").is_file()  # the trained model is kept; --resume evaluates again

    out = tmp_path / "predict"
    assert _train(run_zoo, out, "--mistake", "predict_dict").returncode == 0
    line = _one_error_line(run_zoo("predict", str(out), "1", "2", plugins=TINY))
    assert "TinyTask (plugin zoo-tinytask).predict returned dict; expected a list" in line

    out = tmp_path / "export"
    assert _train(run_zoo, out, "--mistake", "export_spec_dict").returncode == 0
    line = _one_error_line(run_zoo("export", str(out), plugins=TINY))
    assert "TinyTask (plugin zoo-tinytask).export_spec returned dict; expected a " \
           "zoo.tasks.ExportSpec or a list of them" in line


def test_the_declared_headline_is_printed_and_the_declared_monitor_stops(run_zoo, tmp_path):
    out = tmp_path / "run"
    # a huge learning rate makes the validation figures worse after the first epochs
    trained = _train(run_zoo, out, "--epochs", "40", "--patience", "2", "--lr", "3")
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "Held-out (held-out blobs, 32 examples): accuracy " in trained.stdout
    summary = json.loads((out / "metrics.json").read_text())["training"]
    assert summary["monitor"] == "val_accuracy" and summary["stopped_early"]
    assert summary["epochs"] < 40
    evaluated = run_zoo("evaluate", str(out), plugins=TINY)
    assert evaluated.returncode == 0
    assert evaluated.stdout.strip().splitlines() == [
        line for line in trained.stdout.splitlines() if line.startswith("Held-out")]
    runs = json.loads(run_zoo("runs", str(tmp_path), "--json", plugins=TINY).stdout)
    assert set(runs[0]["heldout"]) == {"accuracy"}
