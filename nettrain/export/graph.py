"""Graph assembly: a run's inputs and preprocessing, its network and its outputs, as one ONNX model.

The three parts come from `preprocessing` (raw columns in, features out; the network's output
to probabilities, labels or values) and `layers` (one converter per layer type).
"""

from nettrain.export.builder import ExportError, GraphBuilder, require_onnx


def loss_name(config):
    return config["loss"]["name"]


def array_data(config):
    """Whether the run's data comes as arrays (an .npz file) rather than table columns."""
    data = config["data"]
    files = [data[k] for k in ("path", "train", "val", "test")]
    return any(str(f).lower().endswith(".npz") for f in files if f)


def build_inputs(b, pre, config, infos):
    """The graph inputs and the preprocessing up to the network's input; (X, missing mask)."""
    from nettrain.export import preprocessing

    data = config["data"]
    model_shape = infos[0].input_shape
    dates = getattr(pre, "dates", None)
    if dates:
        raise ExportError(
            f"data: the run splits date column(s) {', '.join(map(repr, dates))} into parts; "
            "parsing dates has no ONNX form, so the run cannot be exported. Give the parts "
            "you need as numeric columns of the data (and leave the date columns out of "
            "data.features), then refit.")
    if getattr(pre, "vocabulary", None) is not None or infos[0].type == "embedding":
        return preprocessing.token_id_input(b, model_shape)
    if getattr(pre, "window", None):
        return preprocessing.table_inputs(b, pre, model_shape, steps=int(pre.window["size"]))
    if data["images"] or array_data(config):
        sample = (pre.n_features,) if data["shape"] else model_shape
        return preprocessing.array_input(b, pre, sample, model_shape)
    return preprocessing.table_inputs(b, pre, model_shape)


def decision(pre, config):
    """A two-class model's (positive class index, threshold), as predict decides."""
    from nettrain.nn.metrics import positive_index

    if pre.task != "classification":
        return None
    return positive_index(pre.classes, config["data"]["pos_label"]), float(config["threshold"])


def vocabulary(pre):
    """The text model's vocabulary as the JSON document written beside it, or None."""
    if getattr(pre, "vocabulary", None) is None:
        return None
    text = dict(pre.text)
    return {"format": "nettrain-vocabulary/1", "column": text.get("column"),
            "token_pattern": r"\w+", "lowercase": bool(text.get("lowercase", True)),
            "max_length": int(text["max_length"]), "padding_id": 0, "unknown_id": 1,
            "first_id": 2, "vocabulary": list(pre.vocabulary),
            "encoding": "ids of the last max_length tokens, 0-padded at the front; a token's "
                        "id is its position in vocabulary + 2, an unknown token's 1"}


def export_run(loaded):
    """The ONNX ModelProto of a loaded run (`nettrain.inference.loading.load`), checked."""
    from nettrain.export import layers, preprocessing
    from nettrain.version import __version__

    require_onnx()
    pre, model, config = loaded.preprocessor, loaded.model, loaded.config
    b = GraphBuilder(model.dtype)
    infos = layers.layer_infos(model)
    x, mask = build_inputs(b, pre, config, infos)
    y = layers.convert_network(b, infos, x)
    preprocessing.outputs(b, pre, loss_name(config), y, mask, decision(pre, config))
    meta = {"task": pre.task, "targets": list(pre.targets), "nettrain_version": __version__}
    if pre.task == "classification":
        meta["classes"] = pre.classes.tolist()
    doc = (f"nettrain run {config['name']}: inputs are the raw columns as `nettrain predict` "
           "reads them (or X); outputs are "
           + ("label and probabilities." if pre.task == "classification" else
              "value, one column per target, in the targets' units."))
    return b.model(str(config["name"] or "nettrain"), doc, meta)
