"""YAML with the place of every value: parsing, key paths, `--set` overrides, located problems.

`parse_yaml` keeps the line and column of every key and value (`Places`), so a problem found
later names `file:line:col` and the key path; `overridden` applies dotted `KEY=VALUE` overrides.
"""

import copy
import re

import yaml

from nettrain.errors import ConfigError


class Loader(yaml.SafeLoader):
    """yaml.SafeLoader that also reads `1e-3` as a float, as YAML 1.2 does.

    YAML 1.1 (PyYAML) needs a dot and a signed exponent (`1.0e-3`), so `lr: 1e-3` would be the
    string '1e-3'. Only plain scalars are affected: a quoted '1e-3' stays a string.
    """


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


# ---------------------------------------------------------------- key paths and places


def keypath(path):
    """('model', 'layers', 2, 'units') -> 'model.layers[2].units'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def split_dotted(dotted):
    """'model.layers.0.units' -> ('model', 'layers', 0, 'units'): list indices as numbers."""
    parts = str(dotted).split(".")
    if not dotted or any(p.strip() == "" for p in parts):
        raise ConfigError(f"{dotted!r} is not a dotted key path such as optimizer.lr or "
                          "model.layers.0.units.")
    return tuple(int(p) if p.isdigit() else p.strip() for p in parts)


class Places:
    """Where each key path of a config was written: `file:line:col` or the `--set` that set it."""

    def __init__(self, filename=None, marks=None, key_marks=None, overrides=None):
        self.filename = filename
        self.marks = marks or {}
        self.key_marks = key_marks or {}
        self.overrides = overrides or {}

    def override_of(self, path):
        """The `--set` text that set `path` or one of its parents, else None."""
        for n in range(len(path), 0, -1):
            if path[:n] in self.overrides:
                return self.overrides[path[:n]]
        return None

    def of(self, path, key=False):
        """(text, sort key) for `path`; `key=True` points at the key rather than its value."""
        path = tuple(path)
        override = self.override_of(path)
        if override is not None:
            return f"--set {override}", (1, list(self.overrides.values()).index(override), 0)
        if self.filename is None:
            return None, (2, 0, 0)
        mark = self.key_marks.get(path) if key else None
        at = path
        while mark is None and at:
            mark = self.marks.get(at)
            at = at[:-1]
        if mark is None:
            # Not in the file: a default, or a key that only a --set below it created.
            below = [t for p, t in self.overrides.items() if p[:len(path)] == path]
            if below:
                return f"--set {below[0]}", (1, list(self.overrides.values()).index(below[0]), 0)
            return str(self.filename), (0, 0, 0)
        return f"{self.filename}:{mark.line + 1}:{mark.column + 1}", (0, mark.line, mark.column)


# ---------------------------------------------------------------- YAML with positions


def _syntax_error(err, text, filename):
    """'file:line:col: YAML syntax error: ...' with the line and a caret under the column."""
    lines = text.splitlines()
    mark, context = err.problem_mark, err.context_mark
    what = str(err.problem or err).rstrip(".")
    kind = "YAML syntax error"
    advice = "Check the indentation, colons, brackets and quotes on that line or the one before it."
    if isinstance(err, yaml.constructor.ConstructorError):
        kind, advice = "YAML error", "nettrain reads plain YAML only: no tags such as !!python/object."
    if err.context:
        where = f" that started on line {context.line + 1}, column {context.column + 1}" if context else ""
        what += f" ({err.context}{where})"
    if mark is None or mark.line >= len(lines):  # the end of the file: show where the open part began
        mark = context or mark
    if mark is None:
        return f"{filename}: {kind}: {what}. {advice}"
    line = lines[mark.line] if mark.line < len(lines) else ""
    return (f"{filename}:{mark.line + 1}:{mark.column + 1}: {kind}: {what}.\n"
            f"    {line}\n    {' ' * mark.column}^\n{advice}")


def _walk(loader, node, path, marks, key_marks, problems):
    """Record the mark of every node under its key path; flag duplicate keys (YAML keeps the last)."""
    marks[path] = node.start_mark
    if isinstance(node, yaml.MappingNode):
        seen = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                continue  # unhashable keys are rejected by the constructor already
            if key in seen:
                first = seen[key].line + 1
                problems.append((path + (key,), f"duplicate key {key!r} (first given on line {first}); "
                                                 "YAML would silently keep only the last one. Remove one."))
                for stale in [p for p in marks if p[:len(path) + 1] == path + (key,)]:
                    del marks[stale]  # the first value is discarded: so are its positions
            seen[key] = key_node.start_mark
            key_marks[path + (key,)] = key_node.start_mark
            _walk(loader, value_node, path + (key,), marks, key_marks, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(loader, item, path + (i,), marks, key_marks, problems)


def parse_yaml(text, filename="<config>"):
    """Parse YAML safely, keeping positions: (data, marks, key_marks, duplicate-key problems).

    `marks` and `key_marks` map key paths (tuples) to yaml marks (0-based line and column).
    A syntax error raises ConfigError showing the line with a caret under the column.
    """
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}, {}, []
        data = loader.construct_document(node)
        marks, key_marks, problems = {}, {}, []
        _walk(loader, node, (), marks, key_marks, problems)
        return data, marks, key_marks, problems
    except yaml.MarkedYAMLError as err:
        raise config_error([_syntax_error(err, text, filename)], filename) from None
    except yaml.YAMLError as err:
        raise config_error([f"{filename}: YAML error: {err}"], filename) from None
    finally:
        loader.dispose()


# ---------------------------------------------------------------- --set overrides


def flow(value):
    """A value as one line of YAML: 0.001, [16, 64], {name: adam}, 'a string'."""
    # a deep copy is plain: YAML writes no read-only config dict or list as it is
    text = yaml.safe_dump(copy.deepcopy(value), default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip()


def parse_override(text):
    """'optimizer.lr=1e-3' -> (('optimizer', 'lr'), 0.001): the value is parsed as YAML."""
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(f"--set expects KEY=VALUE, such as optimizer.lr=0.01. Got {text!r}.")
    key, raw = text.split("=", 1)
    try:
        value = yaml.load(raw, Loader=Loader)
    except yaml.YAMLError as err:
        marked = isinstance(err, yaml.MarkedYAMLError) and err.problem
        detail = str(err.problem if marked else err)
        raise ConfigError(f"--set {text}: the value is not valid YAML ({detail}). "
                          "Quote it if it is a string.") from None
    return split_dotted(key.strip()), value


def _normalize_overrides(overrides):
    """[(path tuple, value, text)] from KEY=VALUE strings, (key, value) pairs or a {key: value} dict."""
    if isinstance(overrides, dict):
        overrides = list(overrides.items())
    out = []
    for item in overrides or ():
        if isinstance(item, str):
            path, value = parse_override(item)
            out.append((path, value, item))
        else:
            key, value = item
            path = split_dotted(key) if isinstance(key, str) else tuple(key)
            out.append((path, value, f"{'.'.join(map(str, path))}={flow(value)}"))
    return out


def _descend(container, part, who, walked):
    """The child of `container` at `part`, creating mappings where the path goes through nothing."""
    where = keypath(walked) if walked else "the top level"
    if isinstance(container, list):
        if not isinstance(part, int) or not 0 <= part < len(container):
            raise ConfigError(f"{who}: {where} is a list of {len(container)} items; use an index "
                              f"from 0 to {len(container) - 1} instead of {part!r}.")
        return part
    if isinstance(part, int) and str(part) not in container:
        raise ConfigError(f"{who}: {where} is a mapping, not a list, so {part} is not a key in it.")
    return str(part) if isinstance(part, int) else part


def _name_key(path):
    """The key a registry name moves to when parameters are set under it, or None."""
    if path in (("loss",), ("optimizer",), ("schedule",)) or path[-1:] in (("activation",), ("init",)):
        return "name"
    return "type" if path[-2:-1] == ("layers",) else None


def _set(root, path, value, who):
    node, walked = root, ()
    for depth, part in enumerate(path):
        part = _descend(node, part, who, walked)
        walked += (part,)
        if depth == len(path) - 1:
            node[part] = value
            return walked
        child = node[part] if (isinstance(node, list) or part in node) else None
        if child is None:
            child = {}
        elif isinstance(child, str) and _name_key(walked):
            child = {_name_key(walked): child}  # `loss: huber` + `loss.delta=2` -> {name: huber, delta: 2}
        elif not isinstance(child, (dict, list)):
            raise ConfigError(f"{who}: {keypath(walked)} is {child!r}, not a mapping, so it has "
                              f"no key {path[depth + 1]!r}.")
        node[part] = child
        node = child
    return walked


def overridden(mapping, overrides, label="--set", problems=None):
    """(new mapping, {path: override text}): overrides applied in order to a deep copy.

    `label` names where the overrides come from in error messages ('--set', 'search.space').
    With a `problems` list, an override that cannot be applied is added to it (and skipped)
    instead of raising, so that one ConfigError can report every problem.
    """
    root = copy.deepcopy(mapping) if mapping is not None else {}
    if not isinstance(root, dict):
        root = {}
    applied = {}
    for path, value, text in _normalize_overrides(overrides):
        try:
            if not path:
                raise ConfigError(f"{label} {text}: give a key path, such as optimizer.lr=0.01.")
            applied[_set(root, path, copy.deepcopy(value), f"{label} {text}")] = text
        except ConfigError as err:
            if problems is None:
                raise
            problems += err.problems
    return root, applied


def apply_overrides(mapping, overrides):
    """A deep copy of `mapping` with dotted overrides applied.

    `overrides` are 'KEY=VALUE' strings (values parsed as YAML), (key, value) pairs or a dict.
    List indices are numbers (`model.layers.0.units`); a path through a missing or null key
    creates the mapping (`schedule.name=cosine`), and a name such as `loss: huber` becomes
    `{name: huber}` when a parameter is set under it. Whether the keys exist is checked when
    the result is validated (`config_from_dict`).
    """
    return overridden(mapping, overrides)[0]


def config_error(problems, source):
    """A ConfigError whose problems already name their file (so the message does not repeat it)."""
    err = ConfigError(problems)
    err.source = source
    return err


def locate_problem(places, path, message, key=False, with_path=True):
    """(sort key, 'file:line:col: key.path: message') for a problem with the value at `path`."""
    where, order = places.of(path, key=key)
    text = f"{keypath(path)}: {message}" if with_path else message
    return order, f"{where}: {text}" if where else text
