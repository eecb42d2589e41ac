"""tools/mutate.py: which mutants it makes, and that a mutated file is always restored."""

import importlib.util

import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location("mutate", ROOT / "tools" / "mutate.py")
mutate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mutate)

SOURCE = '''def f(x, training=False):
    """Docstring 1 + 1."""
    y = x + 1
    if y > 0:
        raise ValueError(f"bad {x * 2}")
    with atomic_open(path, "w") as out:
        out.write(y)
    return y
'''


def test_mutants_are_one_line_and_never_touch_messages():
    found = {(m.line, m.kind, m.new.strip()) for m in mutate.mutants_of("m.py", SOURCE)}
    assert (1, "default False -> True", "def f(x, training=True):") in found
    assert (3, "+ -> -", "y = x - 1") in found
    assert (4, "> -> >=", "if y >= 0:") in found
    assert (5, "drop raise", "pass") in found
    assert (6, "plain open", 'with open(path, "w") as out:') in found
    assert not [f for f in found if f[0] == 2]  # the docstring
    assert not [f for f in found if f[0] == 5 and f[1] != "drop raise"]  # the message


def test_a_mutated_file_is_restored_even_when_the_run_fails(tmp_path):
    (tmp_path / "m.py").write_text(SOURCE)
    worker = object.__new__(mutate.Worker)
    worker.copy = tmp_path
    [mutant] = [m for m in mutate.mutants_of("m.py", SOURCE) if m.kind == "+ -> -"]

    def crash(tests, timeout):
        assert "y = x - 1" in (tmp_path / "m.py").read_text()  # planted while the tests run
        raise KeyboardInterrupt

    worker.pytest = crash
    mutate.TARGETS["m.py"] = ["tests/x.py"]
    try:
        with pytest.raises(KeyboardInterrupt):
            worker.run(mutant, ["tests/x.py"], 1)
    finally:
        del mutate.TARGETS["m.py"]
    assert (tmp_path / "m.py").read_text() == SOURCE


@pytest.mark.parametrize("unmutated, expected", [("passed", "failed"), ("unusable", SystemExit)])
def test_a_mutant_that_breaks_loading_the_tests_is_caught(tmp_path, unmutated, expected):
    """pytest's usage error (exit 4: conftest could not be imported) under a mutant is a catch
    when the same tests load without it, and a stop when they do not."""
    (tmp_path / "m.py").write_text(SOURCE)
    worker = object.__new__(mutate.Worker)
    worker.copy = tmp_path
    [mutant] = [m for m in mutate.mutants_of("m.py", SOURCE) if m.kind == "+ -> -"]
    calls = []

    def fake(tests, timeout):
        planted = "y = x - 1" in (tmp_path / "m.py").read_text()
        calls.append(planted)
        return ("unusable" if planted else unmutated), 0.1

    worker.pytest = fake
    if expected is SystemExit:
        with pytest.raises(SystemExit, match="even without the mutant"):
            worker.run(mutant, ["tests/x.py"], 1)
    else:
        assert worker.run(mutant, ["tests/x.py"], 1) == (expected, 0.1)
    assert calls == [True, False]  # the second run is on the restored file
    assert (tmp_path / "m.py").read_text() == SOURCE


def test_the_family_table_counts_each_outcome():
    def m(path, line):
        return mutate.Mutant(path, line, "+ -> -", "a + b", "a - b")

    results = [(m("nettrain/nn/losses.py", 1), "caught", 0.1), (m("nettrain/nn/model.py", 2), "survived", 0.1),
               (m("nettrain/nn/model.py", 3), "equivalent", 0.0),
               (m("nettrain/store/rundir.py", 4), "caught (timeout)", 9.0)]
    table = mutate.family_table(results).splitlines()
    assert "| the maths (nn/) | 3 | 1 | 1 | 1 | 50.0% |" in table
    assert "| file handling (rundir.py) | 1 | 1 | 0 | 0 | 100.0% |" in table
    assert table[-1] == "| **all** | 4 | 2 | 1 | 1 | 66.7% |"
