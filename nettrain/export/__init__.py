"""Export a trained run as a standard model file (ONNX) that scores raw input columns.

Modules: `builder` (the ONNX graph builder), `preprocessing` (raw columns in, the run's
imputation, one-hot levels and scaling; probabilities, labels and values out), `layers` (one
converter per layer type and activation) and `graph` (the three joined into one model).
`onnx` is an optional dependency: `pip install "nettrain[onnx]"`.
"""

from pathlib import Path

from .builder import INSTALL, OPSET, ExportError, require_onnx

FORMATS = ("onnx",)
DEFAULT_NAME = "model.onnx"


def to_onnx(run):
    """The checked ONNX ModelProto of a run (a run directory, a `Run` or a loaded run)."""
    from nettrain.runs.inference import LoadedRun, load

    from .graph import export_run

    loaded = run if isinstance(run, LoadedRun) else load(getattr(run, "path", run))
    return export_run(loaded)


def export(run, path=None, format="onnx"):
    """Write the run as an ONNX model file; return its path (default RUN/model.onnx).

    Files beside it: for a text model, `<stem>.vocab.json` (the tokenizer's vocabulary, as the
    model takes token ids).
    """
    from nettrain.runs.rundir import atomic_open

    if format not in FORMATS:
        raise ExportError(f"--format {format!r} is not supported; the formats are: "
                          f"{', '.join(FORMATS)}.")
    require_onnx()
    run_dir = Path(getattr(run, "path", run))
    model = to_onnx(run)
    path = Path(path) if path is not None else run_dir / DEFAULT_NAME
    data = model.SerializeToString()
    try:
        with atomic_open(path, "wb") as f:
            f.write(data)
    except OSError as err:
        raise ExportError(f"Cannot write {path}: {err.strerror or err}. Check that its folder "
                          "exists and is writable, or give another -o FILE.") from None
    return path


__all__ = ["export", "to_onnx", "ExportError", "FORMATS", "INSTALL", "OPSET"]
