"""The naive forecast of a data.window config: the next value is the last one seen.

It scores the same windows the config's run is scored on (the same chronological blocks,
horizon and stride), so its MAE is the baseline a trained model must beat. The target must
be among the window's features (the default). Run from the repository root:

    python benchmarks/naive_forecast.py configs/sunspots_lstm.yaml
"""

import argparse

import numpy as np


def main(path):
    from nettrain.config.loading import load_config
    from nettrain.data.dataset import prepare_data

    config = load_config(path)
    dataset = prepare_data(config)
    pre = dataset.preprocessor
    target = pre.targets[0]
    column = pre.features.index(target)
    for split, (X, y) in dataset.splits.items():
        last = X[:, -1, column].astype(np.float64)
        if pre.center is not None:  # back to the column's units
            last = last * pre.spread[column] + pre.center[column]
        actual = pre.inverse_target(y)[:, 0]
        print(f"{split}: {len(y)} windows, naive (last value) MAE {np.mean(np.abs(actual - last)):.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", default="configs/sunspots_lstm.yaml",
                        help="a config with data.window (default: %(default)s)")
    main(parser.parse_args().config)
