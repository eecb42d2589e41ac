"""Graph assembly: a run's inputs and preprocessing, its network and its outputs, as one ONNX model.

The three parts come from the run's data kind, which adds its inputs and preprocessing
through `preprocessing.InputBuilder`, `preprocessing` (the network's output to probabilities,
labels or values) and `layers` (one converter per layer type).
"""

from nettrain.export.builder import GraphBuilder, require_onnx


def loss_name(config):
    return config["loss"]["name"]


def build_inputs(b, pre, infos):
    """The graph inputs and the preprocessing up to the network's input, as the data kind
    `pre` adds them: (X, missing mask, {name: JSON document written beside the model})."""
    from nettrain.export.preprocessing import InputBuilder

    inputs = InputBuilder(b)
    x, mask = pre.export_inputs(inputs, infos[0].input_shape, infos[0].type == "embedding")
    return x, mask, inputs.documents


def decision(pre, config):
    """A two-class model's (positive class index, threshold), as predict decides."""
    from nettrain.nn.metrics import positive_index

    if pre.task != "classification":
        return None
    return positive_index(pre.classes, config["data"]["pos_label"]), float(config["threshold"])


def export_run(loaded):
    """(the checked ONNX ModelProto, {name: JSON document to write beside it}) of a loaded
    run (`nettrain.inference.loading.load`); a text model's document is its vocabulary."""
    from nettrain.export import layers, preprocessing
    from nettrain.version import __version__

    require_onnx()
    pre, model, config = loaded.preprocessor, loaded.model, loaded.config
    b = GraphBuilder(model.dtype)
    infos = layers.layer_infos(model)
    x, mask, documents = build_inputs(b, pre, infos)
    y = layers.convert_network(b, infos, x)
    preprocessing.outputs(b, pre, loss_name(config), y, mask, decision(pre, config))
    meta = {"task": pre.task, "targets": list(pre.targets), "nettrain_version": __version__}
    if pre.task == "classification":
        meta["classes"] = pre.classes.tolist()
    doc = (f"nettrain run {config['name']}: inputs are the raw columns as `nettrain predict` "
           "reads them (or X); outputs are "
           + ("label and probabilities." if pre.task == "classification" else
              "value, one column per target, in the targets' units."))
    return b.model(str(config["name"] or "nettrain"), doc, meta), documents
