"""Score data with an exported model in ONNX Runtime and compare it with `nettrain predict`."""

import warnings

import numpy as np
import onnxruntime as ort

from nettrain.export import to_onnx
from nettrain.inference.loading import load

KINDS = {"tensor(string)": str, "tensor(float)": np.float32, "tensor(double)": np.float64,
         "tensor(int64)": np.int64}


def session(model):
    """An InferenceSession for a ModelProto or a file path."""
    return ort.InferenceSession(model.SerializeToString() if hasattr(model, "SerializeToString")
                                else str(model))


def run_onnx(sess, frame, X=None):
    """Outputs by name: one input per column of `frame`, or the array X for input `X`."""
    feeds = {}
    for i in sess.get_inputs():
        if i.name == "X" and X is None and "x0" in frame:  # array data read as columns x0, x1, ...
            X = frame[[f"x{j}" for j in range(int(np.prod(i.shape[1:])))]].to_numpy()
            X = X.reshape(len(X), *i.shape[1:])
        if i.name == "X" and X is not None:
            feeds["X"] = np.asarray(X).astype(KINDS[i.type])
        else:
            feeds[i.name] = frame[i.name].to_numpy(object).astype(KINDS[i.type])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


def assert_agrees(run, data, model=None, X=None):
    """ONNX Runtime and LoadedRun.prediction_frame (what predict writes) on the rows of `data`:
    labels equal, probabilities and values to 1e-5 (float32) or 1e-9 (float64).

    Returns (outputs, kept): kept marks the rows predict scores (not left out as missing).
    """
    loaded = load(getattr(run, "path", run))
    frame = loaded.read(data if hasattr(data, "columns") else str(data))
    if X is None and str(data).lower().endswith(".npz"):
        with np.load(data, allow_pickle=False) as npz:
            X = npz["X"]  # array data: the model's one input X, in the file's sample shape
    classify = loaded.task == "classification"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unseen levels, left-out rows: predict warns
        table = loaded.predict(frame, proba=classify)
    sess = session(model or to_onnx(loaded))
    window = getattr(loaded.preprocessor, "window", None)
    if window:  # one sample per window; predict's table has a row per input row
        return assert_windows_agree(loaded, sess, frame, table, window)
    got = run_onnx(sess, frame, X)
    tol = 1e-5 if loaded.model.dtype == np.float32 else 1e-9
    if classify:
        proba = table[[c for c in table.columns if c.startswith("proba_")]].to_numpy(np.float64)
        kept = ~np.isnan(proba).any(axis=1)  # rows predict leaves out (data.missing: drop)
        labels = table[f"predicted_{loaded.target_names[0]}"].to_numpy()
        assert got["label"][kept].tolist() == labels[kept].tolist()
        np.testing.assert_allclose(got["probabilities"][kept], proba[kept], rtol=0, atol=tol)
        assert np.isnan(got["probabilities"][~kept]).all()
        assert got["probabilities"].dtype == loaded.model.dtype
    else:
        values = table.to_numpy(np.float64)
        kept = ~np.isnan(values).any(axis=1)
        scale = np.abs(values[kept]).max()
        np.testing.assert_allclose(got["value"][kept], values[kept], rtol=tol, atol=tol * scale)
    return got, kept


def assert_windows_agree(loaded, sess, frame, table, window):
    """A time series: each column input is (n, size), the `size` rows that end at each row
    predict forecasts from (in order_by order, else the file's)."""
    size, order_by = window["size"], window.get("order_by")
    order = (np.argsort(frame[order_by].to_numpy(), kind="stable") if order_by
             else np.arange(len(frame)))
    values = table[[c for c in table.columns if c.startswith("predicted_")]].to_numpy(np.float64)
    if "window_end" in table:  # one row per window, with the file row it ends at
        ends = table["window_end"].to_numpy()
    else:  # one row per input row; those that end no complete window are empty
        ends = np.flatnonzero(~np.isnan(values).any(axis=1))
        values = values[ends]
    at = np.empty(len(order), dtype=np.int64)
    at[order] = np.arange(len(order))
    assert len(ends) == len(frame) - size + 1 and (at[ends] >= size - 1).all()
    steps = order[at[ends][:, None] + np.arange(1 - size, 1)]
    feeds = {i.name: frame[i.name].to_numpy(object).astype(KINDS[i.type])[steps]
             for i in sess.get_inputs()}
    (value,) = sess.run(None, feeds)
    tol = 1e-5 if loaded.model.dtype == np.float32 else 1e-9
    scale = np.abs(values).max()
    np.testing.assert_allclose(value, values, rtol=tol, atol=tol * scale)
    return {"value": value}, ends
