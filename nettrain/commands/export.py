"""`nettrain export`: write a trained run as a model file that scores raw input columns."""

import click


@click.command("export")
@click.argument("run", type=click.Path(file_okay=False))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the model (default: RUN/model.onnx).")
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True,
              help="The model file format.")
def command(run, out, fmt):
    """Write the trained run RUN as an ONNX model that scores raw data.

    Its inputs are the raw columns as `nettrain predict` reads them (numbers as floats, text
    categories as strings), or X for array data; its outputs are label and probabilities
    (classification) or value, one column per target (regression). Imputation, one-hot
    levels, scaling, softmax/sigmoid and target unscaling are inside the graph. Needs the
    onnx package: pip install "nettrain[onnx]".
    """
    from nettrain.api import export_model

    path, *vocabulary = export_model(run, out, fmt)
    extra = f" and its vocabulary {vocabulary[0]} (the model takes token ids)" if vocabulary else ""
    click.echo(f"Wrote {path}{extra}")
