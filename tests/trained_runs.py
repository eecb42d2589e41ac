"""Tiny trained runs shared by the inference, evaluate and predict tests, trained once per session."""

import functools
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def pets_frame(n=120, seed=0):
    """A binary task with an id, a text category, a number and yes/no labels."""
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "green", "blue"], n)
    size = rng.normal(size=n).round(3)
    label = np.where((color == "red") | (size > 0.8), "yes", "no")
    return pd.DataFrame({"id": 9_007_199_254_740_993 + np.arange(n), "color": color,
                         "size": size, "label": label})


def _layers(units, n_out):
    return [{"type": "dense", "units": units, "activation": "relu"}, {"type": "dense", "units": n_out}]


def _configs(base):
    pets = base / "pets.csv"
    pets_frame().to_csv(pets, index=False)
    common = {"seed": 0, "output": str(base / "runs"), "training": {"epochs": 20, "batch_size": 16}}
    return {
        "iris": {
            **common, "name": "iris",
            "data": {"path": str(ROOT / "datasets" / "iris.csv"), "target": "species",
                     "split": {"train": 0.6, "val": 0.2, "test": 0.2}},
            "model": {"layers": _layers(8, 3)},
            "optimizer": {"name": "adam", "lr": 0.05},
            "metrics": ["accuracy", "f1"],
        },
        "pets": {
            **common, "name": "pets",
            "data": {"path": str(pets), "target": "label", "features": ["color", "size"],
                     "split": {"train": 0.7, "val": 0.3, "test": 0}},
            "model": {"layers": _layers(8, 1)},
            "loss": "binary_cross_entropy",
            "optimizer": {"name": "adam", "lr": 0.05},
            "metrics": ["accuracy"],
        },
        "linnerud": {
            **common, "name": "linnerud",
            "data": {"path": str(ROOT / "datasets" / "linnerud.csv"),
                     "target": ["weight", "waist", "pulse"], "scale_target": "standard",
                     "split": {"train": 0.7, "val": 0.3, "test": 0}},
            "model": {"layers": _layers(4, 3)},
            "loss": "mse",
            "optimizer": {"name": "adam", "lr": 0.01},
            "metrics": ["mae", "r2"],
        },
    }


@functools.cache
def trained_runs(base):
    """{name: Run} for the iris (3 classes), pets (binary, categorical) and linnerud
    (3-output regression with target scaling) runs, trained under `base`."""
    import io

    from rich.console import Console

    import nettrain

    base = Path(base) / "trained_runs"
    base.mkdir(exist_ok=True)
    quiet = Console(file=io.StringIO())
    return {name: nettrain.fit(cfg, quiet=True, console=quiet)
            for name, cfg in _configs(base).items()}
