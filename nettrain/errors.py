"""Exceptions raised by nettrain; only the CLI turns them into messages and exit codes."""


class NettrainError(Exception):
    """Base class. `exit_code` is what the CLI exits with: 2 bad input, 1 run failure."""

    exit_code = 2


class ConfigError(NettrainError):
    """A config that cannot be used. Holds every problem found, not just the first.

    Args:
        problems: one message or a list of messages, each naming its place and the fix.
        source: the config file the problems are in, if any.
    """

    def __init__(self, problems, source=None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        super().__init__(self._render())

    def _render(self):
        head = f"{self.source}: " if self.source else ""
        if len(self.problems) == 1:
            return head + self.problems[0]
        noun = f"{len(self.problems)} problems"
        lines = [f"{head}{noun} in the config:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class DataError(NettrainError):
    """Data that cannot be used: a missing file or column, NaN, a malformed CSV."""


class RunError(NettrainError):
    """A failure while running (a bad run directory state, a failed trial)."""

    exit_code = 1


class DivergenceError(RunError):
    """Training produced a non-finite loss or gradient."""


class Interrupted(NettrainError):
    """The user stopped the run (Ctrl-C or SIGTERM) after its state was saved."""

    exit_code = 130


class ShapeError(ValueError):
    """A layer's `build` cannot take the input shape it is given.

    The Model turns it into a ConfigError naming the layer, its index and the shape:
    "model.layers[3] (dense) gets (32, 5, 5): add {type: flatten} before it".

    Args:
        fix: what to change, e.g. "add {type: flatten} before it".
    """

    def __init__(self, fix):
        self.fix = fix
        super().__init__(fix)
