"""A search whose study is in PostgreSQL, shared by 2 worker processes: every trial and epoch
in the server, one results row per trial. Runs where NETTRAIN_TEST_POSTGRES_URL names a server
(.ci/run starts one and exports it); skipped elsewhere."""

import io
import os
import uuid
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

import nettrain

URL = os.environ.get("NETTRAIN_TEST_POSTGRES_URL")
IRIS = str(Path(__file__).resolve().parent.parent / "datasets" / "iris.csv")

pytestmark = pytest.mark.skipif(not URL, reason="NETTRAIN_TEST_POSTGRES_URL names no PostgreSQL server")


def test_two_workers_share_a_study_in_postgresql(tmp_path):
    import optuna

    name = f"iris-{uuid.uuid4().hex[:8]}"  # a study of its own on a server that may keep others
    config = {"name": name, "seed": 0, "output": str(tmp_path / "runs"),
              "data": {"path": IRIS, "target": "species"},
              "model": {"layers": [{"type": "dense", "units": 4, "activation": "relu"},
                                   {"type": "dense", "units": 3}]},
              "metrics": ["accuracy"], "training": {"epochs": 6, "batch_size": 16},
              "search": {"method": "tpe", "trials": 6, "pruner": "asha", "storage": URL,
                         "space": {"optimizer.lr": {"log_uniform": [0.0001, 0.3]},
                                   "model.layers.0.units": {"int": [2, 16]}}}}
    try:
        done = nettrain.grid_search(config, workers=2, quiet=True, console=Console(file=io.StringIO()))
        study = optuna.load_study(study_name=name, storage=URL)
        table = pd.read_csv(done.path / "results.csv", dtype={"id": str}).set_index("id")
        assert len(table) == 6 and set(table["status"]) <= {"ok", "pruned"}
        assert not (done.path / "search.db").exists()
        ended = [t for t in study.trials if t.state.is_finished()]
        assert len(ended) == 6
        for trial in ended:
            history = pd.read_csv(done.path / trial.user_attrs["trial_id"] / "history.csv")
            assert trial.intermediate_values == dict(zip(history["epoch"], history["val_loss"]))
        again = nettrain.grid_search(config, workers=2, quiet=True, console=Console(file=io.StringIO()))
        assert len(again.results) == 6 and len(optuna.load_study(study_name=name, storage=URL).trials) == 6
    finally:
        try:
            optuna.delete_study(study_name=name, storage=URL)
        except KeyError:
            pass
