"""The catalog and plugins commands, run as a user runs them: ``python -m zoo`` in a fresh process."""

import json

import pytest

ACME = ("zoo-acme",)


def test_list_filters_by_kind_and_wildcard(run_zoo):
    result = run_zoo("list", "backbones", "mob*", plugins=ACME)
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert "mobilenet_v2" in names and "acme_tiny" in names  # acme_tiny matches by its alias
    assert all(n.startswith("mob") or n == "acme_tiny" for n in names)
    assert result.stdout.startswith(f"backbones ({len(names)})")

    none = run_zoo("list", "losses", "zzz*", plugins=ACME)
    assert (none.returncode, none.stdout) == (0, "No losses match 'zzz*'.\n")

    # a pattern alone matches across kinds; a bare name is a pattern too
    anywhere = run_zoo("list", "acme_*", plugins=ACME)
    assert anywhere.returncode == 0, anywhere.stderr
    headings = [line.split()[0] for line in anywhere.stdout.splitlines() if not line[0].isspace()]
    assert headings == ["backbones", "heads", "models", "layers", "losses", "initializers"]
    assert "mobilenet_v2" not in anywhere.stdout
    exact = run_zoo("list", "mobilenet_v2", plugins=ACME).stdout
    assert exact.splitlines()[0] == "backbones (1)" and "mobilenet_v2" in exact


def test_list_json_rows_carry_name_kind_plugin_summary(run_zoo):
    rows = json.loads(run_zoo("list", "--json", plugins=ACME).stdout)
    acme = {row["kind"]: row for row in rows if row["plugin"] == "zoo-acme"}
    assert set(acme) == {"backbone", "head", "model", "layer", "loss", "initializer"}
    assert acme["layer"] == {"name": "acme_scale", "kind": "layer", "plugin": "zoo-acme",
                             "summary": "Multiplies by one learned scalar",
                             "aliases": ["acme_mul"], "target": "zoo_acme.parts:Scale"}
    assert any(row["plugin"] == "keras-zoo" and row["kind"] == "backbone" for row in rows)


def test_info_shows_every_spec_field(run_zoo):
    text = run_zoo("info", "mobile_acme", plugins=ACME).stdout
    assert text.splitlines()[0] == "acme_tiny (backbone, from zoo-acme)"
    assert "input_size    32" in text and "preprocess    scale_0_1" in text
    spec = json.loads(run_zoo("info", "acme_tiny", "--json", plugins=ACME).stdout)
    assert (spec["target"], spec["weights"], spec["aliases"]) == (
        "zoo_acme.parts:build_tiny", ["none"], ["mobile_acme"])
    assert json.loads(run_zoo("info", "acme_mlp", "--json", plugins=ACME).stdout)["task"] == \
        "image_classification"


@pytest.mark.parametrize("args, message", [
    (("info", "acme_tny"), "Error: no component named 'acme_tny'; did you mean 'acme_tiny'"),
    (("list", "backbon"), "Error: unknown kind 'backbon'; did you mean 'backbones'?"),
    (("list", "gadgets"), "Error: unknown kind 'gadgets'; kinds are: backbones, heads,"),
    (("info",), "Error: Missing argument 'NAME'. (see 'zoo info --help')"),
    (("lst",), "Error: No such command 'lst'. Did you mean 'list'?"),
    (("--bogus", "list"), "Error: No such option '--bogus'."),
    (("plugins", "new", "9lives"), "Error: plugin name '9lives' must start with a letter"),
    (("plugins", "new", "x", "--kinds", "gizmo"), "Error: unknown kind 'gizmo'"),
])
def test_every_error_is_one_line_without_traceback(run_zoo, args, message):
    result = run_zoo(*args, plugins=ACME)
    assert result.returncode in (1, 2)
    assert result.stderr.splitlines() == [result.stderr.splitlines()[0]]
    assert result.stderr.startswith(message), result.stderr


def test_shell_completion_offers_kinds_and_names(run_zoo):
    def complete(*words):
        env = {"_ZOO_COMPLETE": "bash_complete", "COMP_WORDS": " ".join(("zoo", *words)),
               "COMP_CWORD": str(len(words))}
        result = run_zoo(plugins=ACME, env=env)
        assert result.returncode == 0, result.stderr
        return [line.split(",", 1)[1] for line in result.stdout.splitlines()]

    assert complete("list", "ba") == ["backbones"]
    assert complete("list", "heads", "") == ["acme_head"]
    assert complete("info", "acme_") == ["acme_head", "acme_init", "acme_loss", "acme_mlp",
                                         "acme_mul", "acme_scale", "acme_tiny"]
    assert "acme-hello" in complete("ac")
    assert "complete -o nosort -F _zoo_completion zoo" in run_zoo("completion", "bash").stdout


def test_listing_imports_neither_tensorflow_nor_keras(run_zoo):
    # `python -X importtime -m zoo list` (PYTHONPROFILEIMPORTTIME=1 is -X importtime), then a look
    # at sys.modules too: importtime does not report modules loaded by importlib.import_module.
    code = ("import runpy, sys\nsys.argv = ['zoo', 'list']\ntry:\n"
            "    runpy.run_module('zoo', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('MODULES', *sorted(sys.modules), file=sys.stderr)")
    result = run_zoo(code=code, plugins=ACME, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert "acme_tiny" in result.stdout, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    loaded = set(result.stderr.splitlines()[-1].split()[1:])
    assert {"zoo_acme.plugin", "zoo.backbones", "zoo_cli.main"} <= loaded
    heavy = sorted(m for m in imported | loaded if m.split(".")[0] in ("tensorflow", "keras"))
    assert heavy == []


def test_version_and_help(run_zoo):
    assert run_zoo("--version").stdout.startswith("zoo, version ")
    assert "fine-tune" in run_zoo("-h").stdout
    bare = run_zoo("plugins", plugins=ACME)  # a group without its command shows its help
    assert "Commands:" in bare.stdout + bare.stderr and "Error:" not in bare.stderr


def test_train_help_lists_the_models_task_options(run_zoo):
    result = run_zoo("train", "acme_mlp", "--help", plugins=ACME)
    assert result.returncode == 0, result.stderr
    assert "Options of its task, image_classification:" in result.stdout
    assert "acme_mlp (zoo-acme)" in result.stdout
    assert "--head " not in result.stdout  # the backbone recipe's options are not a model's
    # acme_mlp is an image_classification model: its task's own options and the common ones.
    assert "--image-size" in result.stdout and "--epochs EPOCHS" in result.stdout
    bare = run_zoo("train", plugins=ACME)
    assert bare.returncode == 2 and "zoo list models" in bare.stdout
    for flag in ("--help", "-h"):  # no model named '--help'
        asked = run_zoo("train", flag, plugins=ACME)
        assert asked.returncode == 0 and "Usage: zoo train" in asked.stdout, asked.stderr
    # an option of the backbone + head recipe is refused for a whole model, not ignored
    refused = run_zoo("train", "acme_mlp", "--data", "anywhere", "--head", "classifier",
                      plugins=ACME)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines() == [
        "Error: --head belongs to the backbone + head recipe of 'zoo finetune BACKBONE'; "
        "'acme_mlp' is a whole model"]


def run_trained_with(path, plugin: str, version: str, model: str,
                     task: str = "image_classification"):
    """A run directory as training with ``plugin`` left it (its config.json), to use without it."""
    path.mkdir()
    (path / "config.json").write_text(json.dumps({
        "task": task, "model": model, "options": {},
        "versions": {"zoo": "0.2.0", "plugins": {"keras-zoo": "0.2.0", plugin: version}}}))
    return path


def test_a_run_whose_plugin_is_gone_names_the_distribution(run_zoo, tmp_path):
    run = tmp_path / "orchid-1"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({
        "task": "zoo_orchid.tasks:OrchidTask", "model": "orchid_net",
        "versions": {"zoo": "0.2.0", "plugins": {"keras-zoo": "0.2.0", "zoo-orchid": "0.3.0"}}}))
    for command in (("evaluate", str(run)), ("export", str(run))):
        result = run_zoo(*command, plugins=ACME)
        assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
        assert "was trained with zoo-orchid 0.3.0, which is not installed: zoo plugins install " \
               "zoo-orchid" in result.stderr, result.stderr


@pytest.mark.parametrize("command", ["train", "finetune"])
def test_resuming_a_run_whose_plugin_is_gone_names_the_distribution(run_zoo, tmp_path, command):
    run = run_trained_with(tmp_path / "orchid-1", "zoo-orchid", "0.3.0", "orchid_net")
    result = run_zoo(command, "orchid_net", "--data", str(tmp_path), "--out", str(run),
                     "--resume", plugins=("zoo-acme", "zoo-transfer"))
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    kind = "model" if command == "train" else "backbone"
    assert result.stderr.startswith(f"Error: unknown {kind} 'orchid_net'"), result.stderr
    assert result.stderr.rstrip().endswith(
        f"{run} was trained with zoo-orchid 0.3.0, which is not installed: zoo plugins install "
        f"zoo-orchid"), result.stderr


def test_a_run_whose_plugin_failed_to_load_says_why_not_install(run_zoo, tmp_path):
    run = run_trained_with(tmp_path / "broken-1", "zoo-broken", "0.1.0", "broken_net",
                           task="zoo_broken.tasks:BrokenTask")
    result = run_zoo("evaluate", str(run), plugins=("zoo-broken",))
    assert result.returncode == 1 and "zoo plugins install" not in result.stderr
    assert result.stderr.splitlines()[-1].endswith(
        "was trained with zoo-broken 0.1.0, which failed to load (ImportError: No module named "
        "'acme_secret_sauce'): fix or reinstall it, see 'zoo plugins list'"), result.stderr


def test_a_missing_default_head_names_the_plugin_that_provides_it(run_zoo, tmp_path):
    # ZOO_LOAD_PLUGINS=zoo-acme leaves zoo-transfer (the default head and loss) out
    result = run_zoo("finetune", "mobilenet_v2", "--data", str(tmp_path), "--weights", "none",
                     "--out", str(tmp_path / "run"), plugins=ACME)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "unknown head 'classifier'" in result.stderr
    assert "the default --head and --loss come from zoo-transfer, which is disabled: enable it " \
           "in ZOO_LOAD_PLUGINS / ZOO_DISABLE_PLUGINS; or pass --head" in result.stderr, \
        result.stderr
    assert not (tmp_path / "run").exists()  # failed before the run directory was made


def test_a_default_head_whose_plugin_failed_says_why_not_install(run_zoo, tmp_path,
                                                                  pip_install_target):
    # a zoo-transfer that fails to import, found before the real one
    source = tmp_path / "zoo-transfer"
    source.mkdir()
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "zoo-transfer"\nversion = "9.9"\n'
        '[project.entry-points.zoo]\ntransfer = "zoo_transfer_broken"\n')
    (source / "zoo_transfer_broken.py").write_text("import keras_zoo_heads_v9\n")
    pip_install_target(tmp_path / "site", source)
    result = run_zoo("finetune", "mobilenet_v2", "--data", str(tmp_path), "--weights", "none",
                     "--out", str(tmp_path / "run"), plugins=("zoo-transfer",),
                     path=[tmp_path / "site"])
    assert result.returncode == 1
    error = result.stderr.splitlines()[-1]
    assert "the default --head and --loss come from zoo-transfer, which failed to load " \
           "(ModuleNotFoundError: No module named 'keras_zoo_heads_v9'): fix or reinstall it" \
        in error, result.stderr
    assert "install or enable it" not in error
