"""From a trained model to decisions: thresholds, the positive class, class weights, missing
values at prediction time, which weights are saved, and reports that stay readable."""

import io
import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from conftest import assert_usage_error
from rich.console import Console
from sklearn.utils.class_weight import compute_class_weight
from test_own_table import animals, loans, write

import nettrain
from nettrain.cli import cli
from nettrain.nn.losses import get_loss


def run_cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def config(tmp_path, data, **extra):
    return {"data": data, "seed": 0, "output": str(tmp_path / "runs"),
            "model": {"layers": [{"type": "dense", "units": 8, "activation": "relu"},
                                 {"type": "dense", "units": "auto"}]},
            "optimizer": {"name": "adam", "lr": 0.05}, "training": {"epochs": 4, "batch_size": 32},
            **extra}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A binary run (5% minority, balanced weights), a multi-class run and a regression run."""
    base = tmp_path_factory.mktemp("decisions")
    write(base, "loans.csv", loans(600))
    write(base, "animals.csv", animals())
    frame = loans(300).drop(columns="default")
    write(base, "rates.csv", frame)
    out = {}
    out["binary"] = nettrain.fit(config(base, {"path": str(base / "loans.csv"), "target": "default",
                                               "exclude": ["loan_id"]},
                                        loss={"name": "cross_entropy", "class_weights": "balanced"},
                                        metrics=["accuracy", "f1"]), quiet=True).path
    out["many"] = nettrain.fit(config(base, {"path": str(base / "animals.csv"), "target": "species",
                                             "exclude": ["code"], "missing_target": "drop"}),
                               quiet=True).path
    out["regression"] = nettrain.fit(config(base, {"path": str(base / "rates.csv"), "target": "rate",
                                                   "exclude": ["loan_id"]}, loss="mse",
                                            metrics=["mae"]), quiet=True).path
    out["base"] = base
    return out


# ---------------------------------------------------------------- predict


def test_predict_ignores_the_target_column(runs, tmp_path):
    frame = loans(20, seed=5)
    frame["default"] = ["maybe", None] * 10  # unseen labels and gaps in the target
    result = run_cli("predict", runs["binary"], write(tmp_path, "new.csv", frame))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout))
    assert len(table) == 20 and set(table["predicted_default"]) <= {"yes", "no"}


def test_predict_missing_drop_or_mean(runs, tmp_path):
    frame = loans(10, seed=6)
    frame.loc[[2, 7], "rate"] = np.nan
    path = write(tmp_path, "gaps.csv", frame)
    assert_usage_error(run_cli("predict", runs["binary"], path), "Missing or non-finite values",
                       "--missing drop", "--missing mean")
    dropped = run_cli("predict", runs["binary"], path, "--missing", "drop")
    assert dropped.exit_code == 0, dropped.output
    table = pd.read_csv(io.StringIO(dropped.stdout))
    assert table["predicted_default"].isna().tolist() == [i in (2, 7) for i in range(10)]
    assert "Warning: Left out 2 of 10 row(s) with missing values (rate)" in dropped.stderr
    assert dropped.stderr.count("Warning:") == 1
    filled = run_cli("predict", runs["binary"], path, "--missing", "mean")
    assert filled.exit_code == 0 and pd.read_csv(io.StringIO(filled.stdout)).notna().all().all()
    run = nettrain.load(runs["binary"])
    mean = run.preprocessor.fill[run.preprocessor.numeric.index("rate")]
    same = frame.fillna({"rate": mean})
    assert run.predict_array(same).tolist() == pd.read_csv(io.StringIO(filled.stdout))[
        "predicted_default"].tolist()


def test_threshold_moves_the_binary_decision(runs, tmp_path):
    run = nettrain.load(runs["binary"])
    frame = loans(200, seed=7)
    p_yes = run.predict_proba(frame)[:, 1]
    for threshold in (0.2, 0.5, 0.8):
        expected = np.where(p_yes >= threshold, "yes", "no")
        assert run.predict_array(frame, threshold=threshold).tolist() == expected.tolist()
        table = nettrain.predict(runs["binary"], frame, threshold=threshold)
        assert table["predicted_default"].tolist() == expected.tolist()
    low = json.loads(run_cli("evaluate", runs["binary"], "--threshold", "0.2", "--json").stdout)
    high = json.loads(run_cli("evaluate", runs["binary"], "--threshold", "0.8", "--json").stdout)
    assert low["threshold"] == 0.2 and high["threshold"] == 0.8
    assert low["positive"]["recall"] >= high["positive"]["recall"]
    assert low["roc_auc"] == high["roc_auc"]  # a ranking score: no threshold
    assert_usage_error(run_cli("evaluate", runs["many"], "--threshold", "0.3"),
                       "--threshold applies to binary classification", "has 8 classes")
    assert_usage_error(run_cli("predict", runs["binary"], write(tmp_path, "x.csv", frame),
                               "--threshold", "1.5"), "strictly between 0 and 1")


def test_proba_on_a_regression_run_is_an_error(runs, tmp_path):
    path = write(tmp_path, "r.csv", loans(10).drop(columns="default"))
    assert_usage_error(run_cli("predict", runs["regression"], path, "--proba"),
                       "--proba gives class probabilities", "is a regression run")


# ---------------------------------------------------------------- losses


def test_balanced_and_mapped_class_weights():
    y = np.array([0] * 90 + [1] * 8 + [2] * 2)
    loss = get_loss({"name": "cross_entropy", "class_weights": "balanced"})
    loss.bind(["a", "b", "c"], np.bincount(y).tolist())
    assert loss.weight_list == pytest.approx(compute_class_weight("balanced", classes=np.arange(3), y=y))
    loss = get_loss({"name": "cross_entropy", "class_weights": {"c": 10, "a": 0.5}})
    assert loss.bind(["a", "b", "c"], None).weight_list == [0.5, 1.0, 10.0]
    assert loss.config() == {"name": "cross_entropy", "class_weights": {"c": 10.0, "a": 0.5}}


def test_weighted_binary_cross_entropy_matches_torch_and_its_gradient():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(12, 1)) * 3, rng.integers(0, 2, 12)
    loss = get_loss({"name": "binary_cross_entropy", "class_weights": {"no": 1.0, "yes": 4.0}})
    loss.bind(["no", "yes"], None)
    value = loss.forward(z, y)
    grad = loss.backward()
    zt = torch.tensor(z, requires_grad=True)
    w = torch.tensor(np.where(y == 1, 4.0, 1.0)[:, None])
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        zt, torch.tensor(y[:, None], dtype=torch.float64), weight=w, reduction="sum") / w.sum()
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-10)
    eps, numeric = 1e-6, np.zeros_like(z)
    for i in range(len(z)):  # central differences, float64
        up, down = z.copy(), z.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = (loss.forward(up, y) - loss.forward(down, y)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- after training


def test_the_summary_names_the_saved_epoch(tmp_path):
    write(tmp_path, "l.csv", loans(300))
    data = {"path": str(tmp_path / "l.csv"), "target": "default", "exclude": ["loan_id"]}
    for save, word in (("best", "the best val_loss"), ("last", "the last epoch")):
        out = io.StringIO()
        run = nettrain.fit(config(tmp_path, data, training={"epochs": 6, "save": save}),
                           console=Console(file=out, width=200))
        metrics = run.metrics
        assert metrics["weights"] == save
        epoch = metrics["best_epoch"] if save == "best" else 6
        assert metrics["weights_epoch"] == epoch
        assert f"Saved weights: epoch {epoch} ({word})" in out.getvalue()


def test_save_overrides_restore_best_and_follows_the_early_stopping_monitor(tmp_path):
    write(tmp_path, "a.csv", animals())
    data = {"path": str(tmp_path / "a.csv"), "target": "species", "exclude": ["code"],
            "missing_target": "drop"}
    stopping = {"monitor": "val_accuracy", "patience": 50, "restore_best": False}
    for save in ("best", "last", "auto"):
        run = nettrain.fit(config(tmp_path, data, optimizer={"name": "sgd", "lr": 0.2},
                                  training={"epochs": 12, "save": save,
                                            "early_stopping": stopping}), quiet=True)
        history = pd.read_csv(run.path / "history.csv")
        best = int(history["epoch"][history["val_accuracy"].idxmax()])  # the first best epoch
        # neither the last epoch nor the best val_loss is the best val_accuracy here
        assert best < 12 and best != int(history["epoch"][history["val_loss"].idxmin()])
        expected = best if save == "best" else 12  # auto: restore_best is false, so the last
        assert run.metrics["weights_epoch"] == expected, save
        assert run.metrics["val"]["accuracy"] == pytest.approx(
            history["val_accuracy"][expected - 1])


def test_a_class_never_predicted_is_warned_about(tmp_path):
    write(tmp_path, "l.csv", loans(300))
    data = {"path": str(tmp_path / "l.csv"), "target": "default", "exclude": ["loan_id"]}
    out = io.StringIO()
    run = nettrain.fit(config(tmp_path, data, training={"epochs": 3}),
                       console=Console(file=out, width=300))
    # the count is the val split's 'yes' rows (evaluate's support), not the rows predicted 'yes'
    [support] = [c["support"] for c in nettrain.evaluate(run, split="val")["per_class"]
                 if c["class"] == "yes"]
    assert support > 0
    assert f"Warning: the model never predicts 'yes' ({support} row(s)) on the val split" in out.getvalue()
    assert "loss.class_weights: balanced, or a lower threshold (e.g. threshold: 0.3)" in out.getvalue()
    # --quiet prints the run directory and the final metrics, not the warning
    out = io.StringIO()
    quiet = nettrain.fit(config(tmp_path, data, training={"epochs": 3}), quiet=True,
                         console=Console(file=out, width=300))
    assert nettrain.evaluate(quiet, split="val")["never_predicted"] == ["yes"]
    assert str(quiet.path) in out.getvalue() and "never predicts" not in out.getvalue()


@pytest.mark.parametrize("n_classes, more", [(11, ""), (12, " and 1 more")])
def test_the_never_predicted_warning_lists_ten_classes_then_counts_the_rest(tmp_path, n_classes, more):
    # a constant feature scales to 0, so every row gets the same prediction: one class is
    # predicted, and each of the others (3 of its 20 rows in val) is never predicted
    labels = [f"c{i:02d}" for i in range(n_classes)]
    write(tmp_path, "c.csv", pd.DataFrame({"x": 1.0, "k": np.repeat(labels, 20)}))
    out = io.StringIO()
    run = nettrain.fit(config(tmp_path, {"path": str(tmp_path / "c.csv"), "target": "k"},
                              training={"epochs": 1}), console=Console(file=out, width=2000))
    missed = nettrain.evaluate(run, split="val")["never_predicted"]
    assert len(missed) == n_classes - 1
    listed = ", ".join(f"'{c}' (3 row(s))" for c in missed[:10])
    assert f"Warning: the model never predicts {listed}{more} on the val split." in out.getvalue()


def test_a_regression_run_prints_no_class_warning(tmp_path):
    write(tmp_path, "r.csv", loans(100).drop(columns="default"))
    out = io.StringIO()
    run = nettrain.fit(config(tmp_path, {"path": str(tmp_path / "r.csv"), "target": "rate",
                                         "exclude": ["loan_id"]}, loss="mse", metrics=["mae"],
                              training={"epochs": 1}), console=Console(file=out, width=300))
    assert run.metrics["epochs_run"] == 1
    assert f"Run directory: {run.path}" in out.getvalue() and "Warning" not in out.getvalue()


def test_fit_quiet_prints_nothing(tmp_path, capsys):
    write(tmp_path, "l.csv", loans(100))
    nettrain.fit(config(tmp_path, {"path": str(tmp_path / "l.csv"), "target": "default"},
                        training={"epochs": 1}), quiet=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# ---------------------------------------------------------------- reports


def test_many_classes_show_top_confusions_and_labels_literally(runs, tmp_path):
    from nettrain.commands import evaluate

    report = nettrain.evaluate(runs["many"], split="train")
    labels = report["confusion_matrix"]["labels"]
    assert "[other]" in labels and "[/]" in labels
    out = io.StringIO()
    evaluate.print_report(Console(file=out, width=200), report)
    text = out.getvalue()
    assert "[other]" in text and "[/]" in text  # printed, not taken for markup
    monkey = dict(report, confusion_matrix={"labels": labels * 2,
                                            "matrix": np.eye(len(labels) * 2, dtype=int).tolist()})
    monkey["confusion_matrix"]["matrix"][0][3] = 5
    out = io.StringIO()
    evaluate.print_report(Console(file=out, width=200), monkey)
    text = out.getvalue()
    assert f"Top confusions ({2 * len(labels)} classes)" in text and "--confusion-csv FILE" in text
    result = run_cli("evaluate", runs["many"], "--split", "train", "--confusion-csv",
                     tmp_path / "cm.csv")
    assert result.exit_code == 0, result.output
    matrix = pd.read_csv(tmp_path / "cm.csv")
    assert matrix.columns[0] == "true \\ predicted" and list(matrix.columns[1:]) == labels


def test_json_report_has_no_nan(runs, tmp_path):
    frame = loans(20, seed=8).assign(default="no")  # one class: ROC AUC is undefined
    result = run_cli("evaluate", runs["binary"], "--data", write(tmp_path, "one.csv", frame), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["roc_auc"] is None


def test_pos_label_picks_the_positive_class(tmp_path):
    write(tmp_path, "l.csv", loans(300))
    data = {"path": str(tmp_path / "l.csv"), "target": "default", "exclude": ["loan_id"],
            "pos_label": "no"}
    run = nettrain.fit(config(tmp_path, data, metrics=["recall"]), quiet=True)
    report = run.evaluate()
    assert report["positive"]["class"] == "no"
    assert report["positive"]["recall"] == pytest.approx(report["per_class"][0]["recall"])
    bad = dict(data, pos_label="maybe")
    with pytest.raises(nettrain.errors.ConfigError, match=r"data.pos_label: 'maybe' is not a class"):
        nettrain.fit(config(tmp_path, bad), quiet=True)
