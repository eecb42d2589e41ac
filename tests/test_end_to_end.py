"""End to end on the core alone: XOR, two spirals, and least squares by gradient descent."""

import numpy as np
import pytest

from nettrain.nn.losses import get_loss
from nettrain.nn.model import Model
from nettrain.nn.optimizers import get_optimizer
from nettrain.nn.schedules import get_schedule


def train(model, loss, optimizer, X, y, epochs, batch_size, seed=0, schedule=None):
    """Minibatch training on shuffled batches; returns the last epoch's mean batch loss."""
    rng = np.random.default_rng(seed)
    params = model.named_params()
    for _ in range(epochs):
        if schedule is not None:
            optimizer.lr = schedule.lr
        order = rng.permutation(len(X))
        losses = []
        for start in range(0, len(X), batch_size):
            batch = order[start:start + batch_size]
            losses.append(loss.forward(model.forward(X[batch], training=True), y[batch]))
            model.backward(loss.backward())
            optimizer.step(params)
        if schedule is not None:
            schedule.step({"loss": float(np.mean(losses))})
    return float(np.mean(losses))


def test_xor_with_binary_cross_entropy():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0])
    model = Model([{"type": "dense", "units": 8, "activation": "tanh"}, {"type": "dense", "units": 1}], 2,
                  rng=np.random.default_rng(0))
    loss = get_loss("binary_cross_entropy")
    final = train(model, loss, get_optimizer({"name": "adam", "lr": 0.05}), X, y, epochs=300, batch_size=4)
    assert final < 0.05
    proba = loss.link(model.forward(X))[:, 0]
    np.testing.assert_array_equal(proba > 0.5, y == 1)


def two_spirals(n_per_class=100, turns=2.0):
    """Two interleaved spirals of `turns` turns, radius scaled to [0, 1]; class 1 is class 0 rotated by pi."""
    t = np.linspace(0.05, 1, n_per_class) * turns * 2 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / t.max()
    X = np.concatenate([arm, -arm])
    y = np.repeat([0, 1], n_per_class)
    return X, y


def test_two_spirals_reach_full_train_accuracy():
    X, y = two_spirals()
    model = Model([{"type": "dense", "units": 64, "activation": "relu"},
                   {"type": "dense", "units": 64, "activation": "relu"},
                   {"type": "dense", "units": 2}], 2, rng=np.random.default_rng(0))
    loss = get_loss("cross_entropy")
    optimizer = get_optimizer({"name": "adam", "lr": 0.01})
    schedule = get_schedule({"name": "cosine", "T_max": 490, "eta_min": 0.001, "warmup_epochs": 10}, optimizer.lr)
    final = train(model, loss, optimizer, X, y, epochs=500, batch_size=32, schedule=schedule)
    assert final < 0.01
    assert (model.forward(X).argmax(axis=1) == y).mean() == 1.0


def test_two_spirals_with_batchnorm_dropout_and_nesterov_sgd():
    X, y = two_spirals()
    model = Model([{"type": "dense", "units": 64, "activation": "relu"}, {"type": "batchnorm"},
                   {"type": "dropout", "rate": 0.05},
                   {"type": "dense", "units": 64, "activation": "relu"}, {"type": "dense", "units": 2}],
                  2, rng=np.random.default_rng(0))
    optimizer = get_optimizer({"name": "sgd", "lr": 0.03, "momentum": 0.9, "nesterov": True})
    schedule = get_schedule({"name": "step", "step_size": 150, "gamma": 0.3}, optimizer.lr)
    train(model, get_loss("cross_entropy"), optimizer, X, y, epochs=450, batch_size=32, schedule=schedule)
    assert (model.forward(X).argmax(axis=1) == y).mean() == 1.0


@pytest.mark.parametrize("optimizer, schedule", [
    ({"name": "sgd", "lr": 0.3, "momentum": 0.5}, None),
    ({"name": "adam", "lr": 0.1}, {"name": "cosine", "T_max": 400}),
], ids=["sgd", "adam"])
def test_linear_mse_reaches_the_least_squares_solution(optimizer, schedule):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([[1.5, -2.0], [0.5, 0.0], [-1.0, 3.0]]) + [0.3, -0.7] + rng.normal(size=(200, 2)) * 0.1
    solution, *_ = np.linalg.lstsq(np.hstack([X, np.ones((200, 1))]), y, rcond=None)
    model = Model([{"type": "dense", "units": 2}], 3, dtype="float64", rng=rng)
    train(model, get_loss("mse"), get_optimizer(optimizer), X, y, epochs=400, batch_size=200,
          schedule=get_schedule(schedule, optimizer["lr"]))
    np.testing.assert_allclose(model.layers[0].params["W"], solution[:3], atol=1e-4)
    np.testing.assert_allclose(model.layers[0].params["b"], solution[3], atol=1e-4)
