"""Loading real installed plugin distributions: failures are reported and skipped, never fatal."""

import json
import re
from pathlib import Path

import pytest

from zoo.registry import KINDS

#: Each broken test plugin and what its one warning line and its error must say.
BROKEN = {
    "zoo-broken": "ImportError: No module named 'acme_secret_sauce'",
    "zoo-misspelt": "unknown hook zoo_layer (did you mean zoo_layers?)",
    "zoo-future": "written for plugin contract [99]",
    "zoo-faulty": "zoo_backbones raised RuntimeError: weights server unreachable",
    "zoo-oldlog": "hook zoo_callbacks is part of plugin contract 2; declare ZOO_CONTRACT = 2",
}
FIXTURE_PLUGINS = ("zoo-acme", "zoo-clash", *BROKEN)
ACME_ONLY = ("zoo-acme",)


def plugin_rows(run_zoo, *args, **kwargs):
    result = run_zoo("plugins", "list", "--json", *args, **kwargs)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def warnings_of(result):
    return [line for line in result.stderr.splitlines() if line.startswith("zoo: warning:")]


@pytest.mark.parametrize("dist", sorted(BROKEN))
def test_a_broken_plugin_is_reported_once_and_skipped(run_zoo, dist):
    result = run_zoo("list", plugins=("zoo-acme", dist))
    assert result.returncode == 0
    assert "acme_tiny" in result.stdout  # the healthy plugin still loads
    assert warnings_of(result) == [line for line in result.stderr.splitlines() if line]
    (warning,) = warnings_of(result)
    assert dist in warning and BROKEN[dist] in warning
    assert "Traceback" not in result.stderr

    row = plugin_rows(run_zoo, plugins=("zoo-acme", dist))[dist]
    assert row["status"] == "failed" and BROKEN[dist] in row["error"]


def test_all_plugins_at_once_keep_the_cli_working(run_zoo):
    result = run_zoo("list")
    assert result.returncode == 0, result.stderr
    # + the layer and the model clash, and zoo-badcmd's commands
    assert len(warnings_of(result)) == len(BROKEN) + 3
    rows = plugin_rows(run_zoo)
    assert {name: rows[name]["status"] for name in FIXTURE_PLUGINS} == {
        "zoo-acme": "ok", "zoo-clash": "ok", **{name: "failed" for name in BROKEN}}
    assert rows["zoo-acme"]["version"] == "1.2.3"
    assert rows["zoo-acme"]["components"] == {kind: 1 for kind in (
        "backbone", "head", "model", "layer", "loss", "initializer")}
    assert rows["keras-zoo"]["status"] == "ok"


def test_a_plugin_whose_commands_fail_is_partial_not_ok(run_zoo):
    listed = run_zoo("list", plugins=("zoo-badcmd",))
    assert listed.returncode == 0 and "badcmd_scale" in listed.stdout  # its layer still works
    assert warnings_of(listed) == ["zoo: warning: plugin zoo-badcmd could not add its commands: "
                                   "RuntimeError: click 9 renamed this decorator"]
    row = plugin_rows(run_zoo, plugins=("zoo-badcmd",))["zoo-badcmd"]
    assert row["status"] == "partial" and "its commands do not" in row["error"]
    table = run_zoo("plugins", "list", plugins=("zoo-badcmd",)).stdout
    assert any(line.split()[:3] == ["zoo-badcmd", "0.1.0", "partial"]
               for line in table.splitlines())


def test_installing_a_clashing_plugin_warns_once_per_clash(run_zoo, tmp_path, pip_install_target):
    import shutil

    fixtures = Path(__file__).parent / "fixtures"
    for dist in ("zoo-acme", "zoo-clash"):  # pip builds in-tree: copies keep tests/ clean
        shutil.copytree(fixtures / dist, tmp_path / dist)
    site = tmp_path / "site"
    pip_install_target(site, tmp_path / "zoo-acme")
    result = run_zoo("plugins", "install", str(tmp_path / "zoo-clash"), site=False, path=[site],
                     plugins=("zoo-acme", "zoo-clash"), env={
                         "PIP_TARGET": str(site), "PIP_NO_DEPS": "1", "PIP_QUIET": "1",
                         "PIP_NO_BUILD_ISOLATION": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert result.returncode == 0, result.stderr
    clashes = [line for line in result.stderr.splitlines() if "claimed by" in line]
    assert len(clashes) == 2 and all(line.startswith("zoo: warning: ") for line in clashes)
    assert "ZooPluginWarning" not in result.stderr and "Installed." in result.stdout


def test_plugins_list_table_shows_versions_errors_and_requirements(run_zoo):
    result = run_zoo("plugins", "list", "--requirements", plugins=("zoo-acme", "zoo-broken"))
    assert result.returncode == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:] if line.strip()}
    assert "1.2.3" in lines["zoo-acme"] and "ok" in lines["zoo-acme"]
    assert "failed" in lines["zoo-broken"] and "acme_secret_sauce" in lines["zoo-broken"]


def test_a_name_clash_is_reported_and_the_bare_name_refused(run_zoo):
    both = ("zoo-acme", "zoo-clash")
    result = run_zoo("list", "layers", plugins=both)
    assert result.returncode == 0
    model_warning, layer_warning = warnings_of(result)  # in kind order: models before layers
    assert "layer name 'acme_scale' is claimed by zoo-acme and zoo-clash" in layer_warning
    assert "'zoo-clash:acme_scale'" in layer_warning and "'acme_mlp'" in model_warning
    assert result.stdout.count("acme_scale") == 2  # both listed, neither shadowed

    refused = run_zoo("train", "acme_mlp", plugins=both)  # using the name on the command line
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    error = refused.stderr.splitlines()[-1]
    assert error.startswith("Error: model 'acme_mlp' is provided by zoo-acme and zoo-clash; "
                            "use 'zoo-acme:acme_mlp' or 'zoo-clash:acme_mlp'")

    use = "import zoo; print(zoo.spec('layer', {!r}).summary)"
    refused = run_zoo(code=use.format("acme_scale"), plugins=both)
    assert "zoo.errors.ZooError: layer 'acme_scale' is provided by zoo-acme and zoo-clash" in \
        refused.stderr
    picked = run_zoo(code=use.format("zoo-clash:acme_scale"), plugins=both)
    assert picked.stdout.strip() == "Clashing rescaling"

    info = run_zoo("info", "acme_scale", "--json", plugins=both)
    assert {row["plugin"] for row in json.loads(info.stdout)} == {"zoo-acme", "zoo-clash"}


def test_disable_and_allow_lists_take_distribution_names(run_zoo):
    everything = {"ZOO_LOAD_PLUGINS": ""}  # empty: no allow-list
    rows = plugin_rows(run_zoo, env={**everything, "ZOO_DISABLE_PLUGINS": "zoo_acme,ZOO-BROKEN"})
    assert rows["zoo-acme"]["status"] == rows["zoo-broken"]["status"] == "disabled"
    assert rows["zoo-clash"]["status"] == "ok"

    rows = plugin_rows(run_zoo, plugins=("zoo-clash",))
    assert rows["zoo-clash"]["status"] == "ok" and rows["zoo-acme"]["status"] == "disabled"
    assert rows["keras-zoo"]["status"] == "ok"  # the built-in plugin ignores the allow-list

    result = run_zoo("--no-plugin", "zoo-acme", "list", "--json", plugins=("zoo-acme",))
    assert "acme_tiny" not in result.stdout and result.returncode == 0
    assert "zoo-acme" not in result.stderr  # a disabled plugin is not a problem to warn about


def test_a_plugin_command_appears_in_help_and_runs(run_zoo):
    help_text = run_zoo("--help", plugins=("zoo-acme",)).stdout
    assert "acme-hello" in help_text and "Greet from the acme plugin." in help_text
    assert run_zoo("acme-hello", "tests", plugins=("zoo-acme",)).stdout == "hello tests from acme\n"
    assert "acme-hello" not in run_zoo("--no-plugin", "zoo-acme", "--help",
                                       plugins=("zoo-acme",)).stdout


def test_in_process_loading_matches_the_cli(plugin_site, monkeypatch):
    from zoo import plugins

    monkeypatch.syspath_prepend(str(plugin_site))
    loaded = plugins.load({"ZOO_LOAD_PLUGINS": "zoo-acme,zoo-broken"})
    assert loaded.infos["zoo-broken"].status == "failed"
    acme = [spec for spec in loaded.specs if spec.plugin == "zoo-acme"]
    assert sorted(spec.kind for spec in acme) == sorted(KINDS)
    assert loaded.manager.get_plugin("zoo-broken/zoo_broken") is None


def test_plugin_callbacks_join_every_task_and_a_failing_one_is_skipped(run_zoo, tmp_path):
    from zoo.data import write_digits
    from zoo_rnn.datasets import write_fortunes_csv

    digits = write_digits(tmp_path / "digits", limit=12)["path"]
    texts = write_fortunes_csv(tmp_path / "texts.csv", per_class=30)["path"]
    plugins = ("zoo-epochlog", "zoo-badlog", "zoo-transfer", "zoo-cnn", "zoo-rnn")
    jobs = {"image_classification": ("finetune", "plain_cnn", "--data", digits, "--weights",
                                     "none", "--image-size", "32"),
            "zoo_rnn.tasks:TextClassificationTask": ("train", "lstm_classifier", "--data", texts)}
    for task, args in jobs.items():
        out = tmp_path / task.split(":")[-1]
        result = run_zoo(*map(str, args), "--epochs", "2", "--out", str(out), plugins=plugins,
                         timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        rows = [json.loads(line) for line in (out / "epochlog.jsonl").read_text().splitlines()]
        assert [row["epoch"] for row in rows] == [1, 2]
        assert {(row["task"], row["run"]) for row in rows} == {(task, str(out))}
        told = [line for line in (result.stdout + result.stderr).splitlines() if "zoo-badlog" in line]
        assert len(told) == 1 and "tracking server unreachable" in told[0], told
        assert "training without its callbacks" in told[0] and "Traceback" not in result.stderr


def test_scaffolded_plugin_installs_lists_and_passes_its_own_tests(run_zoo, tmp_path,
                                                                    pip_install_target):
    every_part = ",".join([*KINDS, "task", "callbacks"])
    result = run_zoo("plugins", "new", "demo-kit", "--dir", str(tmp_path), "--kinds", every_part)
    assert result.returncode == 0, result.stderr
    package = tmp_path / "zoo-demo-kit"
    assert run_zoo("plugins", "new", "demo-kit", "--dir", str(tmp_path)).returncode == 1

    site = tmp_path / "site"
    pip_install_target(site, package)
    mine = {"plugins": ("zoo-demo-kit",), "path": [site]}
    listed = run_zoo("list", "--json", **mine)
    rows = [row for row in json.loads(listed.stdout) if row["plugin"] == "zoo-demo-kit"]
    assert sorted(row["kind"] for row in rows) == sorted([*KINDS, "model"])  # + the task's model
    # its own tests: one per component, check_layer on the layer, check_task on the task
    own_tests = run_zoo("-q", "-p", "no:cacheprovider", str(package / "tests"),
                        code="import sys, pytest; sys.exit(pytest.main(sys.argv[1:]))",
                        env={"PYTHONDONTWRITEBYTECODE": "1"}, timeout=300, **mine)
    assert own_tests.returncode == 0, own_tests.stdout[-2000:]
    assert "9 passed" in own_tests.stdout

    # the scaffold's whole model is trained by the built-in image task as it is
    from zoo.data import write_digits

    digits = write_digits(tmp_path / "digits", limit=10)["path"]
    with_transfer = {"plugins": ("zoo-demo-kit", "zoo-transfer"), "path": [site]}
    trained = run_zoo("train", "demo_kit_cnn", "--data", str(digits), "--epochs", "1",
                      "--out", str(tmp_path / "run"), timeout=300, **with_transfer)
    assert trained.returncode == 0, trained.stderr[-3000:]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["model"], config["image_size"]) == ("demo_kit_cnn", [32, 32])
    assert "accuracy" in json.loads((tmp_path / "run" / "metrics.json").read_text())

    # its task's model, on the rows its zoo data command writes; its callback logs every run
    rows = tmp_path / "rows.csv"
    assert run_zoo("data", "demo-kit-rows", str(rows), "--rows", "80", **mine).returncode == 0
    out = tmp_path / "rows-run"
    trained = run_zoo("train", "demo_kit_regressor", "--data", str(rows), "--epochs", "2",
                      "--out", str(out), timeout=300, **mine)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "Held-out (val split, 16 examples): mae " in trained.stdout
    for run in (tmp_path / "run", out):
        logged = [json.loads(line) for line in
                  (run / "demo-kit-epochs.jsonl").read_text().splitlines()]
        assert [row.get("epoch") for row in logged] == [*range(1, len(logged)), None]
        assert "model.keras" in logged[-1]["files"] and logged[-1]["headline"]


def test_scaffold_writes_only_the_kinds_asked_for(tmp_path):
    import zoo

    root = zoo.new_plugin("zoo-Lite", tmp_path, "layers,loss")
    hooks = (root / "zoo_lite" / "plugin.py").read_text()
    assert "def zoo_layers" in hooks and "def zoo_losses" in hooks and "zoo_backbones" not in hooks
    assert "import keras" not in hooks and f"ZOO_CONTRACT = {zoo.CONTRACT_VERSION}" in hooks
    assert 'lite = "zoo_lite.plugin"' in (root / "pyproject.toml").read_text()
    assert not (root / "zoo_lite" / "task.py").exists()

    root = zoo.new_plugin("solo", tmp_path, "task,callback")
    hooks = (root / "zoo_solo" / "plugin.py").read_text()
    assert {"zoo_models", "zoo_data_commands", "zoo_callbacks"} == set(
        re.findall(r"^def (zoo_\w+)", hooks, flags=re.M))
    assert not (root / "zoo_solo" / "components.py").exists()
    assert "check_task(" in (root / "tests" / "test_plugin.py").read_text()
    with pytest.raises(zoo.ZooError, match="unknown kind 'tasky'"):
        zoo.new_plugin("other", tmp_path, "tasky")


# -- the breaks a third-party plugin author hit (issue 20, item 8) ------------------------------

def venv_over_this_one(path):
    """A real, empty virtual environment that sees this one's packages (keras-zoo, pip,
    setuptools) through a .pth file, so ``pip install -e`` lands in it and leaves .venv alone."""
    import site
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    own_site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                              check=True, capture_output=True, text=True).stdout.strip()
    (Path(own_site) / "zz_keras_zoo.pth").write_text(
        f"import site; site.addsitedir({site.getsitepackages()[0]!r})\n")
    return python


def zoo_in(python, *args, plugins, env=None):
    """``python -m zoo ARGS`` with that interpreter, the allow-list ``plugins``, and pip told to
    build offline with the setuptools already installed."""
    import os
    import subprocess

    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ZOO_DISABLE_PLUGINS")}
    environ.update(ZOO_LOAD_PLUGINS=",".join(plugins), TF_CPP_MIN_LOG_LEVEL="3", PIP_NO_DEPS="1",
                   PIP_QUIET="1", PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1",
                   **(env or {}))
    return subprocess.run([str(python), "-m", "zoo", *args], env=environ, capture_output=True,
                          text=True, timeout=180)


@pytest.mark.parametrize("layout", ["flat", "src"])
def test_an_editable_install_loads_in_the_same_command(tmp_path, layout):
    # setuptools makes a flat package importable through an import hook its .pth file installs,
    # a src/ one through a path line: neither was processed by the process that ran pip.
    python = venv_over_this_one(tmp_path / "venv")
    made = zoo_in(python, "plugins", "new", "lab", "--dir", str(tmp_path), plugins=())
    assert made.returncode == 0, made.stderr
    package = tmp_path / "zoo-lab"
    if layout == "src":
        (package / "src").mkdir()
        (package / "zoo_lab").rename(package / "src" / "zoo_lab")
        pyproject = package / "pyproject.toml"
        pyproject.write_text(pyproject.read_text().replace("include =", 'where = ["src"]\ninclude ='))
    result = zoo_in(python, "plugins", "install", "-e", str(package), plugins=("zoo-lab",))
    assert result.returncode == 0, result.stderr
    assert warnings_of(result) == [], result.stderr
    assert "Loaded zoo-lab 0.1.0: 1 backbone, 1 head, 1 initializer, 1 layer, 1 loss, 1 model" \
        in result.stdout.splitlines()
    listed = zoo_in(python, "list", "--json", plugins=("zoo-lab",))
    assert {row["name"] for row in json.loads(listed.stdout) if row["plugin"] == "zoo-lab"} == {
        "lab_tiny", "lab_head", "lab_cnn", "lab_scale", "lab_loss", "lab_init"}


def test_a_hook_newer_than_an_undeclared_contract_says_none_is_declared(tmp_path,
                                                                         pip_install_target,
                                                                         run_zoo):
    source = tmp_path / "zoo-plain"
    source.mkdir()
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "zoo-plain"\nversion = "0.1.0"\n'
        '[project.entry-points.zoo]\nplain = "zoo_plain"\n')
    (source / "zoo_plain.py").write_text(
        "import zoo\n\n\n@zoo.hookimpl\ndef zoo_callbacks(run, task):\n    return []\n")
    pip_install_target(tmp_path / "site", source)
    row = plugin_rows(run_zoo, plugins=("zoo-plain",), site=False,
                      path=[tmp_path / "site"])["zoo-plain"]
    assert (row["status"], row["error"]) == ("failed", (
        "hook zoo_callbacks is part of plugin contract 2; declare ZOO_CONTRACT = 2 (the module "
        "declares none, which means contract 1)"))


def test_a_task_that_fails_to_import_names_its_plugin(tmp_path, pip_install_target, run_zoo):
    import shutil

    source = tmp_path / "zoo-tinytask"
    shutil.copytree(Path(__file__).parent / "fixtures" / "zoo-tinytask", source)
    task_module = source / "zoo_tinytask" / "task.py"
    task_module.write_text("import tinytask_dependency_not_installed\n" + task_module.read_text())
    pip_install_target(tmp_path / "site", source)
    result = run_zoo("train", "blobs", plugins=("zoo-tinytask",), site=False,
                     path=[tmp_path / "site"])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "Error: cannot import task 'zoo_tinytask.task:TinyTask': No module named "
        "'tinytask_dependency_not_installed'; reinstall zoo-tinytask or disable it with "
        "ZOO_DISABLE_PLUGINS=zoo-tinytask"], result.stderr


def test_an_unknown_name_points_at_the_plugin_that_failed_to_load(run_zoo):
    # 'broken_head' is not zoo-acme's 'acme_head': the failed plugin may provide it
    result = run_zoo("info", "broken_head", plugins=("zoo-acme", "zoo-broken"))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: no component named 'broken_head'; it may come from zoo-broken, which failed to "
        "load (ImportError: No module named 'acme_secret_sauce'): fix or reinstall it, see 'zoo "
        "plugins list'")
    trained = run_zoo("train", "broken_net", plugins=("zoo-acme", "zoo-broken"))
    assert trained.stderr.splitlines()[-1].startswith(
        "Error: unknown model 'broken_net'; it may come from zoo-broken, which failed to load")
    # with no plugin failing, a close name is still offered
    assert "did you mean 'acme_head'?" in run_zoo("info", "broken_head", plugins=ACME_ONLY).stderr
