"""The one vocabulary of value checks: which numbers an interval holds and the words that say
what a value must be ("an integer >= 1", "a number in (0, 1)", "one of a, b", "true or false").

Constructors check their arguments with `check_int`, `check_float`, `check_bool` and
`check_choice`, each raising a ValueError that names the field and value; `registry.get` turns
it into a ConfigError that also names the place (`model.layers[2]: units must be an integer
>= 1. Got 0.`). The config schema's value checks (`config.fields`) say what they expected in
the same words, from the same functions.
"""

import numbers

TRUE_OR_FALSE = "true or false"


def interval(low=None, high=None, low_open=False, high_open=False):
    """'>= 0', '> 0', '<= 1' or 'in [0, 1)': the interval's bounds in words."""
    if high is None:
        return f"> {low}" if low_open else f">= {low}"
    if low is None:
        return f"< {high}" if high_open else f"<= {high}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def inside(value, low=None, high=None, low_open=False, high_open=False):
    """Whether the number `value` lies in the interval (a bound left None is no bound)."""
    if low is not None and (value <= low if low_open else value < low):
        return False
    return high is None or (value < high if high_open else value <= high)


def an_integer(low=None, high=None):
    """'an integer >= 1': what an integer in [low, high] is called."""
    return f"an integer {interval(low, high)}"


def a_number(low=None, high=None, low_open=False, high_open=False):
    """'a number in (0, 1]': what a number in the interval is called."""
    return f"a number {interval(low, high, low_open, high_open)}"


def one_of(choices):
    """'one of a, b, c'."""
    return f"one of {', '.join(map(str, choices))}"


def check_int(name, value, low=None, high=None):
    """`value` as an int within [low, high]; bools and floats are refused."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or not inside(value, low, high):
        raise ValueError(f"{name} must be {an_integer(low, high)}. Got {value!r}.")
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
    if not ok or not inside(number, low, high, low_open, high_open):
        raise ValueError(f"{name} must be {a_number(low, high, low_open, high_open)}. Got {value!r}.")
    return float(number)


def check_bool(name, value):
    """`value` if it is True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be {TRUE_OR_FALSE}. Got {value!r}.")
    return value


def check_choice(name, value, choices):
    """`value` if it is one of `choices` (strings)."""
    if value not in choices:
        raise ValueError(f"{name} must be {one_of(choices)}. Got {value!r}.")
    return value
