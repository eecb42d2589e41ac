"""From a config name to an object: one way to fill a registry table (`registrar`, a
decorator) and one lookup for every table."""

import difflib
import functools
import inspect

from nettrain.errors import ConfigError


def registrar(kind, table, attribute="name"):
    """The decorator that fills `table`: `@register("name", "alias", ...)` puts the class (or
    function) under each name and sets its `attribute` to the first, the name it is known by
    (None: set nothing). A name taken by another object is an error, not a silent swap."""

    def register(*names):
        def add(obj):
            for name in names:
                if table.get(name, obj) is not obj:
                    raise ValueError(f"{kind} {name!r} is registered twice: "
                                     f"{table[name].__qualname__} and {obj.__qualname__}.")
                table[name] = obj
            if attribute is not None:
                setattr(obj, attribute, names[0])
            return obj

        return add

    return register


def suggest(name, choices):
    """Return " Did you mean 'x'?" for the closest choice, or "" when none is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def lookup(kind, table, name, where=None):
    """The class registered under `name` in `table`, or a ConfigError listing the choices."""
    if isinstance(name, str) and name in table:
        return table[name]
    at = f" at {where}" if where else ""
    choices = ", ".join(sorted(table))
    raise ConfigError(f"Unknown {kind} {name!r}{at}.{suggest(name, table)} Choices: {choices}.")


def get(kind, table, spec, where=None, name_key="name", **extra):
    """Build an object from a name, a mapping `{name_key: ..., **kwargs}` or an instance.

    `extra` are keyword arguments supplied by the caller (not the user), such as `dtype`.
    Unknown or wrong arguments and out-of-range values become ConfigErrors naming `where`.
    """
    if not isinstance(spec, (str, dict)):
        if any(spec is cls or isinstance(spec, cls) for cls in table.values() if isinstance(cls, type)):
            return spec
        raise ConfigError(
            f"{where or kind} must be a {kind} name or a mapping with '{name_key}'. Got {spec!r}."
        )
    if isinstance(spec, str):
        name, kwargs = spec, {}
    else:
        if name_key not in spec:
            raise ConfigError(f"{where or kind} needs a '{name_key}' key. Got {spec!r}.")
        kwargs = {k: v for k, v in spec.items() if k != name_key}
        name = spec[name_key]
    cls = lookup(kind, table, name, where)
    return build(cls, kwargs, where or f"{kind} {name!r}", extra)


@functools.cache
def keyword_parameters(cls):
    """The `inspect.Parameter`s `cls` accepts by keyword (cached: config checks ask often)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(p for p in inspect.signature(cls).parameters.values() if p.kind in kinds)


def build(cls, kwargs, where, extra=None):
    """Call `cls(**kwargs, **extra)`, checking argument names against its signature first."""
    accepted = [p.name for p in keyword_parameters(cls)]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        key = unknown[0]
        options = [a for a in accepted if a not in (extra or {})]
        raise ConfigError(
            f"Unknown key {key!r} at {where}.{suggest(key, options)} "
            f"Accepted: {', '.join(options) or '(none)'}."
        )
    try:
        return cls(**kwargs, **(extra or {}))
    except ConfigError as err:
        raise ConfigError([f"{where}: {p}" for p in err.problems]) from None
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from None
