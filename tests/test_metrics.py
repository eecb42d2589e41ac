"""Metrics: hand-worked tiny cases, then cross-checks against scikit-learn."""

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from nettrain.errors import ConfigError, DataError
from nettrain.nn.metrics import (
    METRICS,
    LoggedMetrics,
    check_metrics,
    classification_report,
    confusion_matrix,
    metric_mode,
    metric_task,
    regression_report,
)

# Six samples, three classes. Predicted classes (argmax of each row): 0 1 1 1 2 0.
Y3 = np.array([0, 0, 1, 1, 2, 2])
P3 = np.array([
    [0.8, 0.1, 0.1],    # true 0, predicted 0, p_true 0.8
    [0.3, 0.6, 0.1],    # true 0, predicted 1, p_true 0.3
    [0.2, 0.7, 0.1],    # true 1, predicted 1, p_true 0.7
    [0.1, 0.5, 0.4],    # true 1, predicted 1, p_true 0.5
    [0.25, 0.25, 0.5],  # true 2, predicted 2, p_true 0.5
    [0.5, 0.2, 0.3],    # true 2, predicted 0, p_true 0.3
])


def identity(x):
    return x


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def score(name, y, scores):
    return METRICS[name]()(y, scores)


def test_confusion_matrix_by_hand():
    # rows true, columns predicted: (0,0) (0,1) (1,1) (1,1) (2,2) (2,0)
    cm = confusion_matrix(Y3, [0, 1, 1, 1, 2, 0], 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_multiclass_scores_by_hand():
    assert score("accuracy", Y3, P3) == pytest.approx(4 / 6)
    # precision = diag / column sums = 1/2, 2/3, 1/1
    assert score("precision", Y3, P3) == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    # recall = diag / row sums = 1/2, 2/2, 1/2
    assert score("recall", Y3, P3) == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    # f1 = 2PR/(P+R): 2*.5*.5/1 = .5;  2*(2/3)*1/(5/3) = .8;  2*1*.5/1.5 = 2/3
    assert score("f1", Y3, P3) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    expected = -(math.log(0.8) + math.log(0.3) + math.log(0.7) + 2 * math.log(0.5) + math.log(0.3)) / 6
    assert score("log_loss", Y3, P3) == pytest.approx(expected)


def test_binary_single_column_threshold_by_hand():
    y = np.array([0, 1, 0, 1])
    p = np.array([[0.2], [0.5], [0.7], [0.9]])  # p >= 0.5 predicts 1: 0 1 1 1
    assert score("accuracy", y, p) == pytest.approx(3 / 4)
    # the positive class 1 (sklearn's average="binary"): TP 2, FP 1, FN 0
    assert score("precision", y, p) == pytest.approx(2 / 3)
    assert score("recall", y, p) == pytest.approx(1.0)
    assert score("f1", y, p) == pytest.approx(4 / 5)
    # p_true = 1 - 0.2, 0.5, 1 - 0.7, 0.9
    expected = -(math.log(0.8) + math.log(0.5) + math.log(0.3) + math.log(0.9)) / 4
    assert score("log_loss", y, p) == pytest.approx(expected)


def test_binary_positive_class_and_threshold_by_hand():
    y = np.array([0, 1, 0, 1])
    p = np.array([[0.2], [0.5], [0.7], [0.9]])
    # class 0 positive: it is predicted where p(0) = 1 - p >= 0.5: rows 0 and 1 (p(0) = 0.8, 0.5)
    assert METRICS["precision"](pos=0)(y, p) == pytest.approx(1 / 2)
    assert METRICS["recall"](pos=0)(y, p) == pytest.approx(1 / 2)
    # threshold 0.8 on class 1: only row 3 is predicted 1 -> TP 1, FP 0, FN 1
    assert METRICS["precision"](threshold=0.8)(y, p) == pytest.approx(1.0)
    assert METRICS["recall"](threshold=0.8)(y, p) == pytest.approx(1 / 2)
    assert METRICS["accuracy"](threshold=0.8)(y, p) == pytest.approx(3 / 4)
    # ranks of p among the 4 rows: 1, 2, 3, 4; positives hold ranks 2 and 4 -> U = 6 - 3 = 3 of 4
    assert METRICS["roc_auc"]()(y, p) == pytest.approx(3 / 4)
    # by descending score: 0.9 (hit, P 1, R 1/2), 0.7 (miss), 0.5 (hit, P 2/3, R 1) -> 1/2 + 1/3
    assert METRICS["pr_auc"]()(y, p) == pytest.approx(1 / 2 + 1 / 2 * 2 / 3)


def test_macro_averages_run_over_labels_present():
    # Classes 1 and 2 are never present nor predicted: sklearn leaves them out of the mean.
    y, p = np.array([0, 0]), np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1]])
    assert score("precision", y, p) == pytest.approx(1.0)
    assert score("recall", y, p) == pytest.approx(1.0)
    assert score("f1", y, p) == pytest.approx(1.0)
    # class 2 predicted but absent: precision 0 counts; its recall is 0 (zero_division=0)
    p = np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8]])
    assert score("precision", y, p) == pytest.approx((1 + 0) / 2)
    assert score("recall", y, p) == pytest.approx((1 / 2 + 0) / 2)
    assert score("balanced_accuracy", y, p) == pytest.approx(1 / 2)


def test_log_loss_clips_certain_mistakes():
    y, p = np.array([0]), np.array([[0.0, 1.0]])
    eps = np.finfo(np.float64).eps
    assert score("log_loss", y, p) == pytest.approx(-math.log(eps))
    assert np.isfinite(score("log_loss", y, p.astype(np.float32)))


def test_regression_scores_by_hand():
    y = np.array([[1.0, 0.0], [2.0, 2.0], [3.0, 4.0]])
    pred = np.array([[1.0, 1.0], [2.0, 1.0], [5.0, 4.0]])
    # output 0: residuals 0 0 -2 -> mse 4/3, mae 2/3, SS_res 4, SS_tot 2 -> r2 -1
    # output 1: residuals -1 1 0 -> mse 2/3, mae 2/3, SS_res 2, SS_tot 8 -> r2 0.75
    assert score("mse", y, pred) == pytest.approx((4 / 3 + 2 / 3) / 2)
    assert score("rmse", y, pred) == pytest.approx((math.sqrt(4 / 3) + math.sqrt(2 / 3)) / 2)
    assert score("mae", y, pred) == pytest.approx(2 / 3)
    assert score("r2", y, pred) == pytest.approx((-1 + 0.75) / 2)


def test_r2_of_constant_target():
    y = np.array([[2.0], [2.0]])
    assert score("r2", y, y.copy()) == 1.0
    assert score("r2", y, np.array([[2.0], [3.0]])) == 0.0


def test_modes_tasks_and_prefixes():
    maximized = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "r2")
    assert [metric_mode(m) for m in maximized] == ["max"] * len(maximized)
    assert [metric_mode(m) for m in ("log_loss", "mse", "rmse", "mae")] == ["min"] * 4
    assert metric_mode("val_accuracy") == "max"
    assert metric_mode("val_loss") == metric_mode("loss") == "min"
    assert metric_task("f1") == "classification" and metric_task("mae") == "regression"


def test_unknown_metric_suggests():
    with pytest.raises(ConfigError, match=r"Unknown metric 'acuracy' at metrics\[0\]\. Did you mean 'accuracy'\?"):
        metric_mode("acuracy", where="metrics[0]")


def test_check_metrics_lists_every_problem():
    check_metrics(["accuracy", "f1"], "classification")
    with pytest.raises(ConfigError) as info:
        check_metrics(["accuracy", "r3", "rmse"], "classification")
    problems = info.value.problems
    assert len(problems) == 2
    assert "Unknown metric 'r3' at metrics[1]" in problems[0]
    assert "'rmse' at metrics[2] is a regression metric" in problems[1]


def test_logged_metrics_apply_the_link():
    rng = np.random.default_rng(0)
    logits, y = rng.normal(size=(20, 3)), rng.integers(0, 3, 20)
    got = LoggedMetrics(["accuracy", "log_loss"], softmax)(y, logits)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, logits.argmax(1)))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, softmax(logits), labels=[0, 1, 2]))


def test_logged_metrics_binary_logit_and_inverse_target():
    logits, y = np.array([[-1.0], [0.0], [2.0]]), np.array([0, 0, 1])
    # sigmoid(0) = 0.5 counts as class 1, so the middle sample is wrong
    assert LoggedMetrics(["accuracy"], sigmoid)(y, logits)["accuracy"] == pytest.approx(2 / 3)
    y_scaled, out = np.array([[0.0], [1.0]]), np.array([[0.5], [1.0]])
    got = LoggedMetrics(["mae"], identity, inverse_target=lambda a: a * 10 + 3)(y_scaled, out)
    assert got["mae"] == pytest.approx(2.5)  # |3 - 8| and |13 - 13| in the target's units


def test_logged_metrics_hold_the_binary_decision():
    # the positive class is 0, decided at 0.3: its probabilities 0.2, 0.6, 0.4, 0.3 predict
    # class 1, then class 0 three times (0.3 itself reaches the threshold)
    proba = np.array([[0.2, 0.8], [0.6, 0.4], [0.4, 0.6], [0.3, 0.7]])
    metrics = LoggedMetrics(["accuracy", "recall"], lambda out: out, pos=0, threshold=0.3)
    pred = metrics.predicted_classes(proba)
    assert list(pred) == [1, 0, 0, 0]
    y = np.array([1, 0, 1, 0])
    got = metrics(y, proba)
    assert got == pytest.approx({"accuracy": skm.accuracy_score(y, pred),
                                 "recall": skm.recall_score(y, pred, pos_label=0)})
    assert LoggedMetrics()(y, proba) == {}


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_classification_report_matches_sklearn(n_classes):
    rng = np.random.default_rng(n_classes)
    y = rng.integers(0, n_classes, 50)
    proba = softmax(rng.normal(size=(50, n_classes)) + 1.5 * np.eye(n_classes)[y])
    names = [f"c{i}" for i in range(n_classes)]
    rep = classification_report(y, proba, names)
    labels = list(range(n_classes))
    pred = proba.argmax(1)
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    assert [c["precision"] for c in rep["per_class"]] == pytest.approx(p)
    assert [c["recall"] for c in rep["per_class"]] == pytest.approx(r)
    assert [c["f1"] for c in rep["per_class"]] == pytest.approx(f)
    assert [c["support"] for c in rep["per_class"]] == s.tolist()
    for avg in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(y, pred, average=avg, zero_division=0)
        assert [rep[avg][k] for k in ("precision", "recall", "f1")] == pytest.approx([p, r, f])
    assert rep["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert rep["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=labels))
    assert rep["confusion_matrix"]["matrix"] == skm.confusion_matrix(y, pred, labels=labels).tolist()
    assert rep["confusion_matrix"]["labels"] == names
    assert rep["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    if n_classes > 2:
        assert rep["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
        for name in ("precision", "recall", "f1"):
            assert score(name, y, proba) == pytest.approx(rep["macro"][name])


def test_binary_report_matches_sklearn():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 40)
    p1 = sigmoid(rng.normal(size=(40, 1)) + (2 * y[:, None] - 1)).astype(np.float32)
    rep = classification_report(y, p1, np.array(["no", "yes"]))
    pred = (p1[:, 0] >= 0.5).astype(int)
    assert rep["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert rep["log_loss"] == pytest.approx(skm.log_loss(y, p1[:, 0]), rel=1e-6)
    assert rep["macro"]["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert rep["positive"] == pytest.approx({"class": "yes", "precision": skm.precision_score(y, pred),
                                             "recall": skm.recall_score(y, pred), "f1": skm.f1_score(y, pred)})
    assert rep["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p1[:, 0]))
    assert rep["pr_auc"] == pytest.approx(skm.average_precision_score(y, p1[:, 0]))
    assert rep["threshold"] == 0.5 and rep["never_predicted"] == []
    assert rep["confusion_matrix"]["labels"] == ["no", "yes"]
    assert all(type(c["class"]) is str for c in rep["per_class"])


def test_regression_report_matches_sklearn():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(30, 2)) * [1.0, 10.0]
    pred = y + rng.normal(size=(30, 2))
    rep = regression_report(y, pred, ["a", "b"])
    assert rep["mse"] == pytest.approx(skm.mean_squared_error(y, pred))
    assert rep["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred))
    assert rep["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert rep["r2"] == pytest.approx(skm.r2_score(y, pred))
    r2 = skm.r2_score(y, pred, multioutput="raw_values")
    assert [o["r2"] for o in rep["per_output"]] == pytest.approx(r2)
    assert [o["target"] for o in rep["per_output"]] == ["a", "b"]
    for name in ("mse", "rmse", "mae", "r2"):
        assert score(name, y, pred) == pytest.approx(rep[name])


def test_reports_reject_empty_and_foreign_labels():
    with pytest.raises(DataError, match="no samples"):
        classification_report(np.array([], dtype=np.int64), np.zeros((0, 2)), ["a", "b"])
    with pytest.raises(DataError, match="no samples"):
        regression_report(np.zeros((0, 1)), np.zeros((0, 1)), ["y"])
    with pytest.raises(DataError, match=r"Class indices must lie in \[0, 2\)"):
        classification_report(np.array([0, 2]), np.full((2, 2), 0.5), ["a", "b"])


def test_never_predicted_lists_the_true_classes_no_prediction_names():
    """By hand: 'b' (one row) and 'c' (two rows) are never predicted; 'd' never occurs but is
    predicted once; 'e' neither occurs nor is predicted, so it is not a missed class."""
    y = np.array([0, 0, 1, 2, 2, 0])
    proba = np.array([[0.6, 0.1, 0.1, 0.1, 0.1]] * 5 + [[0.1, 0.1, 0.1, 0.6, 0.1]])  # a, a, ..., d
    rep = classification_report(y, proba, ["a", "b", "c", "d", "e"])
    assert rep["never_predicted"] == ["b", "c"]


def test_logged_metrics_decide_at_one_half_by_default():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([[0.2], [0.5], [0.7], [0.55], [0.45]])  # 0.5 itself counts as positive
    got = LoggedMetrics(["accuracy", "f1"], lambda out: out)(y, p)
    pred = (p[:, 0] >= 0.5).astype(int)
    assert got == pytest.approx({"accuracy": skm.accuracy_score(y, pred), "f1": skm.f1_score(y, pred)})
