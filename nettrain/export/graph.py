"""Graph assembly: a run's inputs and preprocessing, its network and its outputs, as one ONNX model.

The three parts come from `preprocessing` (raw columns in, features out; the network's output
to probabilities, labels or values) and `layers` (one converter per layer type).
"""

import numpy as np

from .builder import GraphBuilder, require_onnx


def loss_name(config):
    loss = config["loss"]
    return loss.get("name") if isinstance(loss, dict) else loss


def array_data(config):
    """Whether the run's data comes as arrays (an .npz file) rather than table columns."""
    data = config["data"]
    files = [data.get(k) for k in ("path", "train", "val", "test")]
    return any(str(f).lower().endswith(".npz") for f in files if f)


def export_run(loaded):
    """The ONNX ModelProto of a loaded run (`nettrain.inference.load`), checked."""
    from nettrain import __version__

    from . import layers, preprocessing

    require_onnx()
    pre, model, config = loaded.preprocessor, loaded.model, loaded.config
    b = GraphBuilder(model.dtype)
    infos = layers.layer_infos(model)
    if array_data(config):
        x, mask = preprocessing.array_input(b, pre, infos[0].input_shape)
    else:
        x, mask = preprocessing.table_inputs(b, pre)
    y = layers.convert_network(b, infos, x)
    preprocessing.outputs(b, pre, loss_name(config), y, mask)
    meta = {"task": pre.task, "targets": list(pre.targets), "nettrain_version": __version__}
    if pre.task == "classification":
        meta["classes"] = pre.classes.tolist()
    doc = (f"nettrain run {config['name']}: inputs are the raw columns as `nettrain "
           "predict` reads them; outputs are "
           + ("label and probabilities." if pre.task == "classification" else
              "value, one column per target, in the targets' units."))
    return b.model(str(config['name'] or 'nettrain'), doc, meta)
