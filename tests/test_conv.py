"""Image layers against PyTorch in float64 (forward, input and weight gradients), central
differences, hand-computed cases and the shape errors a config gets before training."""

import numpy as np
import pytest

from nettrain.errors import ConfigError, ShapeError
from nettrain.nn.finite_differences import numerical_gradient
from nettrain.nn.layers.augment import RandomFlip, RandomShift
from nettrain.nn.layers.conv import Conv2D
from nettrain.nn.layers.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from nettrain.nn.layers.reshape import Flatten
from nettrain.nn.model import Model

torch = pytest.importorskip("torch")
F = torch.nn.functional
TIGHT = dict(rtol=1e-12, atol=1e-12)


def finite_difference_check(layer, x, training=True):
    """sum(y * r) with a fixed random r: analytic input and param gradients vs central differences."""
    r = np.random.default_rng(5).normal(size=layer.forward(x, training).shape)

    def objective():
        return float(np.sum(layer.forward(x, training) * r))
    layer.forward(x, training)
    analytic = {"x": layer.backward(r.copy()), **{k: g.copy() for k, g in layer.grads.items()}}
    for name, array in [("x", x), *layer.params.items()]:
        numeric = numerical_gradient(objective, array)
        np.testing.assert_allclose(analytic[name], numeric, rtol=1e-6, atol=1e-7, err_msg=name)


def build(layer, shape, seed=0):
    out = layer.build(shape, np.random.default_rng(seed), np.float64)
    return layer, out


CONVS = [dict(kernel_size=3), dict(kernel_size=[2, 3], stride=2, padding=1),
         dict(kernel_size=3, padding="same"), dict(kernel_size=2, padding="same"),
         dict(kernel_size=[3, 1], stride=[1, 2], padding=[0, 1], use_bias=False),
         dict(kernel_size=1), dict(kernel_size=3, activation="relu", padding="valid")]


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("args", CONVS)
def test_conv2d_matches_torch_and_central_differences(args):
    rng = np.random.default_rng(0)
    layer, out = build(Conv2D(4, **args), (3, 7, 6))
    x = rng.normal(size=(5, 3, 7, 6))
    y = layer.forward(x, training=True)
    assert y.shape == (5, *out)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(layer.params["W"], requires_grad=True)
    bt = torch.tensor(layer.params["b"], requires_grad=True) if layer.use_bias else None
    padding = layer.padding if isinstance(layer.padding, str) else tuple(layer.padding)
    yt = F.conv2d(xt, wt, bt, stride=layer.stride, padding=padding)
    if args.get("activation") == "relu":
        yt = torch.relu(yt)
    np.testing.assert_allclose(y, yt.detach().numpy(), **TIGHT)
    g = rng.normal(size=y.shape)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.backward(g), xt.grad.numpy(), **TIGHT)
    np.testing.assert_allclose(layer.grads["W"], wt.grad.numpy(), **TIGHT)
    if bt is not None:
        np.testing.assert_allclose(layer.grads["b"], bt.grad.numpy(), **TIGHT)
    finite_difference_check(layer, rng.normal(size=(2, 3, 7, 6)))


def test_conv2d_hand_computed():
    layer, _ = build(Conv2D(1, 2, use_bias=False), (1, 3, 3))
    layer.params["W"][...] = [[[[1, 2], [3, 4]]]]
    y = layer.forward(np.arange(9.0).reshape(1, 1, 3, 3))
    # top-left window [[0, 1], [3, 4]] . [[1, 2], [3, 4]] = 0 + 2 + 9 + 16
    np.testing.assert_array_equal(y[0, 0], [[27, 37], [57, 67]])
    dx = layer.backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(dx[0, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]])
    np.testing.assert_array_equal(layer.grads["W"][0, 0], [[8, 12], [20, 24]])


def test_conv2d_default_init_is_torchs_uniform():
    layer = Conv2D(64, 3)
    layer.build((8, 9, 9), np.random.default_rng(0), np.float64)
    bound = 1 / np.sqrt(8 * 9)  # torch: kaiming_uniform(a=sqrt(5)) = U(±1/sqrt(fan_in))
    reference = torch.nn.Conv2d(8, 64, 3).weight.detach().numpy()
    for w in (layer.params["W"], reference):
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
        assert abs(w.std() - bound / np.sqrt(3)) < 0.02 * bound
    assert np.abs(layer.params["b"]).max() <= bound and np.abs(layer.params["b"]).max() > 0.5 * bound


def test_conv2d_named_init_uses_torchs_fans():
    layer = Conv2D(16, 3, init="glorot_uniform")
    layer.build((4, 9, 9), np.random.default_rng(0), np.float64)
    limit = np.sqrt(6 / (4 * 9 + 16 * 9))  # fan_in C*kh*kw, fan_out filters*kh*kw
    assert np.abs(layer.params["W"]).max() <= limit and np.abs(layer.params["W"]).max() > 0.95 * limit
    assert not layer.params["b"].any()


POOLS = [(MaxPool2D, {}), (MaxPool2D, dict(pool_size=3, stride=2, padding=1)),
         (MaxPool2D, dict(pool_size=[2, 3], stride=1)), (MaxPool2D, dict(pool_size=2, stride=3)),
         (MaxPool2D, dict(pool_size=[2, 3], padding=[1, 0])),
         (AvgPool2D, {}), (AvgPool2D, dict(pool_size=3, stride=2, padding=1)),
         (AvgPool2D, dict(pool_size=[3, 2], stride=[1, 2])), (AvgPool2D, dict(pool_size=2, stride=3)),
         (AvgPool2D, dict(padding=1))]


@pytest.mark.parametrize("hw", [(7, 6), (8, 6)])
@pytest.mark.parametrize("cls,args", POOLS)
def test_pooling_matches_torch_and_central_differences(cls, args, hw):
    rng = np.random.default_rng(1)
    layer, out = build(cls(**args), (3, *hw))
    x = rng.normal(size=(4, 3, *hw))
    y = layer.forward(x, True)
    assert y.shape == (4, *out)
    xt = torch.tensor(x, requires_grad=True)
    if cls is MaxPool2D:
        yt = F.max_pool2d(xt, layer.pool_size, layer.stride, layer.padding)
    else:
        yt = F.avg_pool2d(xt, layer.pool_size, layer.stride, layer.padding, count_include_pad=True)
    np.testing.assert_allclose(y, yt.detach().numpy(), **TIGHT)
    g = rng.normal(size=y.shape)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.backward(g), xt.grad.numpy(), **TIGHT)
    finite_difference_check(layer, rng.normal(size=(2, 3, *hw)))


def test_max_pool_ties_go_to_the_first_largest_as_in_torch():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 2:, 2:] = [[1, 1], [1, 0]]
    layer, _ = build(MaxPool2D(), (1, 4, 4))
    layer.forward(x, True)
    xt = torch.tensor(x, requires_grad=True)
    F.max_pool2d(xt, 2).backward(torch.ones(1, 1, 2, 2))
    dx = layer.backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(dx, xt.grad.numpy())
    assert dx[0, 0, 0, 0] == 1 and dx[0, 0, 2, 2] == 1 and dx[0, 0, 2, 3] == 0


def test_pooling_hand_computed():
    x = np.array([[1.0, 2, 5, 0], [3, 4, -1, -2], [0, 0, 1, 1], [0, 9, 1, 1]]).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(build(MaxPool2D(), (1, 4, 4))[0].forward(x)[0, 0], [[4, 5], [9, 1]])
    np.testing.assert_array_equal(build(AvgPool2D(), (1, 4, 4))[0].forward(x)[0, 0],
                                  [[2.5, 0.5], [2.25, 1]])
    np.testing.assert_array_equal(build(GlobalAvgPool2D(), (1, 4, 4))[0].forward(x), [[25 / 16]])


@pytest.mark.parametrize("cls", [GlobalAvgPool2D, Flatten])
def test_global_avg_pool_and_flatten_match_torch(cls):
    rng = np.random.default_rng(2)
    layer, out = build(cls(), (3, 4, 5))
    x = rng.normal(size=(2, 3, 4, 5))
    xt = torch.tensor(x, requires_grad=True)
    yt = xt.mean(dim=(2, 3)) if cls is GlobalAvgPool2D else torch.flatten(xt, 1)
    y = layer.forward(x, True)
    assert y.shape == (2, *out)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-13)
    g = rng.normal(size=y.shape)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.backward(g), xt.grad.numpy(), rtol=1e-13)
    finite_difference_check(layer, x.copy())


def test_flatten_after_conv_keeps_torchs_channel_major_order():
    layer, _ = build(Conv2D(2, 1, use_bias=False), (1, 2, 2))
    layer.params["W"][...] = np.array([1.0, 10.0]).reshape(2, 1, 1, 1)
    y = build(Flatten(), (2, 2, 2))[0].forward(layer.forward(np.arange(4.0).reshape(1, 1, 2, 2)))
    np.testing.assert_array_equal(y, [[0, 1, 2, 3, 0, 10, 20, 30]])


def test_random_flip_flips_the_chosen_images_and_is_its_own_adjoint():
    x = np.arange(2 * 1 * 3 * 4, dtype=float).reshape(2, 1, 3, 4)
    layer, _ = build(RandomFlip("both"), (1, 3, 4))
    y = layer.forward(x, True)
    for i in range(2):
        expected = x[i]
        for axis, chosen in layer.flips:
            expected = np.flip(expected, axis - 1) if chosen[i] else expected
        np.testing.assert_array_equal(y[i], expected)
    g = np.random.default_rng(1).normal(size=y.shape)
    np.testing.assert_allclose(np.sum(y * g), np.sum(x * layer.backward(g)))
    assert layer.forward(x, training=False) is x


def test_random_flip_draws_each_image_with_probability_one_half():
    layer, _ = build(RandomFlip("horizontal"), (1, 1, 2))
    x = np.tile(np.array([0.0, 1.0]), (4000, 1, 1, 1))
    flipped = layer.forward(x, True)[:, 0, 0, 0] == 1
    assert 0.47 < flipped.mean() < 0.53


def test_random_shift_moves_each_image_with_zero_fill():
    x = np.arange(2 * 1 * 3 * 4, dtype=float).reshape(2, 1, 3, 4) + 1
    layer, _ = build(RandomShift(1), (1, 3, 4))
    y = layer.forward(x, True)
    for i in range(2):
        dy, dx = layer.shifts[:, i]
        expected = np.zeros((3, 4))
        rows, cols = slice(max(dy, 0), 3 + min(dy, 0)), slice(max(dx, 0), 4 + min(dx, 0))
        expected[rows, cols] = x[i, 0, max(-dy, 0):3 - max(dy, 0), max(-dx, 0):4 - max(dx, 0)]
        np.testing.assert_array_equal(y[i, 0], expected)
    g = np.random.default_rng(1).normal(size=y.shape)
    np.testing.assert_allclose(np.sum(y * g), np.sum(x * layer.backward(g)))
    assert layer.forward(x, training=False) is x
    shifts = build(RandomShift(2), (1, 3, 4))[0]
    shifts.forward(np.zeros((3000, 1, 3, 4)), True)
    assert set(np.unique(shifts.shifts)) == {-2, -1, 0, 1, 2}


def test_random_layers_replay_from_the_generator_state():
    model = Model([{"type": "random_flip", "mode": "both"}, {"type": "random_shift"},
                   {"type": "flatten"}], (1, 5, 5), rng=3)
    x = np.random.default_rng(0).random((8, 1, 5, 5))
    state = model.rng_state()
    first = model.forward(x, training=True)
    model.set_rng_state(state)
    np.testing.assert_array_equal(model.forward(x, training=True), first)


@pytest.mark.parametrize("layers,shape,message", [
    ([{"type": "conv2d", "filters": 4, "kernel_size": 3}, {"type": "dense", "units": 2}], (1, 8, 8),
     r"model.layers\[1\] \(dense\) gets \(4, 6, 6\): add \{type: flatten\} before it"),
    ([{"type": "conv2d", "filters": 4, "kernel_size": 5}], (1, 3, 3),
     r"model.layers\[0\] \(conv2d\) gets \(1, 3, 3\): its kernel_size 5 is larger than the "
     r"\(padded\) input 3"),
    ([{"type": "max_pool2d"}, {"type": "max_pool2d"}], (2, 3, 3),
     r"model.layers\[1\] \(max_pool2d\) gets \(2, 1, 1\): its pool_size 2 is larger"),
    ([{"type": "conv2d", "filters": 4, "kernel_size": 3}], (784,),
     r"model.layers\[0\] \(conv2d\) gets \(784,\): conv2d takes \(C, H, W\) images: reshape "
     r"the data with data.shape: \[C, H, W\]"),
    ([{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "stride": 2}], (1, 8, 8),
     r"model.layers\[0\].*padding 'same' needs stride 1.*padding: 1"),
    ([{"type": "global_avg_pool2d"}, {"type": "flatten"}, {"type": "random_flip"}], (3, 4, 4),
     r"model.layers\[2\] \(random_flip\) gets \(3,\)"),
])
def test_bad_shapes_are_config_errors_naming_the_layer_and_the_fix(layers, shape, message):
    with pytest.raises(ConfigError, match=message):
        Model(layers, shape, rng=0)


@pytest.mark.parametrize("spec,message", [
    ({"filters": 4}, "filters and kernel_size are required"),
    ({"filters": 4, "kernel_size": 0}, "kernel_size must be an integer >= 1"),
    ({"filters": 4, "kernel_size": 3, "padding": "full"}, "padding must be 'same', 'valid'"),
    ({"filters": 4, "kernel_size": [3, 3, 3]}, r"or a pair \[height, width\]"),
])
def test_bad_conv_arguments(spec, message):
    with pytest.raises(ValueError, match=message):
        Conv2D(**spec)


def test_shape_error_is_a_value_error_with_the_fix():
    with pytest.raises(ShapeError, match="add more padding|more padding"):
        Conv2D(1, 4).build((1, 2, 2), np.random.default_rng(0), np.float64)
