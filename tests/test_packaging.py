"""The shipped datasets travel in the wheel: setup.py copies them into nettrain/datasets, and
the code looks there first, so `nettrain init` and `datasets list` work after a plain install."""

import importlib.util

from nettrain.data.downloads import shipped_datasets, shipped_dir


def load_setup(root):
    spec = importlib.util.spec_from_file_location("nettrain_setup", root / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: setup() does not run
    return module


def test_the_build_copies_every_shipped_dataset_into_the_package(tmp_path, root):
    copied = load_setup(root).copy_datasets(tmp_path)
    csvs = sorted(p.name for p in (root / "datasets").glob("*.csv"))
    assert {"iris.csv", "diabetes.csv"} <= set(csvs)
    assert copied == csvs + ["README.md"]
    for name in csvs:
        assert (tmp_path / "nettrain" / "datasets" / name).read_bytes() == \
            (root / "datasets" / name).read_bytes()


def test_an_installed_package_finds_its_own_copy(tmp_path, root):
    package = tmp_path / "site-packages" / "nettrain"
    load_setup(root).copy_datasets(package.parent)
    assert shipped_dir(package) == package / "datasets"
    assert [name for name, _, _ in shipped_datasets(shipped_dir(package))][:2] == [
        "breast_cancer.csv", "diabetes.csv"]
    # a source checkout has no nettrain/datasets: the repository's datasets/ folder
    assert shipped_dir() == root / "datasets"


def test_the_sdist_carries_the_datasets(root):
    manifest = (root / "MANIFEST.in").read_text()
    assert "include datasets/*.csv" in manifest and "include setup.py" in manifest
