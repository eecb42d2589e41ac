"""The data-kind interface: every registered kind is chosen from its config, round-trips
through preprocess.json and describes itself; an unknown kind in a preprocess.json is a
clear error; and a new kind is one class plus one decorator line, with no other module told
its name."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from PIL import Image

import nettrain
from nettrain.config.loading import config_from_dict
from nettrain.data.dataset import prepare_data
from nettrain.data.kinds import DATA_KINDS, data_kind_class, load_data_kind, register_data_kind
from nettrain.data.kinds.table import TableKind
from nettrain.errors import DataError

DENSE = [{"type": "dense", "units": "auto"}]


def penguins(tmp_path):
    return {"data": {"path": str(ROOT / "datasets" / "penguins.csv"), "target": "species",
                     "missing": "drop"}, "model": {"layers": DENSE}}


def token_ids(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "ids.npz", X=rng.integers(0, 30, size=(60, 8)), y=np.arange(60) % 2)
    return {"data": {"path": "ids.npz"},
            "model": {"layers": [{"type": "embedding", "output_dim": 4}, {"type": "flatten"},
                                 *DENSE]}}


def image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (tmp_path / "pics" / label).mkdir(parents=True)
        for i in range(8):
            pixels = rng.integers(0, 256, size=(4, 5, 3)).astype(np.uint8)
            Image.fromarray(pixels, "RGB").save(tmp_path / "pics" / label / f"{i}.png")
    return {"data": {"images": "pics"}, "model": {"layers": [{"type": "flatten"}, *DENSE]}}


def series(tmp_path):
    steps = np.arange(80)
    pd.DataFrame({"year": 1900 + steps, "level": np.sin(steps / 4) * 10}).to_csv(
        tmp_path / "series.csv", index=False)
    return {"data": {"path": "series.csv", "target": "level", "task": "regression",
                     "window": {"size": 6, "order_by": "year"}},
            "model": {"layers": [{"type": "lstm", "units": 3}, *DENSE]}, "loss": "mse",
            "metrics": ["mae"]}


def reviews(tmp_path):
    rng = np.random.default_rng(0)
    words = np.array("good bad fine dull great poor".split())
    texts = [" ".join(rng.choice(words, size=5)) for _ in range(60)]
    pd.DataFrame({"review": texts, "label": ["yes" if "good" in t else "no" for t in texts]}).to_csv(
        tmp_path / "reviews.csv", index=False)
    return {"data": {"path": "reviews.csv", "target": "label",
                     "text": {"column": "review", "vocab_size": 6, "max_length": 4}},
            "model": {"layers": [{"type": "embedding", "output_dim": 3}, {"type": "flatten"},
                                 *DENSE]}}


# name -> (config, what describe() says once fitted)
KINDS = {
    "table": (penguins, ["one-hot encoded: island (3 levels), sex (2 levels)"]),
    "npz": (token_ids, ["token ids: vocabulary size 30 (largest id + 1), not scaled"]),
    "images": (image_folder, []),
    "window": (series, []),
    "text": (reviews, []),
}


def prepared(name, tmp_path):
    cfg = config_from_dict(KINDS[name][0](tmp_path), base_dir=tmp_path)
    return cfg, prepare_data(cfg)


def test_every_registered_kind_has_a_case_here():
    assert set(KINDS) == set(DATA_KINDS)


@pytest.mark.parametrize("name", list(KINDS))
def test_each_kind_is_chosen_from_its_config_and_round_trips_through_preprocess_json(
        name, tmp_path):
    cfg, ds = prepared(name, tmp_path)
    assert data_kind_class(cfg["data"]) is DATA_KINDS[name] and ds.preprocessor.name == name
    text = ds.preprocessor.to_json()
    assert "kind" not in json.loads(text)  # the first five kinds' files keep their old bytes
    again = load_data_kind(text, cfg["data"])
    assert type(again) is type(ds.preprocessor) and again.to_json() == text
    assert again.input_shape == ds.input_shape and again.data_facts == ds.preprocessor.data_facts
    rebuilt = prepare_data(cfg, preprocessor=again)  # the saved kind reapplies exactly
    for split, (X, y) in ds.splits.items():
        np.testing.assert_array_equal(rebuilt.splits[split][0], X)
        np.testing.assert_array_equal(rebuilt.splits[split][1], y)


@pytest.mark.parametrize("name", list(KINDS))
def test_each_kind_describes_its_encoding_in_the_notes(name, tmp_path):
    _, ds = prepared(name, tmp_path)
    lines = ds.preprocessor.describe()
    assert lines == KINDS[name][1]
    assert all(line in ds.notes for line in lines)  # what validate and fit print


def test_the_data_section_is_read_never_written(tmp_path):
    cfg = config_from_dict(image_folder(tmp_path), base_dir=tmp_path)
    before = json.dumps(cfg.data, sort_keys=True)
    ds = prepare_data(cfg)
    assert json.dumps(cfg.data, sort_keys=True) == before
    assert ds.preprocessor.scale == "none" and ds.settled == {"data.scale": "none"}


def test_an_unknown_kind_in_preprocess_json_is_a_clear_error(tmp_path):
    cfg, ds = prepared("table", tmp_path)
    doc = {"kind": "graph_inputs", **json.loads(ds.preprocessor.to_json())}
    with pytest.raises(DataError, match=r"'run/preprocess.json' is preprocessing of the data kind "
                                        r"'graph_inputs', which this nettrain does not know\..*"
                                        r"The kinds it knows are: table, npz, images"):
        load_data_kind(json.dumps(doc), cfg["data"], source="run/preprocess.json")


def test_a_damaged_preprocess_json_names_the_file(tmp_path):
    cfg, ds = prepared("window", tmp_path)
    doc = json.loads(ds.preprocessor.to_json())
    del doc["window"]
    with pytest.raises(DataError, match=r"'p.json' cannot be read: the entry 'window' is missing"):
        load_data_kind(json.dumps(doc), cfg["data"], source="p.json")


# ---- a new kind: one class, one decorator line
@register_data_kind("sorted_columns")
class SortedColumns(TableKind):
    """A table whose features are its columns in name order (a file named *.sorted.csv)."""

    @classmethod
    def chosen_by(cls, data):
        return str(data.get("path") or "").endswith(".sorted.csv")

    @classmethod
    def feature_columns(cls, data, columns, targets, features):
        return sorted(features)

    def describe(self):
        return [*super().describe(), f"columns in name order: {', '.join(self.features)}"]


DATA_KINDS.pop("sorted_columns")  # registered by the decorator; the fixture adds it per test


@pytest.fixture
def sorted_kind():
    DATA_KINDS["sorted_columns"] = SortedColumns
    yield
    DATA_KINDS.pop("sorted_columns", None)


def test_a_new_kind_trains_saves_loads_predicts_and_exports_through_the_usual_paths(
        tmp_path, sorted_kind):
    pd.read_csv(ROOT / "datasets" / "iris.csv").to_csv(tmp_path / "iris.sorted.csv", index=False)
    config = {"name": "sorted", "seed": 0, "output": str(tmp_path / "runs"),
              "data": {"path": str(tmp_path / "iris.sorted.csv"), "target": "species"},
              "model": {"layers": [{"type": "dense", "units": 8, "activation": "relu"}, *DENSE]},
              "training": {"epochs": 3, "batch_size": 16}}
    run = nettrain.fit(config)
    saved = json.loads((run.path / "preprocess.json").read_text())
    assert saved["kind"] == "sorted_columns"  # a new kind's file names it
    assert [c["name"] for c in saved["columns"]] == sorted(c["name"] for c in saved["columns"])
    loaded = nettrain.load(run.path)
    assert type(loaded.preprocessor) is SortedColumns
    assert loaded.preprocessor.describe()[-1].startswith("columns in name order: petal_length")
    assert len(loaded.predict(tmp_path / "iris.sorted.csv")) == 150
    pytest.importorskip("onnx")
    from nettrain.export import to_onnx

    inputs = [i.name for i in to_onnx(run).graph.input]
    assert inputs == ["petal_length", "petal_width", "sepal_length", "sepal_width"]
