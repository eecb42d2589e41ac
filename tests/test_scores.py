"""Every classification score against scikit-learn on the same predictions.

Random problems with 2 to 12 classes, ties in the scores, classes absent from y_true, both
positive classes and two thresholds for binary models.
"""

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from nettrain.nn import scores
from nettrain.nn.metrics import METRICS


def problems():
    for seed in range(30):
        rng = np.random.default_rng(seed)
        k = [2, 2, 3, 5, 12][seed % 5]
        n = int(rng.integers(5, 200))
        y = rng.integers(0, k, n)
        if seed % 7 == 0:
            y[y == k - 1] = 0  # a class absent from y_true
        logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y] * (seed % 3)
        if seed % 4 == 0:
            logits = np.round(logits, 1)  # tied scores
        p = np.exp(logits)
        yield pytest.param(y, p / p.sum(axis=1, keepdims=True), id=f"seed{seed}-k{k}")


def sk(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on absent labels and undefined scores
        return fn(*args, **kwargs)


@pytest.mark.parametrize("y, p", list(problems()))
def test_thresholded_scores_equal_sklearn(y, p):
    k = p.shape[1]
    settings = [(pos, t) for pos in (0, 1) for t in (0.5, 0.3)] if k == 2 else [(1, 0.5)]
    for pos, threshold in settings:
        pred = scores.decide(p, threshold, pos)
        if k == 2:
            assert np.array_equal(pred == pos, p[:, pos] >= threshold)
            kwargs = {"pos_label": pos, "average": "binary", "zero_division": 0}
        else:
            assert np.array_equal(pred, p.argmax(axis=1))
            kwargs = {"average": "macro", "zero_division": 0}
        for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score),
                         ("f1", skm.f1_score)):
            got = METRICS[name](pos, threshold)(y, p)
            assert got == pytest.approx(sk(fn, y, pred, **kwargs)), name
        assert METRICS["balanced_accuracy"](pos, threshold)(y, p) == pytest.approx(
            sk(skm.balanced_accuracy_score, y, pred))
        assert METRICS["accuracy"](pos, threshold)(y, p) == pytest.approx(skm.accuracy_score(y, pred))
    assert METRICS["log_loss"]()(y, p) == pytest.approx(skm.log_loss(y, p, labels=np.arange(k)))


@pytest.mark.parametrize("y, p", list(problems()))
def test_ranking_scores_equal_sklearn(y, p):
    k = p.shape[1]
    if k == 2:
        for pos in (0, 1):
            truth = y == pos
            if 0 < truth.sum() < len(y):
                assert scores.roc_auc(y, p, pos) == pytest.approx(skm.roc_auc_score(truth, p[:, pos]))
                assert scores.pr_auc(y, p, pos) == pytest.approx(
                    skm.average_precision_score(truth, p[:, pos]))
            else:
                assert np.isnan(scores.roc_auc(y, p, pos))
        # a binary model's single column is the probability of class 1
        assert scores.roc_auc(y, p[:, 1:]) == pytest.approx(scores.roc_auc(y, p), nan_ok=True)
        return
    present = np.unique(y)
    if len(present) == k:
        assert METRICS["roc_auc"]()(y, p) == pytest.approx(
            skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
        assert METRICS["pr_auc"]()(y, p) == pytest.approx(
            skm.average_precision_score(y, p, average="macro"))
    else:  # sklearn refuses a class absent from y_true; ours averages over the present ones
        truth = y[:, None] == present
        auc = [skm.roc_auc_score(truth[:, j], p[:, c]) for j, c in enumerate(present)]
        ap = [skm.average_precision_score(truth[:, j], p[:, c]) for j, c in enumerate(present)]
        assert METRICS["roc_auc"]()(y, p) == pytest.approx(np.mean(auc))
        assert METRICS["pr_auc"]()(y, p) == pytest.approx(np.mean(ap))


def test_average_ranks_share_ties():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0 / 0 for the group ids a column leaves unused
        ranks = scores._average_ranks(np.array([[0.3, 1.0], [0.1, 1.0], [0.3, 2.0], [0.2, 1.0]]))
    assert ranks[:, 0].tolist() == [3.5, 1.0, 3.5, 2.0]
    assert ranks[:, 1].tolist() == [2.0, 2.0, 4.0, 2.0]


@pytest.mark.parametrize("dtype", [np.int64, np.float64, np.float32])
def test_log_loss_of_certain_probabilities_is_sklearns(dtype):
    """Probabilities of exactly 0 and 1 are clipped at their dtype's eps, integers as float64."""
    y = np.array([0, 1, 1, 0])
    p = np.array([[1, 0], [0, 1], [1, 0], [1, 0]], dtype=dtype)
    expected = skm.log_loss(y, p)
    assert scores.log_loss(y, p) == pytest.approx(expected, rel=1e-6)
    assert scores.log_loss(y, p[:, 1]) == pytest.approx(expected, rel=1e-6)  # one column, 1-D


def test_one_column_of_a_binary_model_in_any_shape():
    p = np.array([0.2, 0.9, 0.6])
    expected = [[0.8, 0.2], [0.1, 0.9], [0.4, 0.6]]
    np.testing.assert_allclose(scores.class_columns(p), expected)
    np.testing.assert_allclose(scores.class_columns(p[:, None]), expected)
    assert scores.log_loss([0, 1, 1], p) == pytest.approx(skm.log_loss([0, 1, 1], p))


def test_an_empty_confusion_matrix_scores_zero():
    """zero_division=0: with no samples every average is 0, never NaN (sklearn refuses it)."""
    assert scores.averaged(np.zeros((3, 3), np.int64)) == (0.0, 0.0, 0.0)


def test_scores_of_a_class_without_positives_or_negatives_are_sklearns():
    """No positive of class 1: AP is 0.0 (sklearn's value); no negative: AUC is NaN. Neither
    divides 0 by 0 on the way."""
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    only0 = np.zeros(4, np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scores.pr_auc(only0, p) == 0.0
        assert np.isnan(scores.roc_auc(only0, p)) and np.isnan(scores.roc_auc(only0, p, pos=0))
        assert np.isnan(scores.roc_auc(np.zeros(4, np.int64), np.tile(p, (1, 2)) / 2))
    assert scores.pr_auc(only0, p) == sk(skm.average_precision_score, only0 == 1, p[:, 1])
    y = np.array([0, 1, 0, 1])
    assert scores.pr_auc(y, p) == pytest.approx(skm.average_precision_score(y, p[:, 1]))  # pos 1
    assert scores.pr_auc(y, p, pos=0) == pytest.approx(skm.average_precision_score(y == 0, p[:, 0]))


def test_balanced_accuracy_of_an_empty_confusion_matrix_is_zero():
    assert scores.balanced_accuracy(np.zeros((3, 3), np.int64)) == 0.0
    cm = np.array([[3, 1], [0, 0]])  # class 1 absent from y_true: only class 0's recall counts
    assert scores.balanced_accuracy(cm) == 0.75
