"""Mutation testing: plant realistic one-line mistakes in the package, one at a time, and
count how many the tests catch.

    python tools/mutate.py                      # every target module, its own tests
    python tools/mutate.py --list               # the mutants, without running anything
    python tools/mutate.py --only optimizers    # modules whose path contains a word
    python tools/mutate.py --jobs 2 --json out.json

A mutant is one edit on one line: an arithmetic or augmented-assignment operator swapped
(+ -, * /, ** *), a comparison flipped or moved across its boundary (< <=, == !=, is / is
not, in / not in), `and`/`or` swapped, a unary minus or `not` dropped, a number changed (a
default, an epsilon, a beta: 0.999 -> 0.99, 0.01 -> 0.1, 1 -> 0), True/False swapped
(`training=`, `allow_pickle=`, `shuffle=`, ...), a statement dropped (an in-place update, a
call, an assignment to an attribute or item, a raise), the first two positional arguments
of a call swapped, a function swapped for its twin (min/max, argmax/argmin, any/all,
floor/ceil, safe_load/unsafe_load), and file-handling slips (`atomic_open` -> plain
`open`, `os.replace` -> a copy that leaves the temporary file, `os.O_EXCL` dropped).
Text inside messages (raise, warnings, prints, f-strings) is never mutated: a typo in a
message is not a wrong result.

Each mutant runs only the test files mapped to its module (TARGETS), with `pytest -x`, in a
private copy of the repository (tracked and untracked, non-ignored files), so the working
tree is never touched; the mutated file is restored in a `finally` and checked against its
original bytes before the next mutant. A mutant is *caught* when the tests fail or exceed
the timeout (a multiple of the unmutated run's time). Mutants listed in EQUIVALENT (no
test could tell them apart: a performance constant, a cache size) are reported but left
out of the score. The score is caught / (mutants - equivalent).

Runs on demand, not in CI: a full run is about one mutant per 1-3 seconds per job.
"""

import argparse
import ast
import concurrent.futures
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Module -> the test files that exercise it. The maths, the training loop, data preparation,
# inference and file handling: where a silent mistake gives wrong numbers or lost files.
REF = ["tests/test_references.py", "tests/test_defaults.py", "tests/test_edges.py"]
CONTRACTS = "tests/test_contracts.py"  # every registered component against torch / scikit-learn
LOOP = ["tests/test_trainer.py", "tests/test_callbacks.py", "tests/test_resume.py",
        "tests/test_fit_cli.py", "tests/test_run_safety.py", "tests/test_decisions.py",
        "tests/test_diagnostics.py", *REF]
LAYERS = ["tests/test_layers.py", "tests/test_model.py", "tests/test_gradcheck.py",
          "tests/test_shapes.py", CONTRACTS, *REF]
DATA = ["tests/test_preprocess.py", "tests/test_data.py", "tests/test_data_fastpath.py",
        "tests/test_sequences.py", "tests/test_images.py", "tests/test_decisions.py", *REF]
TARGETS = {
    # the maths
    "nettrain/nn/activations.py": ["tests/test_activations.py", "tests/test_layers.py",
                                   CONTRACTS, *REF],
    "nettrain/nn/initializers.py": ["tests/test_initializers.py", "tests/test_layers.py",
                                    CONTRACTS, *REF],
    "nettrain/nn/layers/base.py": LAYERS,
    "nettrain/nn/layers/dense.py": LAYERS,
    "nettrain/nn/layers/dropout.py": LAYERS,
    "nettrain/nn/layers/normalization.py": LAYERS,
    "nettrain/nn/layers/activation.py": LAYERS,
    "nettrain/nn/model.py": LAYERS + ["tests/test_inference.py"],
    "nettrain/nn/losses.py": ["tests/test_losses.py", "tests/test_gradcheck.py", "tests/test_decisions.py",
                              CONTRACTS, *REF],
    "nettrain/nn/metrics.py": ["tests/test_metrics.py", "tests/test_scores.py", "tests/test_trainer.py",
                               "tests/test_decisions.py", CONTRACTS, *REF],
    "nettrain/nn/scores.py": ["tests/test_scores.py", "tests/test_metrics.py", "tests/test_decisions.py",
                              CONTRACTS, *REF],
    "nettrain/nn/optimizers.py": ["tests/test_optimizers.py", "tests/test_optimizer_hooks.py",
                                  "tests/test_trainer.py", CONTRACTS, *REF],
    "nettrain/nn/optimizer_hooks.py": ["tests/test_optimizer_hooks.py", "tests/test_trainer.py",
                                       "tests/test_gradcheck.py", "tests/test_diagnostics.py", *REF],
    "nettrain/nn/schedules.py": ["tests/test_schedules.py", "tests/test_trainer.py",
                                 CONTRACTS, *REF],
    # the training loop
    "nettrain/training/trainer.py": LOOP,
    "nettrain/training/callbacks.py": LOOP,
    "nettrain/training/session.py": LOOP,
    "nettrain/training/signals.py": LOOP,
    "nettrain/training/launch.py": LOOP,
    # data preparation
    "nettrain/data/preprocess.py": DATA,
    "nettrain/data/dataset.py": DATA,
    "nettrain/data/splits.py": DATA,
    # inference
    "nettrain/inference/loading.py": ["tests/test_inference.py", "tests/test_evaluate_cli.py",
                                   "tests/test_predict_cli.py", "tests/test_run_safety.py",
                                   "tests/test_decisions.py", *REF],
    # file handling
    "nettrain/store/rundir.py": ["tests/test_rundir.py", "tests/test_run_safety.py",
                                "tests/test_resume.py", "tests/test_fit_cli.py", "tests/test_runs.py",
                                "tests/test_cli.py", *REF],
}

# Display code, where a mistake shows as a wrong-looking table, not a wrong result:
# (path suffix, function or class names whose bodies are not mutated).
SKIP_SCOPES = [
    ("", {"__repr__", "describe", "summary"}),
    ("callbacks.py", {"format_value", "_plain_line", "PlainLines", "LiveTable", "make_reporter",
                      "_metric_rows", "print_summary"}),
]

# Mutants no test can catch, each with the reason: (path suffix, a regex the original line
# matches, a regex the mutated line matches, why). Keep this list short and honest.
EQUIVALENT = [
    ("layers/dropout.py", r"self\.rate == 0", r"rate == 1",
     "a shortcut: rate 0 gives the same output through the mask, and rate 1 is refused"),
    ("layers/dropout.py", r">= self\.rate", r"> self\.rate",
     "a uniform draw equal to the rate has probability about 2**-24"),
    ("layers/dropout.py", r"def backward\(self, grad_out, input_grad=True\)", r"",
     "dropout's backward does not use input_grad"),
    ("layers/base.py", r"def (forward|backward)\(self, \w+, (training|input_grad)=", r"",
     "the base layer's identity ignores training and input_grad"),
    ("layers/activation.py", r"def (forward|backward)\(self, \w+, (training|input_grad)=", r"",
     "an activation layer ignores training and input_grad"),
    ("layers/dense.py", r"def forward\(self, x, training=", r"",
     "a dense layer ignores training"),
    ("layers/dense.py", r"activation\.forward\(z, inplace=True\)", r"inplace=False",
     "the same values, computed in z's own buffer or in a new one"),
    ("layers/normalization.py", r"x\.size // len\(mean\)", r"x\.size / len",
     "the same count as a float: n / (n - 1) is unchanged"),
    ("nn/activations.py", r"expm1\(xp\.minimum\(x, 0\)\)", r"minimum\(x, 1\)",
     "ELU's negative part is used only where x <= 0"),
    ("data/dataset.py", r"def prepare_data\(.*fast_csv=False", r"",
     "the fast CSV path gives the same Dataset bit for bit (tests/test_data_fastpath.py)"),
    ("data/dataset.py", r"^\s*drop_target=False\):", r"drop_target=True",
     "prepare_data, the one caller, always passes drop_target"),
    ("data/dataset.py", r"def _shorten\(items, limit=12\)", r"",
     "how many names a message lists"),
    ("data/dataset.py", r'split\.get\("stratify", True\)', r"",
     "the resolved config always holds split.stratify"),
    ("training/trainer.py", r"^\s*self\.n_batches = 0$", r"pass",
     "fit sets n_batches before any use"),
    ("data/preprocess.py", r"whole = len\(pos\) == X\.shape\[1\] and", r" or ",
     "positions are sorted and unique: as many as the columns means all of them"),
    ("runs/inference.py", r'config\.data\.get\("threshold", 0\.5\)', r"",
     "the resolved config always holds data.threshold"),
    ("data/preprocess.py", r"total / max\(n \* per, 1\)", r"max\(n \* per, 0\)",
     "a guard for an empty train split, which the config refuses (split.train > 0)"),
    ("data/splits.py", r"exact \+ 1e-9", r"",
     "a rounding guard: 1e-9 and 1e-8 floor the same counts for any realistic size"),
    ("nn/initializers.py", r"\.astype\(dtype, copy=False\)", r"copy=True",
     "a copy of the fresh draw: the same values"),
    ("nn/optimizers.py", r"self\.t % FLUSH_EVERY == 0", r"== 1",
     "a speed guard: flushing state below 2**24 normal-minimums at other steps changes no update "
     "measurably (see the module's docstring)"),
    ("runs/inference.py", r"Model\(layers, .*rng=0,", r"rng=1,",
     "the initial draws are replaced by the saved weights, and a loaded run never trains"),
    ("nn/initializers.py", r"return shape\[0\], shape\[-1\]", r"shape\[1\]$",
     "the weights drawn here are matrices (dense); conv kernels take the branch above"),
    ("nn/metrics.py", r"_regression_errors\(y_true, scores\)\[[01]\]",
     r"_regression_errors\(scores, y_true\)",
     "squared and absolute errors are the same either way round"),
    ("training/session.py", r"def __init__\(self, config, dataset, .*resuming=False", r"resuming=True",
     "fit, the one caller, always passes resuming"),
    ("data/splits.py", r"counts\[:, s\]\.sum\(\) == 0", r"\.mean\(\) == 0",
     "counts are >= 0: their sum is 0 exactly when their mean is"),
    ("data/dataset.py", r"pd\.DataFrame\(X, .*copy=False", r"copy=True",
     "copying X gives the same frame (only more memory)"),
    ("runs/inference.py", r"np\.concatenate\(chunks\) if len\(chunks\) > 1", r"> 0",
     "concatenating a single chunk gives the same array"),
    ("runs/inference.py", r"preprocess_text or preprocessor\.to_json\(\)", r" and ",
     "a run is always loaded with its preprocess.json text, and the preprocessor read from it "
     "writes the same JSON back (tests/test_preprocess.py: the round trip is exact)"),
    ("runs/rundir.py", r"mask = os\.umask\(0o022\)", r"",
     "the value set for a moment is replaced on the next line; any value reads the old mask"),
    ("training/launch.py", r"yaml\.safe_load\(config\.to_yaml\(\)\)", r"unsafe_load",
     "it reads back the plain YAML nettrain has just written from its own config: no tags"),
    ("training/trainer.py", r"x = layer\.forward\(x, training=False\)", r"training=True",
     "the diagnosis of a run that has already diverged (its model is not saved): a layer's "
     "output is non-finite in either mode (NaN * 0 is NaN through dropout; batch statistics of "
     "a non-finite input are non-finite)"),
    ("nn/activations.py", r"xp\.where\(x >= 0, s, e \* s\)", r"x > 0",
     "at x = 0 both branches are 1/2 (e = 1, s = 1/2)"),
    ("layers/normalization.py", r"grad_out\.size // len\(", r"grad_out\.size / len\(",
     "the same count as a float: dividing by it gives the same values"),
    ("nn/model.py", r'super\(\)\.__init__\(f"\{kind\}: \{detail\}"\)', r"^\s*pass$",
     "the exception's own text: every caller catches it and words kind and detail itself"),
    ("data/preprocess.py", r"np\.maximum\(count, 1\)", r"np\.maximum\(count, 0\)",
     "only a column with no finite train values has count 0: 0 / 0 is NaN under the function's "
     "errstate, which np.where gives its mean anyway and the constant mask replaces in its spread"),
    ("data/preprocess.py", r"whole = len\(pos\) == X\.shape\[1\] and", r"len\(pos\) != X",
     "a speed shortcut: without it the same step writes the same values through X[:, pos]"),
    ("nn/scores.py", r"xp\.cumsum\(starts, axis=0\) - 1 \+", r"cumsum\(starts, axis=0\) (\+ 1|- 0) \+",
     "tie-group ids shifted by one or two stay unique over the columns, and each only indexes "
     "its own bincount entry: the same ranks"),
    ("nn/metrics.py", r"missed = \(cm\.sum\(axis=1\) > 0\)", r"missed = \(cm\.mean\(axis=1\) > 0\)",
     "a row of counts has a sum > 0 exactly when its mean is > 0"),
    ("store/rundir.py", r"mask = os\.umask\(0o022\)", r"os\.umask\(\d+\)",
     "reading the umask where /proc is missing: any value set here is put back on the next line"),
    ("data/splits.py", r"if len\(common\) == 0:", r"== 1:",
     "a rare group means two or more splits, so a common group has two or more rows: common "
     "holds no rows or at least two, never one"),
]

# Calls whose arguments are messages, not behaviour.
MESSAGE_CALLS = {"print", "warn", "echo", "secho", "debug", "info", "warning", "error", "log"}
TWINS = {"min": "max", "max": "min", "minimum": "maximum", "maximum": "minimum",
         "argmin": "argmax", "argmax": "argmin", "any": "all", "all": "any",
         "floor": "ceil", "ceil": "floor", "safe_load": "unsafe_load",
         "nanmin": "nanmax", "nanmax": "nanmin", "mean": "sum", "sum": "mean"}
BINOPS = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "/"), ast.Div: ("/", "*"),
          ast.FloorDiv: ("//", "/"), ast.Pow: ("**", "*"), ast.Mod: ("%", "//")}
CMPOPS = {ast.Lt: ("<", ["<=", ">"]), ast.LtE: ("<=", ["<", ">="]), ast.Gt: (">", [">=", "<"]),
          ast.GtE: (">=", [">", "<="]), ast.Eq: ("==", ["!="]), ast.NotEq: ("!=", ["=="]),
          ast.Is: ("is", ["is not"]), ast.IsNot: ("is not", ["is"]),
          ast.In: ("in", ["not in"]), ast.NotIn: ("not in", ["in"])}
# Line rewrites for file handling: (regex, replacement, kind).
LINE_RULES = [
    (r"\batomic_open\(([^()]*?), (\"w\"|\"wb\"|'w'|'wb')\)", r"open(\1, \2)", "plain open"),
    (r"\bos\.replace\((\w+), (\w+)\)", r"shutil.copyfile(\1, \2)", "copy, no rename"),
    (r"\| os\.O_EXCL\b", "", "drop O_EXCL"),
]


@dataclass
class Mutant:
    path: str
    line: int
    kind: str
    old: str
    new: str

    @property
    def id(self):
        text = f"{self.path}\0{self.old.strip()}\0{self.new.strip()}\0{self.kind}"
        return hashlib.sha1(text.encode()).hexdigest()[:10]


# ---------------------------------------------------------------- finding mutants


def _parents(tree):
    parent = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parent[child] = node
    return parent


def _call_name(call):
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _is_message(node, parent):
    """True inside a raise, an f-string, a docstring or a message-printing call."""
    while node is not None:
        if isinstance(node, (ast.Raise, ast.JoinedStr, ast.Assert)):
            return True
        if isinstance(node, ast.Call) and _call_name(node) in MESSAGE_CALLS:
            return True
        if isinstance(node, ast.Call) and _call_name(node) == "append" and any(
                isinstance(a, ast.JoinedStr) for a in node.args):
            return True
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            return False
        node = parent.get(node)
    return False


def _docstring_nodes(tree):
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docs.add(body[0])
    return docs


def _scopes(tree):
    """{line: names of the functions and classes around it}."""
    around = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for line in range(node.lineno, node.end_lineno + 1):
                around.setdefault(line, set()).add(node.name)
    return around


def _skipped(rel, names):
    return any(rel.endswith(suffix) and names & skip for suffix, skip in SKIP_SCOPES)


# Arguments worth swapping are variables; functions where order does not matter are left out.
SWAPPABLE = (ast.Name, ast.Attribute, ast.Subscript)
COMMUTATIVE = {"isinstance", "getattr", "hasattr", "setattr", "multiply", "add", "maximum",
               "minimum", "zip", "max", "min", "logical_and", "logical_or", "array_equal",
               "allclose", "isclose", "join", "format", "append", "update", "setdefault",
               "vdot", "hypot", "range", "get", "pop", "divmod", "zeros", "ones", "empty", "full",
               "asarray", "array", "astype"}


def _new_number(value):
    if isinstance(value, int):
        return {0: 1, 1: 0}.get(value, value + 1)
    if value == 0:
        return 1.0
    if 0 < value < 1:
        if repr(value).startswith("0.9"):  # a beta or a momentum: 0.999 -> 0.99, 0.9 -> 0.99
            return round(1 - (1 - value) * 10, 12) if value > 0.9 else 0.99
        return float(f"{value * 10:.12g}")
    return value + 1


def _in_defaults(node, parent):
    p = parent.get(node)
    return isinstance(p, ast.arguments) and (node in p.defaults or node in p.kw_defaults)


def mutants_of(rel, source):
    """Every one-line mutant of one module's source."""
    tree = ast.parse(source)
    parent = _parents(tree)
    docs = _docstring_nodes(tree)
    lines = source.splitlines(keepends=True)
    found = []

    def add(node_line, col, end_col, text, kind):
        old = lines[node_line - 1]
        new = old[:col] + text + old[end_col:]
        if new != old:
            found.append(Mutant(rel, node_line, kind, old.rstrip("\n"), new.rstrip("\n")))

    def seg(node):
        return lines[node.lineno - 1][node.col_offset:node.end_col_offset]

    def one_line(*nodes):
        return all(n.lineno == n.end_lineno == nodes[0].lineno for n in nodes)

    def gap_swap(left, right, old_op, new_op, kind):
        """Replace the operator written between two nodes on one line."""
        if not one_line(left, right):
            return
        line = lines[left.lineno - 1]
        gap = line[left.end_col_offset:right.col_offset]
        pattern = r"(?<![*/<>=!])" + re.escape(old_op) + r"(?![*/<>=])"
        if old_op in ("in", "is", "not in", "is not"):
            pattern = r"\b" + re.escape(old_op) + r"\b"
        match = re.search(pattern, gap)
        if match:
            start = left.end_col_offset + match.start()
            add(left.lineno, start, start + len(match.group()), new_op, kind)

    for node in ast.walk(tree):
        if getattr(node, "lineno", None) is None or (
                _is_message(node, parent) and not isinstance(node, ast.Raise)):
            continue  # a raise itself may be dropped; its message is never mutated
        if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
            old, new = BINOPS[type(node.op)]
            gap_swap(node.left, node.right, old, new, f"{old} -> {new}")
        elif isinstance(node, ast.AugAssign) and type(node.op) in BINOPS:
            old, new = BINOPS[type(node.op)]
            gap_swap(node.target, node.value, old + "=", new + "=", f"{old}= -> {new}=")
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in CMPOPS:
            old, news = CMPOPS[type(node.ops[0])]
            for new in news:
                gap_swap(node.left, node.comparators[0], old, new, f"{old} -> {new}")
        elif isinstance(node, ast.BoolOp) and len(node.values) == 2 and one_line(*node.values):
            old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
            gap_swap(node.values[0], node.values[1], old, new, f"{old} -> {new}")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)) and one_line(node):
            add(node.lineno, node.col_offset, node.end_col_offset, seg(node.operand),
                "drop unary -" if isinstance(node.op, ast.USub) else "drop not")
        elif isinstance(node, ast.Constant) and one_line(node) and node not in docs:
            kind = "default" if _in_defaults(node, parent) else "constant"
            if isinstance(node.value, bool):
                add(node.lineno, node.col_offset, node.end_col_offset, str(not node.value),
                    f"{kind} {node.value} -> {not node.value}")
            elif isinstance(node.value, (int, float)) and not isinstance(parent.get(node), ast.Subscript):
                new = _new_number(node.value)
                add(node.lineno, node.col_offset, node.end_col_offset, repr(new),
                    f"{kind} {seg(node)} -> {new!r}")
        elif isinstance(node, ast.Call) and one_line(node):
            args = node.args
            if (len(args) >= 2 and all(isinstance(a, SWAPPABLE) for a in args[:2])
                    and seg(args[0]) != seg(args[1]) and _call_name(node) not in COMMUTATIVE):
                line = lines[node.lineno - 1]
                a, b = args[0], args[1]
                text = seg(b) + line[a.end_col_offset:b.col_offset] + seg(a)
                add(node.lineno, a.col_offset, b.end_col_offset, text, "swap arguments")
            func = node.func
            name = _call_name(node)
            if name in TWINS:
                end = func.end_col_offset
                add(func.end_lineno, end - len(name), end, TWINS[name], f"{name} -> {TWINS[name]}")
        if isinstance(node, ast.stmt) and node not in docs and one_line(node):
            drop = (isinstance(node, (ast.AugAssign, ast.Raise, ast.Delete))
                    or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call))
                    or (isinstance(node, (ast.Assign, ast.AnnAssign))
                        and all(isinstance(t, (ast.Attribute, ast.Subscript))
                                for t in getattr(node, "targets", [getattr(node, "target", None)]))))
            if drop and not (isinstance(node, ast.Expr) and _is_message(node.value, parent)):
                line = lines[node.lineno - 1]
                rest = line[node.end_col_offset:]
                if rest.strip() in ("", "\\") or rest.lstrip().startswith("#"):
                    add(node.lineno, node.col_offset, len(line.rstrip("\n")), "pass",
                        "drop raise" if isinstance(node, ast.Raise) else "drop statement")
    for number, line in enumerate(lines, 1):
        for pattern, repl, kind in LINE_RULES:
            new = re.sub(pattern, repl, line, count=1)
            if new != line:
                if kind == "copy, no rename":
                    new = new.replace("shutil.copyfile", "__import__('shutil').copyfile")
                found.append(Mutant(rel, number, kind, line.rstrip("\n"), new.rstrip("\n")))
    around = _scopes(tree)
    found = [m for m in found if not _skipped(rel, around.get(m.line, set()))]
    return _valid(rel, source, found)


def _valid(rel, source, found):
    """Drop mutants that do not compile, duplicates, and any on a `no mutate` line."""
    lines = source.splitlines(keepends=True)
    seen, kept = set(), []
    for m in sorted(found, key=lambda m: (m.line, m.kind, m.new)):
        if m.id in seen or "no mutate" in m.old:
            continue
        seen.add(m.id)
        text = "".join(lines[:m.line - 1]) + m.new + "\n" + "".join(lines[m.line:])
        try:
            compile(text, rel, "exec")
        except SyntaxError:
            continue
        kept.append(m)
    return kept


def equivalent_reason(m):
    for suffix, old, new, why in EQUIVALENT:
        if m.path.endswith(suffix) and re.search(old, m.old) and re.search(new, m.new):
            return why
    return None


# ---------------------------------------------------------------- a private copy


def copy_repo(source, dest, rev=None):
    """Tracked and untracked, non-ignored files of `source` into `dest` (or the tree of commit
    `rev`); no bytecode."""
    if rev:
        Path(dest).mkdir(parents=True)
        archive = subprocess.run(["git", "archive", rev], cwd=source, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        return
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=source, capture_output=True)
    if listing.returncode != 0:  # not a git checkout: everything but environments and caches
        skip = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "runs", ".pytest_cache")
        shutil.copytree(source, dest, ignore=skip)
        return
    for rel in filter(None, listing.stdout.decode().split("\0")):
        src = Path(source, rel)
        if src.is_file() and "__pycache__" not in rel:
            target = Path(dest, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


# A pytest plugin that records which lines of the target modules each test runs.
TRACER = """
import json, os, sys, threading
import pytest

FILES = set(json.loads(os.environ["MUTATE_FILES"]))
seen, current, failed, broken, seconds = {}, [set()], set(), set(), {}


def _local(frame, event, arg):
    if event == "line":
        current[0].add((frame.f_code.co_filename, frame.f_lineno))
    return _local


def _global(frame, event, arg):
    if frame.f_code.co_filename in FILES:
        return _local
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    current[0] = set()
    sys.settrace(_global)
    threading.settrace(_global)
    try:
        yield
    finally:
        sys.settrace(None)
        threading.settrace(None)
        seen[item.nodeid] = sorted(current[0])


def pytest_runtest_logreport(report):
    seconds[report.nodeid] = seconds.get(report.nodeid, 0.0) + report.duration
    if report.failed:
        failed.add(report.nodeid)


def pytest_collectreport(report):
    if report.failed:
        broken.add(report.nodeid)


def pytest_sessionfinish(session):
    with open(os.environ["MUTATE_TRACE"], "w") as f:
        json.dump({"lines": seen, "failed": sorted(failed), "broken": sorted(broken),
                   "seconds": seconds}, f)
"""


def test_env(copy, extra_path=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(copy), extra_path, env.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a stale .pyc must never stand in for a mutant
    env["PYTHONHASHSEED"] = "0"
    return env


def pytest_cmd(copy, tests, first_failure=True):
    return [sys.executable, "-m", "pytest", *(["-x"] if first_failure else []), "-q",
            "-p", "no:cacheprovider", "-p", "no:randomly",
            "--basetemp", str(Path(copy).parent / f"pt-{Path(copy).name}"), *tests]


# Tests that already fail without a mutant (a tree other work is changing): left out of every
# run, so that only the mutant can make a run fail.
BASELINE_FAILURES = []
DURATION = {}  # test id -> seconds in the traced run (with tracing on, so only relative)
THOROUGH = False  # --thorough: survivors are also run on every mapped test file


def run_tests(copy, tests, timeout):
    """(status, seconds): 'passed', 'failed' or 'timeout'."""
    started = time.perf_counter()
    skip = [arg for test in BASELINE_FAILURES for arg in ("--deselect", test)]
    try:
        proc = subprocess.run(pytest_cmd(copy, tests) + skip, cwd=copy, env=test_env(copy),
                              capture_output=True, timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - started
    seconds = time.perf_counter() - started
    if proc.returncode == 4:
        raise SystemExit(f"pytest could not run {tests[:3]}...: {proc.stdout.decode()[-2000:]}")
    return ("passed" if proc.returncode == 0 else "failed"), seconds


# A process that imports the heavy libraries once, then forks a child per mutant that runs
# pytest in-process: nettrain itself is imported afresh by each child, from the mutated files.
SERVER = """
import json, os, signal, sys, time
import importlib
for name in ("numpy", "pandas", "yaml", "rich.console", "click", "pytest", "torch", "sklearn.metrics",
             "scipy.special", "onnx", "onnxruntime", "matplotlib"):
    try:
        importlib.import_module(name)
    except Exception:
        pass
assert not any(m == "nettrain" or m.startswith("nettrain.") for m in sys.modules)
out = sys.stdout
print("ready", file=out, flush=True)
for line in sys.stdin:
    job = json.loads(line)
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        import pytest
        code = 1
        try:
            code = int(pytest.main(job["args"]))
        finally:
            os._exit(code)
    status = None
    while status is None:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(raw)
        elif time.monotonic() - started > job["timeout"]:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = "timeout"
        else:
            time.sleep(0.02)
    print(json.dumps(status), file=out, flush=True)
"""


def trace_tests(copy, files):
    """{(relative path, line): [test ids that run it]} for the target files, and the seconds."""
    plugin_dir = Path(copy).parent / "plugin"
    plugin_dir.mkdir(exist_ok=True)
    (plugin_dir / "_mutate_trace.py").write_text(TRACER)
    out = Path(copy).parent / "trace.json"
    env = test_env(copy, str(plugin_dir))
    env["MUTATE_FILES"] = json.dumps([str(Path(copy, rel)) for rel in files])
    env["MUTATE_TRACE"] = str(out)
    tests = sorted({t for rel in files for t in TARGETS[rel]})
    started = time.perf_counter()
    proc = subprocess.run(pytest_cmd(copy, tests, first_failure=False) + ["-p", "_mutate_trace"],
                          cwd=copy, env=env, capture_output=True, text=True)
    if not out.exists():
        raise SystemExit(f"the tests did not run:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    trace = json.loads(out.read_text())
    if trace["failed"] or trace["broken"]:
        print(f"left out, failing without any mutant: {', '.join(trace['broken'] + trace['failed'])}")
    for rel in files:  # a test file that cannot even be collected is left out of the mapping
        TARGETS[rel] = [t for t in TARGETS[rel] if t not in trace["broken"]]
    BASELINE_FAILURES[:] = trace["failed"]
    covering = {}
    prefix = str(copy) + os.sep
    DURATION.update(trace["seconds"])
    for test, lines in trace["lines"].items():
        if test in trace["failed"]:
            continue
        for file, line in lines:
            covering.setdefault((file.removeprefix(prefix), line), []).append(test)
    return covering, time.perf_counter() - started


class Worker:
    """One private copy of the repository, mutated one file at a time, and its fork server."""

    def __init__(self, source, tmp, index, rev=None):
        self.copy = Path(tmp) / f"repo{index}"
        copy_repo(source, self.copy, rev)
        check = subprocess.run([sys.executable, "-c", "import nettrain; print(nettrain.__file__)"],
                               cwd=self.copy, env=test_env(self.copy), capture_output=True, text=True)
        if not check.stdout.strip().startswith(str(self.copy)):
            raise SystemExit(f"the copy does not import its own nettrain: {check.stdout}{check.stderr}")
        self.server = None

    def start(self):
        self.server = subprocess.Popen([sys.executable, "-c", SERVER], cwd=self.copy,
                                       env=test_env(self.copy), stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        if self.server.stdout.readline().strip() != "ready":
            raise SystemExit("the test server did not start")

    def stop(self):
        if self.server is not None:
            self.server.stdin.close()
            self.server.wait()
            self.server = None

    def baseline(self, tests):
        """Test ids that fail under the fork server without any mutant (left out afterwards)."""
        import xml.etree.ElementTree as ET

        if self.server is None:
            self.start()
        report = self.copy.parent / f"baseline-{self.copy.name}.xml"
        args = pytest_cmd(self.copy, tests, first_failure=False)[3:] + [f"--junitxml={report}"]
        self.server.stdin.write(json.dumps({"args": args, "timeout": 3600}) + "\n")
        self.server.stdin.flush()
        json.loads(self.server.stdout.readline())
        failing = []
        for case in ET.parse(report).iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                module = case.get("classname").replace(".", "/") + ".py"
                failing.append(f"{module}::{case.get('name')}")
        return failing

    def pytest(self, tests, timeout):
        """(status, seconds) of pytest on `tests`, forked from the warm server."""
        if self.server is None:
            self.start()
        skip = [arg for test in BASELINE_FAILURES for arg in ("--deselect", test)]
        args = pytest_cmd(self.copy, tests)[3:] + skip  # without "python -m pytest"
        started = time.perf_counter()
        self.server.stdin.write(json.dumps({"args": args, "timeout": timeout}) + "\n")
        self.server.stdin.flush()
        status = json.loads(self.server.stdout.readline())
        seconds = time.perf_counter() - started
        if status == "timeout":
            return "timeout", seconds
        if status == 4:  # a usage error: conftest or a test id could not be loaded
            return "unusable", seconds
        return ("passed" if status in (0, 5) else "failed"), seconds

    def run(self, mutant, tests, timeout):
        """Plant the mutant, run `tests`, restore the file: (status, seconds)."""
        file = self.copy / mutant.path
        original = file.read_bytes()
        lines = original.decode().splitlines(keepends=True)
        if lines[mutant.line - 1].rstrip("\n") != mutant.old:
            raise RuntimeError(f"{mutant.path}:{mutant.line} is not the line the mutant was made for")
        lines[mutant.line - 1] = mutant.new + "\n"
        try:
            file.write_text("".join(lines))
            status, seconds = self.pytest(tests, timeout)
        finally:
            file.write_bytes(original)
            if file.read_bytes() != original:
                raise RuntimeError(f"could not restore {file}")
        if status == "unusable":  # the mutant broke loading the tests (an import in conftest)?
            if self.pytest(tests, timeout)[0] == "unusable":
                raise SystemExit(f"pytest could not run {tests[:3]}... even without the mutant")
            status = "failed"
        return status, seconds


# ---------------------------------------------------------------- main


PRIORITY = re.compile(r"allow_pickle|training=|safe_load|fsync|umask|chmod|unlink|clip_norm|clip_value")


def _priority(m):
    """Mutants of the file-handling rules and of the flags the project's trust rests on."""
    return m.kind in {kind for _, _, kind in LINE_RULES} or bool(PRIORITY.search(m.old))


def collect(source, only, sample, seed):
    mutants = []
    for rel in TARGETS:
        if only and not any(word in rel for word in only):
            continue
        path = Path(source, rel)
        if not path.exists():
            raise SystemExit(f"{rel} does not exist: update TARGETS in {Path(__file__).name}")
        ms = mutants_of(rel, path.read_text())
        if sample and len(ms) > sample:  # the named slips always, then a seeded sample
            must = [m for m in ms if _priority(m)]
            rest = [m for m in ms if not _priority(m)]
            picked = random.Random(f"{seed}{rel}").sample(rest, max(0, min(len(rest), sample - len(must))))
            ms = sorted(must + picked, key=lambda m: (m.line, m.kind))
        mutants += ms
    return mutants


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=str(ROOT), help="the repository to copy (default: this one)")
    parser.add_argument("--only", nargs="*", default=(), help="modules whose path contains one of these")
    parser.add_argument("--sample", type=int, default=0, help="at most N mutants per module (seeded)")
    parser.add_argument("--rev", help="test this commit (e.g. HEAD) instead of the working tree")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once (one copy each)")
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    parser.add_argument("--survivors-of", metavar="JSON",
                        help="only the mutants that survived in a previous --json file")
    parser.add_argument("--json", help="write every mutant and its outcome to this file")
    parser.add_argument("--thorough", action="store_true",
                        help="also run a survivor on every test file mapped to its module (catches "
                             "what only subprocess tests see; slower)")
    args = parser.parse_args(argv)
    global THOROUGH
    THOROUGH = args.thorough

    listing_dir = None
    if args.rev:  # read the modules as the commit has them
        listing = tempfile.TemporaryDirectory(prefix="nettrain-mutate-list-")
        listing_dir = Path(listing.name, "tree")
        copy_repo(args.source, listing_dir, args.rev)
        mutants = collect(listing_dir, args.only, args.sample, args.seed)
    else:
        mutants = collect(args.source, args.only, args.sample, args.seed)
    if args.survivors_of:
        before = json.loads(Path(args.survivors_of).read_text())
        wanted = {r["id"] for r in before if r["status"] == "survived"}
        mutants = [m for m in collect(args.source if not args.rev else listing_dir, args.only, 0, 0)
                   if m.id in wanted]
    if args.list:
        for m in mutants:
            tag = f"  [equivalent: {equivalent_reason(m)}]" if equivalent_reason(m) else ""
            print(f"{m.id} {m.path}:{m.line} {m.kind}{tag}\n  - {m.old.strip()}\n  + {m.new.strip()}")
        print(f"{len(mutants)} mutants")
        return 0
    # SIGTERM (kill) unwinds like Ctrl-C, so the finally blocks restore and clean up.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with tempfile.TemporaryDirectory(prefix="nettrain-mutate-") as tmp:
        workers = [Worker(args.source, tmp, i, args.rev) for i in range(max(1, args.jobs))]
        files = list(dict.fromkeys(m.path for m in mutants))
        covering, seconds = trace_tests(workers[0].copy, files)
        print(f"traced the tests of {len(files)} modules in {seconds:.0f} s; "
              f"{len(mutants)} mutants", flush=True)
        tests = sorted({t for rel in files for t in TARGETS[rel]})
        extra = [t for t in workers[0].baseline(tests) if t not in BASELINE_FAILURES]
        if extra:
            print(f"left out, failing in a forked process without any mutant: {', '.join(extra)}")
            BASELINE_FAILURES.extend(extra)
            covering = {k: [t for t in v if t not in extra] for k, v in covering.items()}
        try:
            results = run_all(workers, mutants, covering)
        finally:
            for worker in workers:
                worker.stop()
    return report(results, args.json)


def plan(mutant, covering):
    """Test selections to try in turn: the quickest few tests that run the mutated line, then
    all of them, then every test file mapped to the module (a line run at import time or only
    in a subprocess is invisible to the line trace)."""
    mapped = tuple(TARGETS[mutant.path])
    covered = sorted((t for t in covering.get((mutant.path, mutant.line), ()) if t.startswith(mapped)),
                     key=lambda t: DURATION.get(t, 0))
    stages = [covered[:3], covered[3:]] if covered else []
    if not covered or THOROUGH:
        stages.append(TARGETS[mutant.path])
    return [stage for stage in stages if stage]


def judge(worker, mutant, covering):
    """Run the selections of `plan` until one fails: (status, seconds)."""
    total = 0.0
    for tests in plan(mutant, covering):
        budget = 60 + 10 * sum(DURATION.get(t, 1.0) for t in tests) if "::" in tests[0] else 900
        status, seconds = worker.run(mutant, tests, timeout=budget)
        total += seconds
        if status != "passed":
            return status, total
    return "passed", total


def run_all(workers, mutants, covering):
    results = [(m, "equivalent", 0.0) for m in mutants if equivalent_reason(m)]
    todo = [m for m in mutants if not equivalent_reason(m)]
    free = list(workers)
    with concurrent.futures.ThreadPoolExecutor(len(workers)) as pool:
        pending = {}

        def collect_done(block):
            done, _ = concurrent.futures.wait(pending, return_when=block)
            for future in done:
                worker, mutant = pending.pop(future)
                free.append(worker)
                results.append(_record(mutant, future.result(), len(results), len(mutants)))

        for m in todo:
            while not free:
                collect_done(concurrent.futures.FIRST_COMPLETED)
            worker = free.pop()
            pending[pool.submit(judge, worker, m, covering)] = (worker, m)
        while pending:
            collect_done(concurrent.futures.ALL_COMPLETED)
    return results


def _record(mutant, outcome, done, total):
    status, seconds = outcome
    status = {"failed": "caught", "timeout": "caught (timeout)", "passed": "survived"}[status]
    print(f"[{done + 1}/{total}] {status:16s} {seconds:5.1f} s  {mutant.path}:{mutant.line} "
          f"{mutant.kind}", flush=True)
    return mutant, status, seconds


FAMILIES = [("nettrain/nn/", "the maths (nn/)"), ("nettrain/training/", "the training loop (training/)"),
            ("nettrain/data/", "data preparation (data/)"), ("nettrain/inference/loading.py", "inference"),
            ("nettrain/store/rundir.py", "file handling (rundir.py)")]


def family_table(results):
    """A Markdown table per module family: mutants, caught, survived, equivalent, score."""
    rows = {}
    for m, s, *_ in results:
        name = next((name for prefix, name in FAMILIES if m.path.startswith(prefix)), m.path)
        row = rows.setdefault(name, [0, 0, 0, 0])
        row[0] += 1
        row[1 if s.startswith("caught") else 2 if s == "survived" else 3] += 1
    order = [name for _, name in FAMILIES]
    rows = dict(sorted(rows.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    total = [sum(col) for col in zip(*rows.values())] if rows else [0, 0, 0, 0]
    lines = ["| modules | mutants | caught | survived | equivalent | score |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, (n, hit, alive, same) in [*rows.items(), ("**all**", total)]:
        score = f"{100 * hit / (hit + alive):.1f}%" if hit + alive else "-"
        lines.append(f"| {name} | {n} | {hit} | {alive} | {same} | {score} |")
    return "\n".join(lines)


def report(results, json_path=None):
    counted = [(m, s) for m, s, _ in results if s != "equivalent"]
    caught = sum(s.startswith("caught") for _, s in counted)
    by_module = {}
    for m, s in counted:
        total, hit = by_module.get(m.path, (0, 0))
        by_module[m.path] = (total + 1, hit + s.startswith("caught"))
    print("\nmodule                                   caught / mutants")
    for path, (total, hit) in sorted(by_module.items()):
        print(f"{path:40s} {hit:4d} / {total:<4d} {100 * hit / total:5.1f}%")
    print("\n" + family_table(results))
    survivors = sorted((m for m, s in counted if s == "survived"), key=lambda m: (m.path, m.line))
    if survivors:
        print("\nsurvivors (no test failed):")
        for m in survivors:
            print(f"  {m.id} {m.path}:{m.line} {m.kind}\n    - {m.old.strip()}\n    + {m.new.strip()}")
    equivalent = [(m, equivalent_reason(m)) for m, s, _ in results if s == "equivalent"]
    if equivalent:
        print(f"\n{len(equivalent)} equivalent mutant(s) left out of the score:")
        for m, why in equivalent:
            print(f"  {m.path}:{m.line} {m.kind} ({why})")
    score = 100 * caught / len(counted) if counted else 100.0
    print(f"\nmutation score: {caught} / {len(counted)} caught = {score:.1f}%")
    if json_path:
        Path(json_path).write_text(json.dumps(
            [{**asdict(m), "id": m.id, "status": s, "seconds": round(t, 2)} for m, s, t in results],
            indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
