"""Reporting: the live table on a terminal, plain lines elsewhere, quiet output, the summary."""

import io
import re

from rich.console import Console

from nettrain.training.callbacks import Best, EarlyStopping, History, history_columns
from nettrain.training.output import LiveTable, PlainLines, format_value, make_reporter, print_summary

COLUMNS = history_columns(["accuracy"], has_val=True)
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class FakeTrainer:
    n_batches = 4

    def __init__(self):
        self.best = Best("val_loss")


def logs(epoch, val_loss):
    return {"epoch": epoch, "train_loss": 0.5 / epoch, "val_loss": val_loss, "accuracy": 0.8,
            "val_accuracy": 0.75, "lr": 0.001, "seconds": 0.25, "loss": 0.5 / epoch}


def drive(reporter, values):
    trainer = FakeTrainer()
    def hooks(name, *a):
        return getattr(reporter, name, lambda *_: None)(trainer, *a)

    hooks("on_train_begin")
    for epoch, value in enumerate(values, start=1):
        hooks("on_epoch_begin", epoch)
        for batch in range(trainer.n_batches):
            hooks("on_batch_end", batch)
        row = logs(epoch, value)
        trainer.best.update(row)
        hooks("on_epoch_end", row)
    hooks("on_train_end")


def test_columns_follow_the_design():
    assert COLUMNS == ["epoch", "train_loss", "val_loss", "accuracy", "val_accuracy", "lr", "seconds"]
    assert history_columns(["r2"], has_val=False) == ["epoch", "train_loss", "r2", "lr", "seconds"]


def test_plain_lines_one_per_epoch_without_escape_codes():
    out = io.StringIO()
    console = Console(file=out, width=60)
    reporter = make_reporter(console, COLUMNS, epochs=3)
    assert isinstance(reporter, PlainLines)
    drive(reporter, [0.9, 0.7, 0.8])
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # long lines are not wrapped at the console width
    assert lines[0].startswith("epoch 1/3  train_loss=0.5000  val_loss=0.9000  accuracy=0.8000")
    assert lines[1].endswith("*best") and not lines[2].endswith("*best")
    assert "\x1b" not in out.getvalue()


def test_live_table_rows_stay_and_best_rows_are_marked():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    reporter = make_reporter(console, COLUMNS, epochs=3)
    assert isinstance(reporter, LiveTable)
    drive(reporter, [0.9, 0.7, 0.8])
    text = ESCAPE.sub("", out.getvalue())
    header = next(line for line in text.splitlines() if "train_loss" in line)
    assert header.split() == COLUMNS
    rows = [line for line in text.splitlines() if re.search(r"\b[123]/3\s+0\.\d{4}", line)]
    marked = [line for line in rows if line.lstrip().startswith("*")]
    assert len(rows) == 3 and len(marked) == 2  # epochs 1 and 2 set a new best, 3 did not
    assert "best: epoch 2, val_loss 0.7000" in text  # the live footer


def test_a_terminal_too_narrow_for_the_table_gets_plain_lines():
    many = history_columns(["accuracy", "precision", "recall", "f1"], has_val=True)
    narrow = Console(file=io.StringIO(), force_terminal=True, width=80)
    wide = Console(file=io.StringIO(), force_terminal=True, width=160)
    assert isinstance(make_reporter(narrow, many, epochs=100), PlainLines)
    assert isinstance(make_reporter(wide, many, epochs=100), LiveTable)


def test_quiet_has_no_reporter():
    assert make_reporter(Console(file=io.StringIO()), COLUMNS, epochs=3, quiet=True) is None


RESULT = {"train": {"loss": 0.1, "accuracy": 0.97}, "val": {"loss": 0.2, "accuracy": 0.95},
          "test": {"loss": 0.3, "accuracy": 0.93}, "best_epoch": 7, "monitor": "val_loss",
          "best_value": 0.2, "stopped_reason": "completed", "epochs_run": 9, "weights_epoch": 7,
          "weights": "best"}


def test_summary_plain_and_quiet():
    out = io.StringIO()
    print_summary(Console(file=out), RESULT, "runs/x/1", "completed 9 epochs")
    assert out.getvalue().splitlines() == [
        "Best epoch 7: val_loss 0.2000",
        "Stopped: completed 9 epochs",
        "Saved weights: epoch 7 (the best val_loss)",
        "train: loss=0.1000  accuracy=0.9700",
        "val: loss=0.2000  accuracy=0.9500",
        "test: loss=0.3000  accuracy=0.9300",
        "Run directory: runs/x/1",
    ]
    out = io.StringIO()
    print_summary(Console(file=out), RESULT, "runs/x/1", "completed 9 epochs", quiet=True)
    assert out.getvalue().splitlines()[0] == "runs/x/1"
    assert len(out.getvalue().splitlines()) == 4


def test_summary_table_on_a_terminal():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    print_summary(console, RESULT, "runs/x/1", "completed 9 epochs")
    text = out.getvalue()
    assert "final metrics" in text and "Run directory: runs/x/1" in text
    assert re.search(r"test\s+0\.3000\s+0\.9300", text)


def test_format_value():
    assert format_value("val_loss", 0.123456) == "0.1235"
    assert format_value("val_loss", 1.5e-5) == "1.500e-05"
    assert format_value("train_loss", float("nan")) == "nan"
    assert format_value("lr", 0.001) == "0.001"
    assert format_value("seconds", 1.23456) == "1.23"


def test_history_appends_rows_in_column_order(tmp_path):
    path = tmp_path / "history.csv"
    history = History(COLUMNS, path)
    history.on_epoch_end(None, logs(1, 0.9))
    history.on_epoch_end(None, logs(2, 0.8))
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert lines[2].split(",")[:3] == ["2", "0.25", "0.8"]
    assert history.rows == [logs(1, 0.9), logs(2, 0.8)]  # kept in memory too
    written = path.read_text()
    history.rewrite()  # every row afresh: the same file
    assert path.read_text() == written


def test_history_without_a_path_keeps_its_rows_in_memory(tmp_path):
    history = History(COLUMNS, rows=[logs(1, 0.9)])
    history.on_epoch_end(None, logs(2, 0.8))
    assert history.rows == [logs(1, 0.9), logs(2, 0.8)]


def test_early_stopping_built_in_python_has_the_config_references_defaults():
    """docs/config.md: {monitor: val_loss, patience: 10, min_delta: 0.0, restore_best: true}."""
    stop = EarlyStopping()
    assert (stop.monitor, stop.best.mode, stop.patience, stop.best.min_delta, stop.restore_best) == (
        "val_loss", "min", 10, 0.0, True)


def test_early_stopping_state_before_any_epoch_and_after_a_resume():
    fresh = EarlyStopping(patience=3)
    assert fresh.state_dict() == ({}, {"best": fresh.best.state_dict(), "wait": 0})
    assert fresh.restore(model=None) is None  # nothing to restore before a first epoch ends
    resumed = EarlyStopping(patience=3)
    resumed.load_state_dict({}, {"best": {"monitor": "val_loss", "value": 0.5, "epoch": 2}, "wait": 2})
    assert resumed.wait == 2

    class Trainer:
        stopped = None

        def request_stop(self, reason, text):
            self.stopped = reason

    trainer = Trainer()
    resumed.on_epoch_end(trainer, {"epoch": 5, "val_loss": 0.6})  # the third epoch without a gain
    assert trainer.stopped == "early_stopping"


def test_best_in_min_mode_needs_a_strictly_lower_value():
    """Keras and Lightning: an improvement is value < best - min_delta; a tie keeps the first."""
    best = Best("val_loss")
    assert best.update({"epoch": 1, "val_loss": 0.5})
    assert not best.update({"epoch": 2, "val_loss": 0.5}) and best.epoch == 1
    best = Best("val_loss", min_delta=0.25)
    assert best.update({"epoch": 1, "val_loss": 0.5})
    assert not best.update({"epoch": 2, "val_loss": 0.25})  # exactly min_delta lower: no gain
    assert best.update({"epoch": 3, "val_loss": 0.125}) and (best.epoch, best.value) == (3, 0.125)


def test_best_in_max_mode_needs_more_than_min_delta():
    best = Best("val_accuracy", min_delta=0.1)
    assert best.update({"epoch": 1, "val_accuracy": 0.5})
    assert not best.update({"epoch": 2, "val_accuracy": 0.55})  # within min_delta: no gain
    assert best.update({"epoch": 3, "val_accuracy": 0.65}) and best.epoch == 3
