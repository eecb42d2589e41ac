"""The docs work as shown: every import line and every Python example of README.md and docs/*.md.

Import lines (in ```python blocks, and inline code such as `import nettrain`) must import.
Each ```python block runs in a fresh folder holding copies of the shipped configs/ (their
training.epochs cut to 3: what is checked is that the examples run, not their scores) and
datasets/, plus what the examples read that a command beside them makes: a trained run at
every `runs/<config name>/<timestamp>` an example names, with its ONNX export as model.onnx
inside; `penguins.onnx` (README: `nettrain export RUN -o penguins.onnx`); a text model's
`model.vocab.json` (docs/export.md). A block that cannot run on its own by nature is marked
directly above it with `<!-- not run: why -->`; keep those rare. The `onnx` extra installs
what the ONNX Runtime examples import, and docs/testing.md names every test file.
"""

import ast
import importlib.metadata
import io
import re
import shutil
import sys
import tomllib
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from rich.console import Console

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^\s*```(\S*)\s*$")
NOT_RUN = re.compile(r"^\s*<!--\s*not run:\s*(\S.*?)\s*-->\s*$")
INLINE_IMPORT = re.compile(r"`((?:import [\w.]+|from [\w.]+ import [\w, ]+)[^`]*)`")
RUN_PATH = re.compile(r"runs/([\w.-]+)/(\d{8}-\d{6})")
STAMP_OF_EXPORT = "runs/penguins-mlp/20240517-093005"  # README: nettrain export RUN -o penguins.onnx
EPOCHS = re.compile(r"^(\s*epochs:\s*)\d+", re.MULTILINE)
EXAMPLE_EPOCHS = 3  # the examples' copies of the shipped configs train this many epochs


@dataclass
class Block:
    doc: Path
    line: int  # the line of the first code line in the doc
    code: str
    not_run: str | None  # the reason given by a <!-- not run: ... --> mark, or None

    @property
    def where(self):
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def python_blocks(doc):
    """The ```python blocks of a doc; a not-run mark must sit on the line right above one."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if FENCE.match(lines[j]))
        if fence.group(1) == "python":
            mark = NOT_RUN.match(lines[i - 1]) if i else None
            blocks.append(Block(doc, i + 2, "\n".join(lines[i + 1:end]) + "\n",
                                mark.group(1) if mark else None))
        i = end + 1
    return blocks


def stray_marks(doc):
    """Line numbers of not-run marks (outside code blocks) not directly above a ```python block."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    stray, inside = [], False
    for i, line in enumerate(lines):
        if FENCE.match(line):
            inside = not inside
        elif not inside and NOT_RUN.match(line):
            below = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
            if not (below and below.group(1) == "python"):
                stray.append(i + 1)
    return stray


def import_lines(doc):
    """(line number, statement) for each import line of a ```python block and each inline
    `import ...` / `from ... import ...` code span outside fences."""
    found, inside = [], None
    for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        fence = FENCE.match(line)
        if fence:
            inside = None if inside is not None else fence.group(1)
            continue
        if inside == "python":
            code = line.split("#")[0].strip()
            if re.match(r"(import|from) [\w.]+", code):
                found.append((number, code))
        elif inside is None:
            found += [(number, span) for span in INLINE_IMPORT.findall(line)]
    return found


BLOCKS = [block for doc in DOCS for block in python_blocks(doc)]
IMPORTS = [(doc, number, code) for doc in DOCS for number, code in import_lines(doc)]


def only_imports(code):
    """The import statements of a line (`import a; from b import c; x = 1` keeps the first two)."""
    tree = ast.parse(code)
    return ast.Module([node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))],
                      type_ignores=[])


@pytest.mark.parametrize("doc, number, code", IMPORTS,
                         ids=[f"{d.relative_to(ROOT)}:{n}" for d, n, _ in IMPORTS])
def test_every_import_line_imports(doc, number, code):
    try:
        exec(compile(only_imports(code), f"{doc.name}:{number}", "exec"), {})
    except ImportError as err:
        pytest.fail(f"{doc.relative_to(ROOT)}:{number}: {code!r} fails: {err}", pytrace=False)


def test_the_docs_have_examples_and_imports_to_check():
    """The extraction finds what is there (a broken pattern would make every test vacuous)."""
    assert len(BLOCKS) >= 12 and len(IMPORTS) >= 15
    assert any(code.startswith("from nettrain.config import load_config") for _, _, code in IMPORTS)
    assert any(b.doc.name == "README.md" and "nettrain.fit(" in b.code for b in BLOCKS)


def test_a_mark_applies_to_the_block_right_below_it_only(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- not run: needs a Dask scheduler -->\n```python\nimport dask\n```\n\n"
                   "<!-- not run: a stray mark -->\n\n```python\nx = 1\n```\n"
                   "```text\n<!-- not run: shown as text -->\n```\n", encoding="utf-8")
    assert [(b.line, b.not_run) for b in python_blocks(doc)] == [(3, "needs a Dask scheduler"), (9, None)]
    assert stray_marks(doc) == [6]
    assert import_lines(doc) == [(3, "import dask")]


def test_not_run_marks_are_few_and_each_above_an_example():
    marked = [b.where for b in BLOCKS if b.not_run]
    assert len(marked) <= 2, f"more examples left unrun than expected: {marked}"
    assert {doc.name: stray_marks(doc) for doc in DOCS if stray_marks(doc)} == {}


def test_the_testing_guide_names_every_test_file():
    """docs/testing.md says what each group of test files proves: a new file joins a group."""
    guide = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    unnamed = [p.name for p in sorted((ROOT / "tests").glob("test_*.py")) if f"`{p.name}`" not in guide]
    assert not unnamed, f"add these to the table of docs/testing.md: {', '.join(unnamed)}"


# ---------------------------------------------------------------- the examples' folder


def config_names():
    """{run name: config file} for the shipped configs (a run directory is runs/<name>/...)."""
    return {yaml.safe_load(path.read_text())["name"]: path.name
            for path in sorted((ROOT / "configs").glob("*.yaml"))}


def reviews_csv(path):
    """A tiny sentiment table with a text column, for a text model's vocabulary file."""
    good = ["a superb story", "the actors are superb", "gripping and moving", "a moving film"]
    bad = ["a dull story", "the plot is dull", "boring and slow", "a slow film"]
    rows = [(text, "pos") for text in good] + [(text, "neg") for text in bad]
    path.write_text("review,label\n" + "".join(f"{t},{label}\n" for t, label in rows * 3))
    return path


def text_run(base):
    return {"name": "reviews", "seed": 0, "output": str(base / "trained"),
            "data": {"path": str(reviews_csv(base / "reviews.csv")), "target": "label",
                     "text": {"column": "review", "vocab_size": 30, "max_length": 6},
                     "split": {"train": 0.75, "val": 0.25, "test": 0}},
            "model": {"layers": [{"type": "embedding", "output_dim": 4},
                                 {"type": "gru", "units": 3}, {"type": "dense", "units": 1}]},
            "loss": "binary_cross_entropy", "training": {"epochs": 1, "batch_size": 8}}


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """The folder every example starts from (copied for each example)."""
    import nettrain
    from nettrain.export import export

    base = tmp_path_factory.mktemp("doc_assets")
    folder = base / "assets"
    shutil.copytree(ROOT / "configs", folder / "configs")
    for config in (folder / "configs").glob("*.yaml"):  # what is checked is that examples run
        config.write_text(EPOCHS.sub(rf"\g<1>{EXAMPLE_EPOCHS}", config.read_text()))
    shutil.copytree(ROOT / "datasets", folder / "datasets")
    quiet = {"quiet": True, "console": Console(file=io.StringIO())}
    configs = config_names()
    wanted = {m.groups() for b in BLOCKS if not b.not_run for m in RUN_PATH.finditer(b.code)}
    wanted.add(tuple(STAMP_OF_EXPORT.split("/")[1:]))
    for name, stamp in sorted(wanted):
        assert name in configs, f"an example names runs/{name}/..., but no shipped config is named {name}"
        run = nettrain.fit(str(folder / "configs" / configs[name]), **quiet,
                           overrides=[f"output={base / 'trained'}"])
        target = folder / "runs" / name / stamp
        shutil.copytree(run.path, target)
        export(target)  # RUN/model.onnx
    export(folder / STAMP_OF_EXPORT, folder / "penguins.onnx")
    export(nettrain.fit(text_run(base), **quiet).path, folder / "model.onnx")  # + model.vocab.json
    return folder


RUNNABLE = [b for b in BLOCKS if not b.not_run]


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.where for b in RUNNABLE])
def test_every_python_example_runs(block, assets, tmp_path, monkeypatch):
    folder = tmp_path / "example"
    shutil.copytree(assets, folder)
    monkeypatch.chdir(folder)
    code = "\n" * (block.line - 1) + block.code  # tracebacks give the doc's line numbers
    try:
        exec(compile(code, str(block.doc.relative_to(ROOT)), "exec"), {"__name__": "__doc_example__"})
    except Exception:
        pytest.fail(f"The example at {block.where} fails:\n{traceback.format_exc(limit=-3)}",
                    pytrace=False)


# ---------------------------------------------------------------- what the extras install


def requirement_names(requirements):
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def third_party_modules(code):
    tree = ast.parse(code)
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    tops = {name.split(".")[0] for name in names}
    return {t for t in tops if t not in sys.stdlib_module_names and t != "nettrain"}


def test_the_onnx_extra_installs_what_the_scoring_examples_import():
    """pip install "nettrain[onnx]" is all an ONNX Runtime example needs beyond nettrain."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = requirement_names(project["dependencies"] + project["optional-dependencies"]["onnx"])
    distributions = importlib.metadata.packages_distributions()
    scoring = [b for b in RUNNABLE if "onnxruntime" in third_party_modules(b.code)]
    assert {b.doc.name for b in scoring} >= {"README.md", "export.md"}
    for block in scoring:
        for module in third_party_modules(block.code):
            provided = {d.lower() for d in distributions.get(module, [module])}
            assert provided & installed, f"{block.where} imports {module}, which the onnx extra does not install"
