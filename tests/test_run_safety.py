"""Run directories nothing can corrupt: one writer (a lock with its PID), atomic writes under
Ctrl-C and kill, files that follow the umask, resuming without the config, divergence."""

import builtins
import io
import math
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT, assert_usage_error
from rich.console import Console

import nettrain
from nettrain.cli import cli
from nettrain.errors import DivergenceError, Interrupted, NettrainError
from nettrain.store import rundir
from nettrain.training.callbacks import Callback
from nettrain.training.signals import stop_on_signals
from nettrain.training.trainer import DIVERGED_RATIO, Trainer

IRIS = ROOT / "datasets" / "iris.csv"


def config(tmp_path, epochs=2, **extra):
    return {"name": "iris", "seed": 0, "output": str(tmp_path / "runs"),
            "data": {"path": str(IRIS), "target": "species"},
            "model": {"layers": [{"type": "dense", "units": 8, "activation": "relu"},
                                 {"type": "dense", "units": 3}]},
            "optimizer": {"name": "adam", "lr": 0.01},
            "training": {"epochs": epochs, "batch_size": 16}, "metrics": ["accuracy"], **extra}


def fit(cfg, **kwargs):
    console = kwargs.pop("console", None) or Console(file=io.StringIO())
    return nettrain.fit(cfg, console=console, **kwargs)


def cli_fit(*args):
    return CliRunner().invoke(cli, ["fit", *map(str, args)])


def hold_lock(run_dir):
    """A process that takes the run's lock and keeps it until its stdin closes."""
    code = textwrap.dedent("""
        import sys
        from nettrain.store.rundir import lock_run_dir
        lock = lock_run_dir(sys.argv[1])
        print("locked", flush=True)
        sys.stdin.read()
        lock.release()
    """)
    process = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


# ---------------------------------------------------------------- one writer per run directory


def test_a_second_writer_is_refused_while_the_first_holds_the_run(tmp_path):
    run = fit(config(tmp_path))
    leftover = run.path / ".history.csv.abc.tmp"  # as if the holder were writing it right now
    leftover.write_text("half")
    holder = hold_lock(run.path)
    try:
        assert (run.path / rundir.LOCK).read_text().strip() == str(holder.pid)
        result = cli_fit("--resume", run.path, "--set", "training.epochs=3")
        assert_usage_error(result, "is in use", f"process {holder.pid}", str(run.path))
        assert leftover.exists()  # the refused process touched nothing
        assert len(run.history) == 2
    finally:
        holder.communicate("")
    assert not (run.path / rundir.LOCK).exists()  # released on exit
    out = io.StringIO()
    resumed = fit(None, resume=run.path, overrides=["training.epochs=3"], diagnose=True,
                  console=Console(file=out, width=200))
    assert len(resumed.history) == 3 and not leftover.exists()
    assert "Took over" not in out.getvalue()  # the holder released its lock: nothing stale
    assert (run.path / rundir.DIAGNOSTICS).exists()  # diagnose=True reaches the resumed run


def test_the_lock_is_held_during_training_and_released_after(tmp_path):
    seen = []

    class Probe(Callback):
        def on_epoch_end(self, trainer, logs):
            lock = trainer_run_dir[0] / rundir.LOCK
            seen.append(lock.read_text().strip())
            with pytest.raises(NettrainError, match=f"in use: process {os.getpid()}"):
                rundir.lock_run_dir(trainer_run_dir[0])  # a concurrent writer, same machine

    trainer_run_dir = []

    class Where(Callback):
        def on_train_begin(self, trainer):
            trainer_run_dir.append(next((tmp_path / "runs" / "iris").iterdir()))

    run = fit(config(tmp_path), callbacks=[Where(), Probe()])
    assert seen == [str(os.getpid())] * 2
    assert not (run.path / rundir.LOCK).exists()
    assert {p.name for p in run.path.iterdir()} == {"config.yaml", "model.npz", "preprocess.json",
                                                    "history.csv", "metrics.json", "checkpoint.npz"}


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    run = fit(config(tmp_path))
    holder = hold_lock(run.path)
    holder.kill()
    holder.wait()
    assert (run.path / rundir.LOCK).read_text().strip() == str(holder.pid)  # stale, still there
    out = io.StringIO()
    resumed = fit(None, resume=run.path, overrides=["training.epochs=3"],
                  console=Console(file=out, width=200))
    assert f"Took over the lock of process {holder.pid}, which is no longer running." in out.getvalue()
    assert len(resumed.history) == 3
    assert not (run.path / rundir.LOCK).exists()


def test_lock_without_flock_uses_the_pid(tmp_path, monkeypatch):
    import fcntl

    def no_flock(fd, op):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    (tmp_path / rundir.LOCK).write_text("999999999\n")  # no such process: stale
    lock = rundir.lock_run_dir(tmp_path)
    assert lock.stale_pid == 999999999
    lock.release()
    holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                              stdin=subprocess.PIPE)
    try:
        (tmp_path / rundir.LOCK).write_text(f"{holder.pid}\n")  # a live process holds it
        with pytest.raises(NettrainError, match=f"process {holder.pid}"):
            rundir.lock_run_dir(tmp_path)
    finally:
        holder.communicate(b"")
    assert rundir.pid_alive(os.getpid()) and not rundir.pid_alive(holder.pid)


def test_a_lock_file_replaced_at_every_try_is_an_error_not_a_hang(tmp_path, monkeypatch):
    # another process swaps a new .lock in between each open and lock (no timing: the swap
    # happens inside the reader the lock calls right after opening the file)
    lock_file, read_pid = tmp_path / rundir.LOCK, rundir._read_pid
    swaps = []

    def swapped_then_read(fd):
        other = tmp_path / "other"
        other.write_text("1\n")
        os.replace(other, lock_file)
        swaps.append(1)
        return read_pid(fd)

    monkeypatch.setattr(rundir, "_read_pid", swapped_then_read)
    fds = len(os.listdir("/dev/fd"))
    with pytest.raises(NettrainError, match=r"Could not lock '.*\.lock': it keeps being replaced"):
        rundir.lock_run_dir(tmp_path)
    assert len(swaps) == 100 and len(os.listdir("/dev/fd")) == fds  # every try closed


# ---------------------------------------------------------------- atomic writes


@pytest.fixture
def writes(monkeypatch):
    """Every file opened for writing through `open` (np.savez, pandas and csv use it too)."""
    seen = []
    real_open = builtins.open

    def spy(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
            seen.append(os.fspath(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    return seen


def test_every_run_file_is_written_through_a_temporary_file(tmp_path, writes):
    run = fit(config(tmp_path, epochs=2))
    fit(None, resume=run.path, overrides=["training.epochs=3"])
    out = tmp_path / "pred.csv"
    result = CliRunner().invoke(cli, ["predict", str(run.path), str(IRIS), "-o", str(out)])
    assert result.exit_code == 0, result.output
    direct = [p for p in writes if str(tmp_path) in p and not os.path.isdir(p)]
    assert direct == [], f"written in place, not atomically: {direct}"
    assert out.exists() and (run.path / rundir.MODEL).exists()


def test_ctrl_c_inside_a_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "history.csv"
    rundir.write_text(target, "epoch\n1\n")
    requests = []
    with stop_on_signals(lambda reason, text: requests.append((reason, text))):
        with pytest.raises(KeyboardInterrupt):
            with rundir.atomic_open(target) as f:
                f.write("epoch\n1\n2")
                os.kill(os.getpid(), signal.SIGINT)  # first Ctrl-C: only a request
                assert requests == [("interrupted", "interrupted by SIGINT")]
                f.write("\n")
                os.kill(os.getpid(), signal.SIGINT)  # second: stops at once, mid-write
                f.write("3\n")
    assert target.read_text() == "epoch\n1\n"
    assert os.listdir(tmp_path) == ["history.csv"]
    # the first signal alone lets the write finish
    requests.clear()
    with stop_on_signals(lambda reason, text: requests.append((reason, text))):
        with rundir.atomic_open(target) as f:
            f.write("epoch\n1\n")
            os.kill(os.getpid(), signal.SIGTERM)
            f.write("2\n")
    assert target.read_text() == "epoch\n1\n2\n"
    assert requests == [("interrupted", "interrupted by SIGTERM")]
    assert os.listdir(tmp_path) == ["history.csv"]


@pytest.mark.parametrize("writer", ["write_text", "write_bytes", "write_json", "write_npz",
                                    "write_csv", "append_csv_row", "save_checkpoint"])
def test_an_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch, writer):
    target = tmp_path / "file"
    args = {"write_text": ("new",), "write_bytes": (b"new",), "write_json": ({"a": 1},),
            "write_npz": ({"a": np.zeros(3)},), "write_csv": (["a"], [[1]]),
            "append_csv_row": (["a"], [1]), "save_checkpoint": ({"a": np.zeros(2)}, {"epoch": 1})}
    target.write_bytes(b"old")

    def killed(fd):
        raise KeyboardInterrupt  # the moment before the data is durable

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        getattr(rundir, writer)(target, *args[writer])
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["file"]


def test_sigkill_inside_a_write_keeps_the_old_file_and_resume_removes_the_temporary(tmp_path):
    run = fit(config(tmp_path))
    before = (run.path / rundir.MODEL).read_bytes()
    code = textwrap.dedent("""
        import os, sys
        from nettrain.store import rundir
        with rundir.atomic_open(os.path.join(sys.argv[1], rundir.MODEL), "wb") as f:
            f.write(b"half a model")
            f.flush()
            print("writing", flush=True)
            sys.stdin.read()
    """)
    process = subprocess.Popen([sys.executable, "-c", code, str(run.path)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    process.kill()
    process.wait()
    assert (run.path / rundir.MODEL).read_bytes() == before
    [temp] = run.path.glob(".*.tmp")
    assert temp.name.startswith(f".{rundir.MODEL}.")
    assert nettrain.load(run.path).predict_array(IRIS).shape == (150,)  # still a usable run
    fit(None, resume=run.path, overrides=["training.epochs=3"])
    assert not list(run.path.glob(".*.tmp"))


def test_ctrl_c_while_the_model_is_saved_keeps_the_previous_model(tmp_path, monkeypatch):
    run = fit(config(tmp_path))
    before = (run.path / rundir.MODEL).read_bytes()
    import nettrain.training.session as session

    def half_then_ctrl_c(model, f):
        f.write(b"PK\x03\x04 half")
        raise KeyboardInterrupt

    monkeypatch.setattr(session, "save_model", half_then_ctrl_c)
    with pytest.raises(Interrupted, match="second signal") as info:
        fit(None, resume=run.path, overrides=["training.epochs=3"])
    assert str(run.path) in str(info.value) and "--resume" in str(info.value)
    assert (run.path / rundir.MODEL).read_bytes() == before
    assert not list(run.path.glob(".*.tmp")) and not (run.path / rundir.LOCK).exists()


# ---------------------------------------------------------------- permissions


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_files_follow_the_umask(tmp_path, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        run = fit(config(tmp_path, epochs=1))
        out = tmp_path / "pred.csv"
        result = CliRunner().invoke(cli, ["predict", str(run.path), str(IRIS), "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert rundir.current_umask() == umask
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in run.path.iterdir()}
    assert modes == dict.fromkeys(modes, file_mode) and len(modes) == 6
    assert run.path.stat().st_mode & 0o777 == dir_mode
    assert out.stat().st_mode & 0o777 == file_mode


# ---------------------------------------------------------------- resuming


def test_resume_without_the_config_names_the_epoch_and_batch(tmp_path):
    class CtrlC(Callback):
        def on_epoch_begin(self, trainer, epoch):
            self.epoch = epoch

        def on_batch_end(self, trainer, batch):
            if (self.epoch, batch) == (2, 2):
                trainer.request_stop("interrupted", "interrupted by SIGINT")

    with pytest.raises(Interrupted) as info:
        fit(config(tmp_path, epochs=3), callbacks=[CtrlC()])
    run = info.value.run
    assert f"Resume with: nettrain fit --resume {run.path}" in str(info.value)
    n = math.ceil(0.7 * 150 / 16)  # 105 train rows in batches of 16
    result = cli_fit("--resume", run.path)
    assert result.exit_code == 0, result.output
    assert f"Resuming at epoch 2, batch 4 of {n} (after epoch 1 and 3 batch(es))." in result.output
    assert len(run.history) == 3
    result = cli_fit("--resume", run.path, "--set", "training.epochs=4")
    assert result.exit_code == 0, result.output
    assert f"Resuming at epoch 4, batch 1 of {n} (after epoch 3)." in result.output


def test_fit_without_config_or_resume_is_a_usage_error(tmp_path):
    result = cli_fit()
    assert result.exit_code == 2 and "CONFIG" in result.output and "--resume" in result.output


def test_one_ctrl_c_stops_at_the_next_batch_and_says_where(tmp_path):
    class CtrlC(Callback):
        def on_epoch_begin(self, trainer, epoch):
            self.epoch = epoch

        def on_batch_end(self, trainer, batch):
            if (self.epoch, batch) == (2, 1):
                os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match=r"^Training was interrupted by SIGINT in epoch 2 after batch "
                                          r"2; the checkpoint and files are saved in ") as info:
        fit(config(tmp_path, epochs=3), callbacks=[CtrlC()])
    assert info.value.exit_code == 130
    _, meta = rundir.load_checkpoint(info.value.run.path / rundir.CHECKPOINT)
    assert (meta["epoch"], meta["position"]["batch"], meta["stopped"]) == (1, 2, "interrupted")


def test_a_signal_at_an_epochs_end_stops_before_the_next_epoch(tmp_path):
    class TermAtEpochEnd(Callback):
        def on_epoch_end(self, trainer, logs):
            if logs["epoch"] == 1:
                os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Interrupted, match=r"^Training was interrupted by SIGTERM before epoch 2; ") as info:
        fit(config(tmp_path, epochs=3), callbacks=[TermAtEpochEnd()])
    assert info.value.exit_code == 130 and len(info.value.run.history) == 1


def test_a_second_ctrl_c_stops_at_once_and_still_names_the_run(tmp_path):
    class TwoCtrlC(Callback):
        def on_epoch_begin(self, trainer, epoch):
            self.epoch = epoch

        def on_batch_end(self, trainer, batch):
            if (self.epoch, batch) == (3, 1):
                os.kill(os.getpid(), signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted) as info:
        fit(config(tmp_path, epochs=5), callbacks=[TwoCtrlC()])
    [path] = (tmp_path / "runs" / "iris").iterdir()
    message = str(info.value)
    assert info.value.exit_code == 130
    assert f"{path} keeps the checkpoint of epoch 2" in message
    assert f"nettrain fit --resume {path}" in message
    assert not (path / rundir.LOCK).exists()
    resumed = fit(None, resume=path)
    assert len(resumed.history) == 5


def test_a_second_ctrl_c_before_any_checkpoint_says_so(tmp_path):
    class TwoCtrlC(Callback):
        def on_batch_end(self, trainer, batch):
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match="keeps no checkpoint yet: start a new run"):
        fit(config(tmp_path), callbacks=[TwoCtrlC()])


# ---------------------------------------------------------------- divergence without NaN


def test_adam_with_an_absurd_lr_is_divergence_not_a_result(tmp_path):
    with pytest.raises(DivergenceError, match=r"epoch 1: its train loss .* is over 1e\+06 times "
                                              r"the first batch's loss") as info:
        fit(config(tmp_path, epochs=30, optimizer={"name": "adam", "lr": 1000.0}))
    assert info.value.exit_code == 1 and "optimizer.lr is 1000" in str(info.value)
    assert "No epoch finished" in str(info.value)
    run = fit(config(tmp_path, epochs=5, optimizer={"name": "adam", "lr": 1.0}))  # high, not absurd
    assert run.metrics["stopped_reason"] == "completed"


class _Stub:
    lr = 0.1


@pytest.mark.parametrize("first, loss, diverged", [
    (1.0, 1e6, False), (1.0, 1.001e6, True), (2.0, 1.9e6, False), (2.0, 2.1e6, True),
    (1e-9, 999.0, False), (1e-9, 1001.0, True)])
def test_growth_threshold(first, loss, diverged):
    trainer = Trainer(None, None, _Stub(), epochs=1)
    trainer.first_loss = first
    assert DIVERGED_RATIO == 1e6
    if diverged:
        with pytest.raises(DivergenceError):
            trainer._check_growth({"epoch": 2, "train_loss": loss})
    else:
        trainer._check_growth({"epoch": 2, "train_loss": loss})


def test_the_first_loss_survives_a_resume(tmp_path):
    run = fit(config(tmp_path))
    _, meta = rundir.load_checkpoint(run.path / rundir.CHECKPOINT)
    first = meta["first_loss"]
    assert first == pytest.approx(math.log(3), rel=0.3)  # about ln 3 before any update
    fit(None, resume=run.path, overrides=["training.epochs=3"])
    _, meta = rundir.load_checkpoint(run.path / rundir.CHECKPOINT)
    assert meta["first_loss"] == first  # not the first batch after resuming
