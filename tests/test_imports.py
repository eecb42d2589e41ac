"""The package's imports run one way: errors/registry -> backend -> nn -> config -> data ->
store -> build -> inference -> training -> search -> reporting -> export -> api -> cli, with no
cycle, imports inside functions included.

Every module is parsed with `ast` (nothing is imported), so the test sees the imports a
function makes when it runs as well as those at the top of a file.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nettrain"

# The parts, lowest first: a module may import its own part and the parts before it.
ORDER = ["foundation", "backend", "nn", "config", "data", "store", "build", "inference", "training",
         "search", "reporting", "export", "api", "cli"]
FOUNDATION = {"nettrain", "nettrain.version", "nettrain.errors", "nettrain.registry", "nettrain.checks"}
# `nettrain/__init__.py` holds __version__ and the public API, imported lazily by a module
# __getattr__ (`nettrain.fit` loads nettrain.api on first use): not an import of the package.
LAZY_FACADE = "nettrain"


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part(module):
    """The part of the architecture a module belongs to."""
    if module in FOUNDATION:
        return "foundation"
    second = module.split(".")[1]
    if second in ("cli", "commands"):
        return "cli"
    return second


def modules():
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path, known):
    """The nettrain modules a file imports (anywhere in it), with the line of each."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from a.b import c` imports the module a.b.c when there is one, else a.b's name c
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known
                     else node.module for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "nettrain":
                while name not in known and "." in name:
                    name = name.rsplit(".", 1)[0]
                if name in known:
                    found.append((name, node.lineno))
    return found


def graph():
    known = modules()
    edges = {name: imported(path, known) for name, path in known.items()}
    edges[LAZY_FACADE] = [(t, line) for t, line in edges[LAZY_FACADE] if t != "nettrain.api"]
    return edges, known


def test_every_module_is_in_a_known_part():
    _, known = graph()
    assert {part(m) for m in known} <= set(ORDER), {m: part(m) for m in known if part(m) not in ORDER}


def test_imports_run_one_way():
    edges, known = graph()
    wrong = []
    for module, targets in edges.items():
        for target, line in targets:
            if ORDER.index(part(target)) > ORDER.index(part(module)):
                wrong.append(f"{known[module].relative_to(PACKAGE.parent)}:{line} ({part(module)}) "
                             f"imports {target} ({part(target)})")
    wrong = list(dict.fromkeys(wrong))
    assert not wrong, "imports against the direction " + " -> ".join(ORDER) + ":\n" + "\n".join(wrong)


def test_no_import_cycle():
    edges, _ = graph()
    adjacency = {m: sorted({t for t, _ in targets if t != m}) for m, targets in edges.items()}
    cycles, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in adjacency.get(node, ()):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(adjacency):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_module_is_over_500_lines():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 500}
    assert not long, long


# The training path computes through nettrain.backend (xp and its helpers), so another array
# module can be dropped in there: these modules import no NumPy and use no NumPy-only keyword.
BACKEND_ONLY = ["nettrain.training.trainer", "nettrain.nn.losses", "nettrain.nn.optimizers"]


def test_the_training_path_computes_through_the_backend():
    known = modules()
    names = [m for m in known if m.startswith("nettrain.nn.layers.")] + BACKEND_ONLY
    wrong = []
    for name in names:
        path = known[name]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            imports = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(i == "numpy" or i.startswith("numpy.") for i in imports):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports numpy")
            if isinstance(node, ast.Call) and any(k.arg == "mode" for k in node.keywords) \
                    and isinstance(node.func, ast.Attribute) and node.func.attr == "take":
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} calls take(mode=...)")
    assert not wrong, "use nettrain.backend (xp, take_rows, ...) instead:\n" + "\n".join(wrong)
