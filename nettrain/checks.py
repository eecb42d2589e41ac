"""Value checks for constructor arguments: each raises ValueError naming the field and value.

`registry.get` turns these ValueErrors into ConfigErrors that also name the place
(`model.layers[2]: units must be an integer >= 1. Got 0.`).
"""

import numbers


def _interval(low, high, low_open, high_open):
    if high is None:
        return f"> {low}" if low_open else f">= {low}"
    if low is None:
        return f"< {high}" if high_open else f"<= {high}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def _inside(value, low, high, low_open, high_open):
    if low is not None and (value <= low if low_open else value < low):
        return False
    return high is None or (value < high if high_open else value <= high)


def check_int(name, value, low=None, high=None):
    """`value` as an int within [low, high]; bools and floats are refused."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or not _inside(value, low, high, False, False):
        raise ValueError(f"{name} must be an integer {_interval(low, high, False, False)}. Got {value!r}.")
    return int(value)


def check_float(name, value, low=None, high=None, low_open=False, high_open=False):
    """`value` as a float within the interval; bools, NaN and non-numbers are refused."""
    number = value
    if isinstance(value, str):
        # PyYAML reads `1e-3` (no dot) as a string; accept what float() reads as a number.
        try:
            number = float(value)
        except ValueError:
            number = None
    ok = isinstance(number, numbers.Real) and not isinstance(number, bool) and number == number
    if not ok or not _inside(number, low, high, low_open, high_open):
        where = _interval(low, high, low_open, high_open)
        raise ValueError(f"{name} must be a number {where}. Got {value!r}.")
    return float(number)


def check_bool(name, value):
    """`value` if it is True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false. Got {value!r}.")
    return value


def check_choice(name, value, choices):
    """`value` if it is one of `choices` (strings)."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}. Got {value!r}.")
    return value
