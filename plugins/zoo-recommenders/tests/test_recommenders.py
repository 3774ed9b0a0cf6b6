"""zoo-recommenders: the three models trained through ``zoo train`` on synthetic interactions
with genre structure, judged against the popularity and rank-8 SVD baselines; recommend, export
through the core's pipeline (zoo.export), data handling. One two_tower run is shared by the session (about 10 s on 2 cores)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from zoo_cli.main import cli
from zoo_recommenders import data as rdata


@pytest.fixture(scope="session")
def interactions_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("interactions") / "interactions.csv"
    rdata.write_synthetic(path, n_users=1000, n_items=400, seed=0)
    return path


@pytest.fixture(scope="session")
def two_tower_run(interactions_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "two_tower"
    return zoo.train("two_tower", data=interactions_csv, out=str(out), epochs=5, dim=16,
                     log=lambda line: None).run


def test_two_tower_beats_popularity_and_is_close_to_svd(two_tower_run):
    metrics = two_tower_run.read("metrics.json")
    recall, baselines = metrics["recall@10"], metrics["baselines"]
    assert metrics["users"] == 1000
    assert recall >= 1.5 * baselines["popular"]["recall@10"]
    assert recall >= 0.85 * baselines["svd_rank8"]["recall@10"]
    assert metrics["ndcg@10"] > baselines["popular"]["ndcg@10"]
    assert {"splits.json", "history.csv", "curves.png", "model.keras"} <= {
        p.name for p in two_tower_run.path.iterdir()}


def test_item_knn_and_matrix_factorization_learn_and_cannot_export(interactions_csv, tmp_path):
    knn = zoo.train("item_knn", data=interactions_csv, out=str(tmp_path / "knn"),
                    log=lambda line: None)
    assert knn.metrics["recall@10"] >= 1.5 * knn.metrics["baselines"]["popular"]["recall@10"]
    small = tmp_path / "small.csv"
    rdata.write_synthetic(small, n_users=300, n_items=100, per_user=20, seed=1)
    mf = zoo.train("mf", data=small, out=str(tmp_path / "mf"), epochs=8, log=lambda line: None)
    assert mf.metrics["rmse"] < 0.85 * mf.metrics["rmse_mean_baseline"]
    for run in (knn.run, mf.run):  # no towers: nothing to serve, nothing written
        with pytest.raises(zoo.ZooError, match=r"towers \(two_tower\)") as error:
            zoo.export(run.path, format="saved_model")
        assert "\n" not in str(error.value)
        assert not run.file("exports").exists()


def test_cli_prints_the_ranking_headline_and_patience_stops_on_training_loss(tmp_path):
    """The end of ``zoo train`` and ``zoo evaluate RUN`` print the same line of the figures a
    recommender is judged on (recall@K and NDCG@K at --k), saying which interactions they were
    measured on. ``--patience 2`` stops two_tower after two epochs without a lower training loss,
    as its help says (at learning rate 0 on one batch the loss never falls); item_knn, whose
    help says patience is not used, takes ``--patience 0`` and refuses more in one line."""
    import csv
    import fnmatch
    import re

    from zoo_recommenders.tasks import CooccurrenceTask, RetrievalTask

    data = tmp_path / "small.csv"
    rdata.write_synthetic(data, n_users=60, n_items=30, per_user=10, seed=0)
    runner = CliRunner()

    def headline(result, task, k: int) -> str:
        """The one Held-out line of ``result``: recall@K and NDCG@K, each a figure ``task``
        declares in HEADLINE, every figure shown to four places."""
        lines = [line for line in result.output.splitlines() if line.startswith("Held-out")]
        assert len(lines) == 1, result.output
        found = re.fullmatch(r"Held-out \(last 2 interactions of \d+ users\): (.+)", lines[0])
        assert found, lines[0]
        figures = dict(pair.split(" ") for pair in found.group(1).split(", "))
        assert {f"recall@{k}", f"ndcg@{k}"} <= set(figures), lines[0]
        assert all(any(fnmatch.fnmatchcase(name, pattern) for pattern in task.HEADLINE)
                   for name in figures), lines[0]
        assert all(re.fullmatch(r"\d+\.\d{4}", value) for value in figures.values()), lines[0]
        assert 0 <= float(figures[f"recall@{k}"]) <= 1 and 0 <= float(figures[f"ndcg@{k}"]) <= 1
        return lines[0]

    def training(run) -> dict:
        return json.loads((run / "metrics.json").read_text())["training"]

    out = tmp_path / "two_tower"
    trained = runner.invoke(cli, ["train", "two_tower", "--data", str(data), "--epochs", "10",
                                  "--patience", "2", "--lr", "0", "--batch-size", "4096",
                                  "--dim", "8", "--k", "5", "--out", str(out)])
    assert trained.exit_code == 0, trained.output
    line = headline(trained, RetrievalTask, k=5)
    evaluated = runner.invoke(cli, ["evaluate", str(out)])
    assert evaluated.exit_code == 0, evaluated.output
    assert headline(evaluated, RetrievalTask, k=5) == line
    summary = training(out)
    assert summary["monitor"] == RetrievalTask.MONITOR.metric == "loss"
    assert summary["stopped_early"]
    with open(out / "history.csv", newline="") as rows:
        losses = [float(row["loss"]) for row in csv.DictReader(rows)]
    assert len(losses) == summary["epochs"] == summary["best_epoch"] + 2 < 10
    assert min(losses) == losses[summary["best_epoch"] - 1]  # the last two were not lower

    refused = runner.invoke(cli, ["train", "item_knn", "--data", str(data), "--patience", "2",
                                  "--out", str(tmp_path / "knn")])
    assert refused.exit_code == 1 and "--patience" in refused.output, refused.output
    assert len(refused.output.strip().splitlines()) == 1 and not (tmp_path / "knn").exists()
    knn = runner.invoke(cli, ["train", "item_knn", "--data", str(data), "--patience", "0",
                              "--out", str(tmp_path / "knn")])
    assert knn.exit_code == 0, knn.output
    line = headline(knn, CooccurrenceTask, k=10)
    assert CooccurrenceTask.MONITOR is None
    summary = training(tmp_path / "knn")
    assert summary["monitor"] is None and not summary["stopped_early"] and summary["epochs"] == 1
    assert headline(runner.invoke(cli, ["evaluate", str(tmp_path / "knn")]),
                    CooccurrenceTask, k=10) == line


def test_recommend_leaves_out_training_items_and_handles_unknown_users(two_tower_run):
    from zoo_recommenders.api import recommend

    splits = two_tower_run.read("splits.json")
    seen = {row[1] for row in splits["train"] if row[0] == "u0003"}
    result = CliRunner().invoke(cli, ["recommend", str(two_tower_run.path), "--user", "u0003",
                                      "--user", "stranger", "--k", "10", "--json"])
    assert result.exit_code == 0, result.output
    recs = json.loads(result.stdout)
    assert list(recs) == ["u0003", "stranger"]
    assert len(recs["u0003"]) == 10 and not seen & {r["item"] for r in recs["u0003"]}
    scores = [r["score"] for r in recs["u0003"]]
    assert scores == sorted(scores, reverse=True)
    assert "unknown user" in result.stderr
    popular = recommend(two_tower_run, ["stranger"], k=3)
    assert popular.notes == {"stranger": "unknown user: most popular items"}
    assert [r["item"] for r in popular.items["stranger"]] == \
        [r["item"] for r in recs["stranger"][:3]]


def test_export_towers_and_retrieval(two_tower_run):
    import tensorflow as tf

    report = zoo.export(two_tower_run.path, format="saved_model")
    k = two_tower_run.config["options"]["k"]
    folder = two_tower_run.file("exports")
    assert report["passed"] and report["artifact"] == str(folder)
    assert set(report["artifacts"]) == {"query_tower", "candidate_tower", "retrieval"}
    assert report["artifacts"]["retrieval"]["agreement"] == 1.0
    assert report["artifacts"]["retrieval"]["k"] == k
    assert report["artifacts"]["query_tower"]["max_abs_diff"] < 1e-4
    assert set(json.loads((folder / "export-report.json").read_text())) == set(report["artifacts"])

    retrieval = tf.saved_model.load(report["artifacts"]["retrieval"]["artifact"])
    out = retrieval.signatures["serving_default"](user=tf.constant(["u0003", "u0004"]))
    assert out["items"].shape == (2, k) and out["items"].dtype == tf.string
    assert out["scores"].dtype == tf.float32
    # the same items as brute-force scoring with the Keras towers, best first
    model = two_tower_run.load_model(compile=False)
    scores = (model.query_tower(tf.constant(["u0003", "u0004"])).numpy()
              @ model.candidate_tower(tf.constant(model.items)).numpy().T)
    best = np.asarray(model.items)[np.argsort(-scores, axis=1, kind="stable")[:, :k]]
    assert (out["items"].numpy().astype(str) == best).mean() >= 0.9  # ties may swap places
    query = tf.saved_model.load(report["artifacts"]["query_tower"]["artifact"])
    embedding = query.signatures["serving_default"](user=tf.constant(["u0003"]))["embedding"]
    assert np.isclose(np.linalg.norm(embedding.numpy()), 1.0, atol=1e-4)
    candidate = tf.saved_model.load(report["artifacts"]["candidate_tower"]["artifact"])
    vectors = candidate.signatures["serving_default"](item=tf.constant(model.items[:3]))
    assert vectors["embedding"].shape == (3, embedding.shape[-1])


def test_a_tower_that_differs_from_keras_is_kept_as_rejected(two_tower_run, monkeypatch,
                                                            tmp_path):
    from zoo import exporting

    def skewed(spec, path):  # a SavedModel whose query embeddings are off by 0.5
        import dataclasses

        if spec.name == "query_tower":
            embed = spec.function
            spec = dataclasses.replace(spec, function=lambda user: {
                "embedding": embed(user)["embedding"] + 0.5})
        write(spec, path)

    write = exporting.write_saved_model
    monkeypatch.setattr(exporting, "write_saved_model", skewed)
    with pytest.raises(zoo.ZooError, match="differ from the Keras model") as error:
        zoo.export(two_tower_run.path, format="saved_model", out=tmp_path / "serving")
    assert "query_tower.rejected" in str(error.value)
    assert (tmp_path / "serving" / "query_tower.rejected" / "saved_model.pb").is_file()
    assert not (tmp_path / "serving" / "query_tower").exists()
    report = json.loads((tmp_path / "serving" / "export-report.json").read_text())
    assert report["query_tower.rejected"]["passed"] is False


def test_export_refuses_tflite_in_one_line(two_tower_run):
    with pytest.raises(zoo.ZooError, match="saved_model") as error:
        zoo.export(two_tower_run, format="tflite")
    assert "\n" not in str(error.value) and "tflite" in str(error.value)


def test_models_reload_in_a_fresh_process(two_tower_run):
    code = ("import sys, zoo; m = zoo.load_model(sys.argv[1]); "
            "print(type(m).__name__, len(m.items))")
    out = subprocess.run([sys.executable, "-c", code, str(two_tower_run.model_path)],
                         capture_output=True, text=True, check=True).stdout
    assert out.split()[-2:] == ["TwoTower", "400"]


def test_split_by_time_holds_out_each_users_last_interactions():
    data = rdata.Interactions(np.array(["a"] * 5 + ["b"] * 2), np.array(list("vwxyzpq")),
                              None, np.array([5, 1, 4, 2, 3, 1, 2], float))
    train, test = rdata.split_by_time(data, holdout=2)
    assert sorted(test.item.tolist()) == ["v", "x"]  # a's two latest; b is too short to split
    assert sorted(train.item.tolist()) == ["p", "q", "w", "y", "z"]


def test_synthetic_data_is_seeded_and_structured(tmp_path):
    a, b = rdata.synthetic(n_users=50, seed=3), rdata.synthetic(n_users=50, seed=3)
    assert (a.item == b.item).all() and len(set(a.user)) == 50
    assert not (rdata.synthetic(n_users=50, seed=4).item[:20] == a.item[:20]).all()
    result = CliRunner().invoke(cli, ["data", "interactions", str(tmp_path / "i.csv"),
                                      "--users", "50", "--seed", "3"])
    assert result.exit_code == 0, result.output
    written = rdata.read_csv(tmp_path / "i.csv")
    assert (written.item == a.item).all() and np.allclose(written.rating, a.rating, atol=1e-5)


def test_bad_data_is_a_one_line_error(tmp_path, interactions_csv, monkeypatch):
    bad = tmp_path / "bad.csv"
    bad.write_text("customer,product\n1,2\n")
    monkeypatch.chdir(tmp_path)  # where the default runs/<name>-<n> would go
    result = CliRunner().invoke(cli, ["train", "two_tower", "--data", str(bad)])
    assert result.exit_code == 1 and "user,item" in result.output
    assert not (tmp_path / "runs").exists()  # nothing left behind for a run that never started
    implicit = tmp_path / "implicit.csv"
    implicit.write_text("user,item\n" + "".join(f"u{i % 7},i{i % 11}\n" for i in range(60)))
    with pytest.raises(zoo.ZooError, match="no rating column"):
        zoo.train("matrix_factorization", data=implicit, out=str(tmp_path / "mf"))
    with pytest.raises(zoo.ZooError, match="not a recommender run"):
        from zoo_recommenders.api import recommend
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "config.json").write_text('{"task": "image_classification"}')
        recommend(tmp_path / "other", ["u1"])


def test_hook_module_is_light():
    code = ("import sys, zoo_recommenders.plugin, zoo; zoo.list('model'); "
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
