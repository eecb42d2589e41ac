"""nettrain report: the HTML page's sections for each kind of run, its self-containment (no
external URL, images that decode), damaged and unfinished runs, and the curves it computes."""

import base64
import io
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import assert_usage_error
from PIL import Image
from trained_runs import trained_runs

import nettrain
from nettrain.cli import cli
from nettrain.reporting import build_report
from nettrain.reporting.evaluation import pr_curve, roc_curve

ROOT = Path(__file__).resolve().parent.parent
DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def _iris(base, name, **training):
    return {"name": name, "seed": 0, "output": str(base),
            "data": {"path": str(ROOT / "datasets" / "iris.csv"), "target": "species"},
            "model": {"layers": [{"type": "dense", "units": 8, "activation": "relu"},
                                 {"type": "dense", "units": 3}]},
            "optimizer": {"name": "adam", "lr": 0.05}, "metrics": ["accuracy"],
            "training": {"epochs": 4, "batch_size": 16, **training}}


def _quiet(config, **kwargs):
    from rich.console import Console

    return nettrain.fit(config, quiet=True, console=Console(file=io.StringIO()), **kwargs)


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """The shared iris (3 classes), pets (binary) and linnerud (3 targets) runs, plus a run
    with diagnostics, a one-epoch run, a 50-class run and a grid search."""
    base = tmp_path_factory.mktemp("report_runs")
    out = dict(trained_runs(tmp_path_factory.getbasetemp()))
    out["diagnose"] = _quiet(_iris(base, "iris-diagnose"), diagnose=True)
    out["one_epoch"] = _quiet(_iris(base, "iris-one-epoch", epochs=1))
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(50), 8)
    frame = pd.DataFrame(rng.normal(size=(400, 3)) + y[:, None] * 0.1, columns=["a", "b", "c"])
    frame["label"] = [f"c{k:02d}" for k in y]
    frame.to_csv(base / "fifty.csv", index=False)
    fifty = _iris(base, "fifty", epochs=2)
    fifty["data"] = {"path": str(base / "fifty.csv"), "target": "label"}
    fifty["model"]["layers"][-1]["units"] = 50
    out["fifty"] = _quiet(fifty)
    conv = _iris(base, "digits-conv", epochs=1)
    conv["data"] = {"path": str(ROOT / "datasets" / "digits.csv"), "target": "digit", "shape": [1, 8, 8]}
    conv["model"]["layers"] = [{"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"},
                               {"type": "max_pool2d"}, {"type": "flatten"}, {"type": "dense", "units": 10}]
    out["conv"] = _quiet(conv)
    lstm = _iris(base, "sunspots-lstm", epochs=2)
    lstm["data"] = {"path": str(ROOT / "datasets" / "sunspots.csv"), "target": "sunspots",
                    "task": "regression", "window": {"size": 8, "order_by": "year"}}
    lstm["model"]["layers"] = [{"type": "lstm", "units": 4}, {"type": "dense", "units": 1}]
    lstm["loss"], lstm["metrics"] = "mse", ["mae"]
    out["lstm"] = _quiet(lstm, diagnose=True)
    search = _iris(base, "iris-grid", epochs=2)
    search["search"] = {"space": {"optimizer.lr": [0.05, 0.01], "model.layers.0.units": [4, 8]}}
    out["search"] = nettrain.grid_search(search, workers=1, quiet=True,
                                         console=__import__("rich.console").console.Console(
                                             file=io.StringIO()))
    return out


@pytest.fixture(scope="session")
def pages(runs):
    """Each report built once: {kind: HTML}."""
    three = [runs["iris"].path, runs["diagnose"].path, runs["one_epoch"].path]
    return {
        "classification": build_report([runs["iris"].path]),
        "binary": build_report([runs["pets"].path]),
        "regression": build_report([runs["linnerud"].path]),
        "diagnostics": build_report([runs["diagnose"].path]),
        "one_epoch": build_report([runs["one_epoch"].path]),
        "fifty": build_report([runs["fifty"].path]),
        "three": build_report(three),
        "search": build_report([runs["search"].path]),
        "conv": build_report([runs["conv"].path]),
        "lstm": build_report([runs["lstm"].path]),
    }


def _text(html):
    """The page without its data: URIs (what a reader of the markup sees)."""
    return DATA_URI.sub("data:", html)


def _images(html):
    return [base64.b64decode(b) for b in DATA_URI.findall(html)]


COMMON = ["Model and config", "Learning curves", "Final metrics", "Evaluation", "config.yaml",
          'alt="learning curves"']


@pytest.mark.parametrize("kind, sections", [
    ("classification", ["Confusion matrix", "Per class", 'alt="confusion matrix"', "macro average"]),
    ("binary", ["ROC and precision-recall", 'alt="ROC and precision-recall curves"',
                'alt="confusion matrix"']),
    ("regression", ['alt="predicted against actual"', "weight", "waist", "pulse", "rmse"]),
    ("diagnostics", ["Gradient health", 'alt="gradient health"', "grad norm", "update/weight"]),
    ("one_epoch", ["Best epoch 1"]),
    ("fifty", ['alt="confusion matrix"', "c00", "c49"]),
    ("conv", ["conv2d(4, 3x3, relu)", "(n, 4, 6, 6)", 'alt="confusion matrix"']),
    ("lstm", ["lstm(4)", 'alt="gradient health"', "through time", 'alt="predicted against actual"']),
])
def test_each_kind_of_run_has_its_sections(pages, kind, sections):
    html = pages[kind]
    for needle in COMMON + sections:
        assert needle in html, needle
    assert "could not be drawn" not in html
    assert "Traceback" not in html


def test_only_binary_runs_get_roc_curves_and_only_diagnosed_runs_health(pages):
    classification, regression = _text(pages["classification"]), _text(pages["regression"])
    assert "ROC and precision-recall" not in classification + regression
    assert "Gradient health" not in classification
    assert "Confusion matrix" not in regression


@pytest.mark.parametrize("kind, page", [("iris", "classification"), ("conv", "conv"),
                                        ("lstm", "lstm")])
def test_the_model_summary_rows_are_the_models_own(runs, pages, kind, page):
    """Every layer type shows as the model summarizes it (conv and recurrent layers too)."""
    from nettrain.nn.model import batch_shape

    model = nettrain.load(runs[kind].path).model
    html = pages[page]
    for index, description, shape, count in model.summary():
        assert f"<td>{description}</td><td>{shape}</td>" in html
    assert f"<td>input</td><td>{batch_shape(model.input_shape)}</td>" in html
    assert f'<td class="num">{model.n_params()}</td>' in html


def test_per_class_scores_are_those_of_evaluate(runs, pages):
    report = nettrain.evaluate(runs["iris"].path)
    for row in report["per_class"]:
        assert f"<td>{row['class']}</td><td class=\"num\">{row['precision']:.4g}</td>" in pages["classification"]


def test_three_runs_side_by_side(runs, pages):
    html = pages["three"]
    assert "3 runs compared" in html and 'alt="learning curves overlaid"' in html
    for name in ("iris-diagnose", "iris-one-epoch"):
        assert 'href="#run' in html and name in html
    # one comparison table: the config keys that differ are columns
    assert "training.epochs" in html and "training.diagnostics" in html
    assert html.count('alt="confusion matrix"') == 3  # and each run's own report below


def test_grid_search_page(runs, pages):
    html = pages["search"]
    results = pd.read_csv(runs["search"].path / "results.csv", dtype={"id": str})
    for needle in ("Ranked trials", "Parameters against the search metric", "Trial curves",
                   'alt="parameters against the search metric"', "optimizer.lr",
                   "model.layers.0.units", f"Best trial {results['id'][0]}"):
        assert needle in html, needle
    assert all(trial in html for trial in results["id"])
    assert "could not be drawn" not in html


@pytest.mark.parametrize("kind", ["classification", "binary", "regression", "diagnostics",
                                  "three", "search", "fifty"])
def test_the_page_is_self_contained_and_its_images_decode(pages, kind):
    html = pages[kind]
    text = _text(html)
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text
    assert all(src.startswith("data:") for src in re.findall(r'(?:src|href)="([^"#][^"]*)"', text))
    images = _images(html)
    assert images
    for data in images:
        image = Image.open(io.BytesIO(data))
        assert image.format == "PNG" and image.width > 100 and image.height > 100
        image.verify()


def test_dark_theme_is_in_the_style(pages):
    assert "@media (prefers-color-scheme: dark)" in pages["classification"]
    assert 'content="light dark"' in pages["classification"]


# ---------------------------------------------------------------- damaged and unfinished


def _copy(run, tmp_path, name):
    target = tmp_path / name / run.path.name
    shutil.copytree(run.path, target)
    return target


def test_a_damaged_run_draws_what_exists_and_says_what_is_missing(runs, tmp_path):
    path = _copy(runs["iris"], tmp_path, "damaged")
    (path / "model.npz").write_bytes((path / "model.npz").read_bytes()[:200])
    (path / "metrics.json").write_text('{"train": {"loss": 0.4', encoding="utf-8")
    html = build_report([path])
    assert "damaged" in html
    assert "model.npz is corrupt" in html and "metrics.json cannot be read" in html
    assert 'alt="learning curves"' in html  # history.csv is intact
    assert "<td>dense(8, relu)</td>" in html  # the summary comes from config.yaml instead
    assert "could not be drawn" not in html and "Traceback" not in html


def test_a_killed_run_without_files_still_reports(runs, tmp_path):
    path = _copy(runs["iris"], tmp_path, "killed")
    for name in ("metrics.json", "model.npz"):
        (path / name).unlink()
    (path / "history.csv").write_text("epoch,train_loss,val_loss,accuracy,val_accuracy,lr,seconds\n",
                                      encoding="utf-8")
    html = build_report([path])
    assert "unfinished" in html and "no epoch finished" in html
    assert "metrics.json is missing" in html and "model.npz is written when training ends" in html


def test_a_run_directory_with_only_garbage_reports(tmp_path):
    path = tmp_path / "runs" / "x" / "20240101-000000"
    path.mkdir(parents=True)
    (path / "config.yaml").write_text("model: [unclosed\n", encoding="utf-8")
    (path / "history.csv").write_bytes(b"\xff\xfe\x00garbage")
    result = CliRunner().invoke(cli, ["report", str(path), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "damaged" in html and "config.yaml cannot be read" in html
    assert "Traceback" not in result.output


def test_interrupted_run_says_how_to_resume(runs, tmp_path):
    import json

    path = _copy(runs["iris"], tmp_path, "interrupted")
    metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    (path / "metrics.json").write_text(json.dumps({**metrics, "stopped_reason": "interrupted"}),
                                       encoding="utf-8")
    html = build_report([path])
    assert "interrupted" in html and "--resume" in html


# ---------------------------------------------------------------- the command


def test_report_command_writes_report_html_into_the_run(runs, tmp_path):
    path = _copy(runs["one_epoch"], tmp_path, "cli")
    result = CliRunner().invoke(cli, ["report", str(path)])
    assert result.exit_code == 0, result.output
    assert (path / "report.html").is_file() and str(path / "report.html") in result.output


def test_report_of_a_folder_of_runs_names_them(runs):
    result = CliRunner().invoke(cli, ["report", str(runs["diagnose"].path.parent.parent)])
    assert_usage_error(result, "neither a run directory", "nettrain runs")


def test_report_of_a_missing_path_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "nope")])
    assert_usage_error(result, "does not exist")


def test_write_report_to_an_unwritable_place_is_a_clear_error(runs, tmp_path):
    result = CliRunner().invoke(cli, ["report", str(runs["one_epoch"].path), "-o",
                                      str(tmp_path / "no" / "such" / "dir" / "r.html")])
    assert_usage_error(result, "Cannot write the report", "-o FILE.html")


def test_report_from_python(runs, tmp_path):
    out = nettrain.report([runs["iris"].path, runs["pets"].path], tmp_path / "two.html")
    assert out == tmp_path / "two.html" and "2 runs compared" in out.read_text(encoding="utf-8")


# ---------------------------------------------------------------- the curves, against scikit-learn


def test_roc_and_pr_curves_match_scikit_learn():
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.metrics import roc_curve as sk_roc

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    score = np.round(rng.random(300) * 0.6 + y * 0.3, 2)  # rounded: many ties
    fpr, tpr, auc = roc_curve(y, score)
    sk_fpr, sk_tpr, _ = sk_roc(y, score, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    assert auc == pytest.approx(roc_auc_score(y, score))
    assert pr_curve(y, score)[2] == pytest.approx(average_precision_score(y, score))


# ---------------------------------------------------------------- fit --report, training.report


def test_fit_report_writes_report_html_into_the_run(tmp_path):
    import yaml

    config = tmp_path / "iris.yaml"
    config.write_text(yaml.safe_dump(_iris(tmp_path / "runs", "iris-report", epochs=2)),
                      encoding="utf-8")
    result = CliRunner().invoke(cli, ["fit", str(config), "--report", "--quiet"])
    assert result.exit_code == 0, result.output
    (page,) = (tmp_path / "runs" / "iris-report").glob("*/report.html")
    assert "Learning curves" in page.read_text(encoding="utf-8")


def test_training_report_true_does_the_same_from_python(tmp_path):
    run = _quiet(_iris(tmp_path, "iris-config-report", epochs=1, report=True))
    assert "Confusion matrix" in (run.path / "report.html").read_text(encoding="utf-8")
    assert not (_quiet(_iris(tmp_path, "no-report", epochs=1)).path / "report.html").exists()


# ---------------------------------------------------------------- a real browser


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium on the PATH")
def test_headless_chromium_renders_the_page_light_and_dark(pages, tmp_path):
    import subprocess

    page = tmp_path / "binary.html"
    page.write_text(pages["binary"], encoding="utf-8")
    shots = {}
    for theme, flags in (("light", []), ("dark", ["--force-dark-mode"])):
        shots[theme] = tmp_path / f"{theme}.png"
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--window-size=1000,1600", *flags,
                        f"--screenshot={shots[theme]}", page.as_uri()],
                       check=True, capture_output=True, timeout=120)
    light, dark = (np.asarray(Image.open(shots[t]).convert("L"), dtype=float) for t in ("light", "dark"))
    assert light.std() > 10 and dark.std() > 10  # something is drawn, not a blank page
    assert light.mean() > 200 and dark.mean() < 60  # the page follows the browser's theme


def test_labels_from_the_data_are_drawn_and_written_as_they_are():
    """A `$` in a class label is not mathtext (which could fail to parse), and markup in a
    label is escaped in the page."""
    from nettrain.reporting.evaluation import binary_curves, confusion_matrix
    from nettrain.reporting.page import table

    for data in (confusion_matrix([[3, 1], [0, 2]], ["$5 off", "a $b"]),
                 binary_curves(np.array([0, 1, 1, 0]), np.array([0.2, 0.9, 0.6, 0.4]), "$x")):
        assert Image.open(io.BytesIO(data)).format == "PNG"
    assert "&lt;b&gt;x&lt;/b&gt;" in table(["class"], [["<b>x</b>"]])
