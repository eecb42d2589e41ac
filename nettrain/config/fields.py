"""Building blocks of the config schema: value checks, the resolver that collects problems, registry items."""

import copy
import math
import re

from nettrain import checks, registry
from nettrain.config.locations import flow, keypath, locate_problem
from nettrain.errors import ConfigError

MISSING = object()


# ---------------------------------------------------------------- value checks
# Each check returns the value (numbers as float where a float is meant) or raises Bad, saying
# what it expected in the words of nettrain.checks, which constructors' checks use too.


class Bad(Exception):
    """A value that does not fit: `expected` says what would, `hint` how to fix it."""

    def __init__(self, expected, hint=""):
        super().__init__(expected)
        self.expected, self.hint = expected, hint


def show(value):
    """A value as the user wrote it, in YAML (strings quoted, so '10' and 10 differ)."""
    if isinstance(value, str):
        return repr(value)
    text = flow(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _unquote_hint(v):
    try:
        float(v) if isinstance(v, str) else None
    except ValueError:
        return ""
    return " It is a string: remove the quotes to make it a number." if isinstance(v, str) else ""


def integer(lo):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or not checks.inside(v, lo):
            raise Bad(checks.an_integer(lo), _unquote_hint(v))
        return v
    return check


def number(lo=None, hi=None, lo_open=False, hi_open=False):
    def check(v):
        if not (is_number(v) and checks.inside(v, lo, hi, lo_open, hi_open)):
            raise Bad(checks.a_number(lo, hi, lo_open, hi_open), _unquote_hint(v))
        return float(v)
    return check


def choice(*options):
    def check(v):
        if not isinstance(v, str) or v not in options:
            raise Bad(checks.one_of(options), registry.suggest(v, options))
        return v
    return check


def boolean(v):
    if not isinstance(v, bool):
        raise Bad(checks.TRUE_OR_FALSE)
    return v


def text(v):
    if not isinstance(v, str) or not v.strip():
        raise Bad("a non-empty string")
    return v


def nullable(check):
    def wrapped(v):
        if v is None:
            return None
        try:
            return check(v)
        except Bad as bad:
            raise Bad(f"{bad.expected}, or null", bad.hint) from None
    return wrapped


def names(v):
    if not (isinstance(v, list) and v and all(isinstance(x, str) and x for x in v)):
        raise Bad("a non-empty list of column names")
    repeated = sorted({x for x in v if v.count(x) > 1})
    if repeated:
        raise Bad("a list of distinct column names", f" {', '.join(map(repr, repeated))} appears twice.")
    return list(v)


def columns(v):
    if isinstance(v, str) and v:
        return v
    try:
        return names(v)
    except Bad:
        raise Bad("a column name or a list of column names") from None


def run_name(v):
    if not isinstance(v, str) or v.strip() in ("", ".", "..") or re.search(r"[/\\]", v):
        raise Bad("a name usable as a folder name (no slashes)")
    return v


class Leaf:
    """A plain key: its default and the check (and normalization) of a given value."""

    def __init__(self, default, check):
        self.default, self.check = default, check

    def __call__(self, r, path, value):
        r.record(path, value is not MISSING)
        if value is MISSING:
            return copy.deepcopy(self.default)
        try:
            return self.check(value)
        except Bad as bad:
            r.bad(path, value, bad)
            return value


# ---------------------------------------------------------------- the resolver


class Resolver:
    """Walks a raw config against the schema, collecting values, sources and every problem."""

    def __init__(self, places, tables):
        self.places, self.tables = places, tables
        self.problems, self.sources = [], {}

    def record(self, path, given):
        given_by = "--set" if self.places.override_of(path) is not None else "file"
        self.sources[keypath(path)] = given_by if given else "default"

    def error(self, path, message, key=False, with_path=True):
        self.problems.append(locate_problem(self.places, path, message, key, with_path))

    def bad(self, path, value, bad):
        self.error(path, f"expected {bad.expected}, got {show(value)}.{bad.hint}")

    def errors_from(self, path, err):
        for problem in err.problems:
            self.error(path, problem, with_path=False)

    def unknown_keys(self, path, raw, accepted, what=None):
        for key in raw:
            if key not in accepted:
                place = f"at {what or keypath(path)}" if path or what else "at the top level"
                self.error(path + (key,), f"Unknown key {key!r} {place}.{registry.suggest(key, accepted)} "
                                          f"Accepted: {', '.join(accepted)}.", key=True, with_path=False)

    def mapping(self, path, raw, accepted):
        """`raw` as a dict ({} when missing or null); a non-mapping is reported."""
        if raw is MISSING or raw is None:
            return {}
        if not isinstance(raw, dict):
            self.error(path, f"expected a mapping with keys {', '.join(accepted)}, got {show(raw)}.")
            return {}
        self.unknown_keys(path, raw, accepted)
        return raw

    def section(self, path, raw, fields):
        raw = self.mapping(path, raw, list(fields))
        return {key: field(self, path + (key,), raw.get(key, MISSING)) for key, field in fields.items()}


def section(fields):
    return lambda r, path, raw: r.section(path, raw, fields)


# ---------------------------------------------------------------- registry items


def _plain(value):
    """(True, value) for a default that can be written in YAML; tuples become lists."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True, value
    if isinstance(value, (tuple, list)) and all(_plain(v)[0] for v in value):
        return True, list(value)
    return False, None


def parameters(cls):
    """{name: default or MISSING} of the keyword arguments `cls` accepts."""
    return {p.name: (MISSING if p.default is p.empty else p.default)
            for p in registry.keyword_parameters(cls)}


def _blame(path, spec, message, name_key):
    """The key of `spec` a constructor's message is about (the first one it names), else the item."""
    found = [(m.start(), k) for k in spec if k != name_key
             for m in [re.search(rf"(?<![\w.]){re.escape(str(k))}(?!\w)", message.split(": ", 1)[-1])] if m]
    return path + (min(found)[1],) if found else path


class Item:
    """A name or `{name_key: ..., **params}` from a registry, resolved to a full mapping.

    The object is built through `registry.get`, so its constructor validates the values;
    parameters left out are filled with the constructor's defaults.
    """

    def __init__(self, kind, default=None, name_key="name", nested=(), extra=None, optional=False):
        self.kind, self.default, self.name_key = kind, default, name_key
        self.nested, self.extra, self.optional = nested, extra or {}, optional

    def __call__(self, r, path, raw):
        key = self.name_key
        if raw is MISSING or (raw is None and self.optional):
            if self.default is None:
                r.record(path, False)
                return None
            given, spec = set(), copy.deepcopy(self.default)
        elif isinstance(raw, (str, dict)):
            given = set(raw) if isinstance(raw, dict) else {key}
            spec = dict(raw) if isinstance(raw, dict) else {key: raw}
        else:
            what = f"a {self.kind} name or a mapping with '{key}'" + (", or null" if self.optional else "")
            r.error(path, f"expected {what}, got {show(raw)}.")
            return raw
        if key not in spec:
            if not isinstance(self.default, dict):
                r.error(path, f"needs a '{key}' key naming the {self.kind}.")
                return spec
            spec = {key: self.default[key], **spec}
        return self.resolve(r, path, spec, given)

    def resolve(self, r, path, spec, given):
        key, table = self.name_key, r.tables[self.kind]
        try:
            cls = registry.lookup(self.kind, table, spec[key], keypath(path + (key,)))
        except ConfigError as err:
            r.errors_from(path + (key,), err)
            return spec
        params = {k: v for k, v in parameters(cls).items() if k not in self.extra}
        unknown, missing = self._check_keys(r, path, spec, params)
        failed = [k for k, kind in self.nested if not self._check_nested(r, path, spec, k, kind)]
        resolved = {key: spec[key]}
        for name, default in params.items():
            plain, value = _plain(default)
            if name in spec:
                resolved[name] = spec[name]
            elif plain and default is not MISSING:
                resolved[name] = value
        resolved.update({k: v for k, v in spec.items() if k not in resolved})
        for name in resolved:
            r.record(path + (name,), name in given)
        if not missing and not unknown:
            # Build without the names already reported, so the other values are still checked.
            self._build(r, path, {k: v for k, v in resolved.items() if k not in failed}, failed)
        return resolved

    def _build(self, r, path, spec, skip):
        try:
            registry.get(self.kind, r.tables[self.kind], spec, where=keypath(path),
                         name_key=self.name_key, **self.extra)
        except ConfigError as err:
            for problem in err.problems:
                blamed = _blame(path, spec, problem, self.name_key)
                if not any(re.search(rf"\b{re.escape(k)}\b", problem) for k in skip):
                    r.error(blamed, problem, with_path=False)

    def _check_keys(self, r, path, spec, params):
        label = f"{self.kind} {spec[self.name_key]!r}"
        unknown = [k for k in spec if k != self.name_key and k not in params]
        r.unknown_keys(path, {k: None for k in unknown}, list(params), what=f"{keypath(path)} ({label})")
        missing = [k for k, d in params.items() if d is MISSING and k not in spec]
        for k in missing:
            r.error(path, f"{label} needs the key {k!r}.")
        return unknown, missing

    def _check_nested(self, r, path, spec, key, kind):
        """Names inside an item (a layer's activation or init), checked at their own place."""
        value = spec.get(key)
        if value is None:
            return True
        try:
            registry.get(kind, r.tables[kind], value, where=keypath(path + (key,)))
        except ConfigError as err:
            r.errors_from(path + (key,), err)
            return False
        return True
