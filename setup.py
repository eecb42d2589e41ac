"""Build hook: the shipped CSV datasets go into the wheel as package data (nettrain/datasets).

In the repository they live in datasets/ at the root, where the configs in configs/ find
them; a built wheel carries a copy inside the package, so `nettrain init` and `nettrain
datasets list` work after a plain (non-editable) `pip install`. Everything else about the
build is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("*.csv", "README.md")


def copy_datasets(build_lib, source=HERE / "datasets"):
    """Copy the shipped datasets into `build_lib`/nettrain/datasets; return the copied names."""
    target = Path(build_lib) / "nettrain" / "datasets"
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for pattern in SHIPPED:
        for path in sorted(source.glob(pattern)):
            shutil.copy2(path, target / path.name)
            copied.append(path.name)
    return copied


class BuildWithDatasets(build_py):
    def run(self):
        super().run()
        copy_datasets(self.build_lib)


if __name__ == "__main__":
    setup(cmdclass={"build_py": BuildWithDatasets})
