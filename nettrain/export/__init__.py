"""Export a trained run as a standard model file (ONNX) that scores raw input columns.

Modules: `builder` (the ONNX graph builder), `preprocessing` (raw columns in, the run's
imputation, one-hot levels and scaling; probabilities, labels and values out), `layers` (one
converter per layer type and activation) and `graph` (the three joined into one model).
`onnx` is an optional dependency: `pip install "nettrain[onnx]"`.
"""

from pathlib import Path

from nettrain.export.builder import INSTALL, OPSET, ExportError, require_onnx

FORMATS = ("onnx",)
DEFAULT_NAME = "model.onnx"


def to_onnx(run):
    """The checked ONNX ModelProto of a run (a run directory, a `Run` or a loaded run)."""
    from nettrain.export.graph import export_run
    from nettrain.inference.loading import LoadedRun, load

    loaded = run if isinstance(run, LoadedRun) else load(run_path(run))
    return export_run(loaded)[0]


def run_path(run):
    """The directory of a run given as a path, a `Run` or a loaded run."""
    from nettrain.inference.loading import LoadedRun
    from nettrain.inference.run import Run

    return run.path if isinstance(run, (Run, LoadedRun)) else run


def export(run, path=None, format="onnx"):
    """Write the run as an ONNX model file (default RUN/model.onnx); return the paths written,
    the model's first.

    A text model takes token ids: its vocabulary is written beside it as `<stem>.vocab.json`
    (each document the run's data kind gives as `<stem>.<name>.json`).
    """
    import json

    from nettrain.export.graph import export_run
    from nettrain.inference.loading import load
    from nettrain.store.rundir import atomic_open

    if format not in FORMATS:
        raise ExportError(f"--format {format!r} is not supported; the formats are: "
                          f"{', '.join(FORMATS)}.")
    require_onnx()
    loaded = load(run_path(run))
    model, documents = export_run(loaded)
    path = Path(path) if path is not None else loaded.path / DEFAULT_NAME
    files = {path: model.SerializeToString()}
    for name, doc in documents.items():
        files[document_path(path, name)] = json.dumps(doc, indent=1).encode("utf-8")
    for target, data in files.items():
        try:
            with atomic_open(target, "wb") as f:
                f.write(data)
        except OSError as err:
            raise ExportError(f"Cannot write {target}: {err.strerror or err}. Check that its "
                              "folder exists and is writable, or give another -o FILE.") from None
    return list(files)


def document_path(path, name):
    """Where a document of the model goes: beside it, `model.onnx` -> `model.<name>.json`."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{name}.json")


def vocabulary_path(path):
    """Where a text model's vocabulary goes: beside it, `model.onnx` -> `model.vocab.json`."""
    return document_path(path, "vocab")


__all__ = ["export", "to_onnx", "vocabulary_path", "ExportError", "FORMATS", "INSTALL", "OPSET"]
