"""Defaults live in the schema only: outside nettrain/config/, no code calls `.get("key")` or
`.get("key", default)` on a section of a resolved config. The resolved config holds every key
(the loader fills what an old run's config.yaml lacks), so such a call restates a default, or
probes for a key that is always there; code indexes the section instead, and asks `"key" in
section` where the keys depend on the class a section names (a schedule's `monitor`).

What counts as a config section, read from the source (no code is run):
- a root: a name `config` or `cfg`, or an attribute `.config` (`self.config`, `run.config`,
  `trial.config`), except in the modules of RAW_CONFIG_ATTRIBUTE where `.config` is a listed
  run's config.yaml read as plain YAML (it may be damaged or partial: those readers tolerate it);
- `root.data`, a subscript of a root or a section (`config["data"]["split"]`), a section `or`
  something, either branch of a conditional expression, a `.get(...)` of a section;
- a local name assigned a section (`data = config["data"]`) or bound by a `for` over one;
- a parameter of a function in the package that some call passes a section to, at its
  position or by its keyword (`_read_file(..., data)` with the caller's `data` a section),
  the function found by name in the calling module or through `from nettrain... import` (and
  the imports of the module it names, for a function it re-exports).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nettrain"
ROOT_NAMES = {"config", "cfg"}
RAW_CONFIG_ATTRIBUTE = {"nettrain/store/listing.py", "nettrain/reporting/collect.py",
                        "nettrain/reporting/compare.py", "nettrain/reporting/search_page.py"}
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


class Module:
    """One source file: its functions by name and the names it imports from the package."""

    def __init__(self, path):
        self.path = path.relative_to(ROOT).as_posix()
        self.name = self.path[:-3].replace("/", ".").removesuffix(".__init__")
        self.tree = ast.parse(path.read_text(encoding="utf-8"))
        self.functions = {node.name: node for node in self.tree.body if isinstance(node, FUNCTIONS)}
        self.imports = {}  # local name -> (module name, function name)
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nettrain"):
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (node.module, alias.name)


class Scope:
    """What is a config section inside one function (or a module's top level)."""

    def __init__(self, module, node, tainted):
        self.module, self.node, self.tainted = module, node, set(tainted)

    def is_section(self, expr):
        if isinstance(expr, ast.Name):
            return expr.id in ROOT_NAMES or expr.id in self.tainted
        if isinstance(expr, ast.Attribute):
            if expr.attr == "config":
                return self.module.path not in RAW_CONFIG_ATTRIBUTE
            return expr.attr == "data" and self.is_section(expr.value)
        if isinstance(expr, ast.Subscript):
            return self.is_section(expr.value)
        if isinstance(expr, ast.BoolOp):
            return any(self.is_section(v) for v in expr.values)
        if isinstance(expr, ast.IfExp):
            return self.is_section(expr.body) or self.is_section(expr.orelse)
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            return expr.func.attr == "get" and self.is_section(expr.func.value)
        return False

    def nodes(self):
        """The scope's own nodes: nested functions and classes are scopes of their own."""
        stack = list(ast.iter_child_nodes(self.node))
        while stack:
            node = stack.pop()
            yield node
            if not isinstance(node, (*FUNCTIONS, ast.ClassDef)):
                stack.extend(ast.iter_child_nodes(node))

    def bind_locals(self):
        """Add the names assigned (or looped over) a section, until nothing changes."""
        while True:
            before = len(self.tainted)
            for node in self.nodes():
                pairs = []
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        pairs += _pairs(target, node.value)
                elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                    pairs += _pairs(node.target, node.value)
                elif isinstance(node, (ast.For, ast.comprehension)):
                    pairs += [(name, node.iter) for name in _names(node.target)]
                self.tainted |= {name for name, value in pairs if self.is_section(value)}
            if len(self.tainted) == before:
                return


def _names(target):
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for item in target.elts for name in _names(item)]
    return []


def _pairs(target, value):
    """(name, the expression it is assigned) for `x = v` and `a, b = u, v`."""
    if isinstance(target, ast.Name):
        return [(target.id, value)]
    if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) \
            and len(target.elts) == len(value.elts):
        return [pair for t, v in zip(target.elts, value.elts) for pair in _pairs(t, v)]
    return []


def _parameters(function):
    args = function.args
    return [a.arg for a in (*args.posonlyargs, *args.args)], {a.arg for a in (*args.args, *args.kwonlyargs)}


def scopes(modules, tainted_params):
    """Every scope of every module, its names bound (parameters from `tainted_params`)."""
    out = []
    for module in modules:
        todo = [(module.tree, set())]
        while todo:
            node, inherited = todo.pop()
            params = tainted_params.get(id(node), set())
            own = set(_parameters(node)[0]) | _parameters(node)[1] if isinstance(node, FUNCTIONS) else set()
            scope = Scope(module, node, (inherited - own) | params)
            scope.bind_locals()
            out.append(scope)
            todo += [(child, scope.tainted) for child in scope.nodes() if isinstance(child, FUNCTIONS)]
            todo += [(item, scope.tainted) for child in scope.nodes() if isinstance(child, ast.ClassDef)
                     for item in child.body if isinstance(item, FUNCTIONS)]
    return out


def callee(modules_by_name, module, call):
    """The package function a call by plain name reaches, through imports and re-exports."""
    if not isinstance(call.func, ast.Name):
        return None
    name = call.func.id
    while module is not None and name not in module.functions and name in module.imports:
        source, name = module.imports[name]
        module = modules_by_name.get(source)
    return module.functions.get(name) if module is not None else None


def config_sections_read_with_get():
    """['file:line: section.get(...)'] for every call that counts (see the module docstring)."""
    modules = [Module(path) for path in sorted(PACKAGE.rglob("*.py"))]
    by_name = {module.name: module for module in modules}
    tainted_params = {}
    while True:  # parameters a section is passed to, until no call adds one
        found = 0
        for scope in scopes(modules, tainted_params):
            for node in scope.nodes():
                if not isinstance(node, ast.Call):
                    continue
                function = callee(by_name, scope.module, node)
                if function is None:
                    continue
                positional, keywords = _parameters(function)
                passed = [positional[i] for i, arg in enumerate(node.args)
                          if i < len(positional) and not isinstance(arg, ast.Starred) and scope.is_section(arg)]
                passed += [kw.arg for kw in node.keywords if kw.arg in keywords and scope.is_section(kw.value)]
                params = tainted_params.setdefault(id(function), set())
                found += len(set(passed) - params)
                params |= set(passed)
        if not found:
            break
    hits = []
    for scope in scopes(modules, tainted_params):
        if scope.module.path.startswith("nettrain/config/"):
            continue
        for node in scope.nodes():
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "get" and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                    and scope.is_section(node.func.value)):
                hits.append(f"{scope.module.path}:{node.lineno}: {ast.unparse(node)}")
    return sorted(set(hits))


def test_no_config_section_is_read_with_get_outside_config():
    assert config_sections_read_with_get() == []


def test_the_check_finds_a_default_restated_through_a_local_and_a_parameter(tmp_path, monkeypatch):
    """The rules above, on a module written for the purpose: each of its reads is found."""
    source = '''
def prepare(config):
    data = config["data"]
    split = (data.get("split") or {}).get("val", 0)
    return _read(data) + config.data.get("threshold", 0.5) + split


def _read(section):
    return section.get("missing", "error")


def untouched(frame):
    return frame.get("x", 1)  # not a config section
'''
    folder = tmp_path / "nettrain" / "data"
    folder.mkdir(parents=True)
    (folder / "made_up.py").write_text(source, encoding="utf-8")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "PACKAGE", tmp_path / "nettrain")
    assert [hit.split(": ", 1)[1] for hit in config_sections_read_with_get()] == [
        "(data.get('split') or {}).get('val', 0)", "data.get('split')",
        "config.data.get('threshold', 0.5)", "section.get('missing', 'error')"]
