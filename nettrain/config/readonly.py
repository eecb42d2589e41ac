"""The read-only form of a resolved config: dicts and lists that refuse every change.

The config is resolved once, in `nettrain.config`; everything after reads it. A change is a
new Config (`Config.with_values`, or overrides resolved again), never a write into the one in
hand, so a value cannot drift between the config a run trains with and the config.yaml it
records. The classes subclass dict and list, so reading code (isinstance checks, json, NumPy)
sees what it always saw; a copy (`copy.deepcopy`) is plain and writable again.
"""

import copy


def _refuse(what):
    def method(self, *args, **kwargs):
        raise TypeError(
            f"The resolved config is read-only: it cannot {what}. Make a new Config instead: "
            "config.with_values({'key.path': value}), or overrides (--set KEY=VALUE, "
            "config_from_dict(..., overrides=[...])).")
    return method


class ReadOnlyDict(dict):
    """A config mapping: read as a dict, never changed."""

    __setitem__ = _refuse("set a key")
    __delitem__ = _refuse("delete a key")
    __ior__ = update = _refuse("update keys")
    setdefault = _refuse("set a default")
    pop = popitem = _refuse("remove a key")
    clear = _refuse("clear keys")

    def __copy__(self):
        return dict(self)

    def __deepcopy__(self, memo):
        return {key: copy.deepcopy(value, memo) for key, value in self.items()}

    def __reduce__(self):  # pickled for worker processes without going through __setitem__
        return type(self), (dict(self),)


class ReadOnlyList(list):
    """A config list (layers, milestones, column names): read as a list, never changed."""

    __setitem__ = _refuse("set an item")
    __delitem__ = _refuse("delete an item")
    __iadd__ = extend = _refuse("extend a list")
    __imul__ = _refuse("repeat a list")
    append = insert = _refuse("add an item")
    pop = remove = clear = _refuse("remove an item")
    sort = reverse = _refuse("reorder a list")

    def __copy__(self):
        return list(self)

    def __deepcopy__(self, memo):
        return [copy.deepcopy(value, memo) for value in self]

    def __reduce__(self):
        return type(self), (list(self),)


def read_only(value):
    """`value` with every dict and list in it made read-only (a new structure; `value` is left
    as it is)."""
    if isinstance(value, dict):
        return ReadOnlyDict({key: read_only(item) for key, item in value.items()})
    if isinstance(value, list):
        return ReadOnlyList(read_only(item) for item in value)
    return value
