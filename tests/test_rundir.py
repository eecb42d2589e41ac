"""Run directories: naming, atomic writes, history appends, checkpoints."""

import os
import stat
from datetime import datetime

import numpy as np
import pytest

from nettrain.errors import ConfigError, NettrainError
from nettrain.store import rundir

NOW = datetime(2024, 5, 17, 9, 30, 5)


def test_run_dir_name_and_suffixes(tmp_path):
    first = rundir.new_run_dir(tmp_path / "runs", "iris", now=NOW)
    second = rundir.new_run_dir(tmp_path / "runs", "iris", now=NOW)
    third = rundir.new_run_dir(tmp_path / "runs", "iris", now=NOW)
    assert first == tmp_path / "runs" / "iris" / "20240517-093005"
    assert second.name == "20240517-093005-1"
    assert third.name == "20240517-093005-2"
    assert all(p.is_dir() for p in (first, second, third))


def test_existing_run_dir_is_never_reused(tmp_path):
    first = rundir.new_run_dir(tmp_path, "x", now=NOW)
    (first / "model.npz").write_text("keep me")
    again = rundir.new_run_dir(tmp_path, "x", now=NOW)
    assert again != first
    assert (first / "model.npz").read_text() == "keep me"


def test_ten_thousand_runs_in_one_second_is_an_error_not_a_reuse(tmp_path):
    parent = tmp_path / "x"
    parent.mkdir()
    (parent / "20240517-093005").mkdir()
    for n in range(1, 10_000):
        (parent / f"20240517-093005-{n}").mkdir()
    with pytest.raises(NettrainError, match=r"Too many run directories named '.*20240517-093005-N'"):
        rundir.new_run_dir(tmp_path, "x", now=NOW)


def test_the_umask_is_read_and_kept_without_proc(monkeypatch):
    def no_proc(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(rundir, "open", no_proc, raising=False)  # the os.umask fallback
    old = os.umask(0o027)
    try:
        assert rundir.current_umask() == 0o027
        assert rundir.current_umask() == 0o027  # the call put it back
    finally:
        os.umask(old)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_is_a_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(ConfigError, match="Cannot write run directories under .*--out"):
            rundir.ensure_writable(locked / "runs")
    finally:
        locked.chmod(stat.S_IRWXU)


def test_output_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "afile").write_text("")
    with pytest.raises(ConfigError, match="Cannot write run directories"):
        rundir.ensure_writable(tmp_path / "afile" / "runs")


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "a.txt"
    rundir.write_text(target, "one")
    rundir.write_text(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_failed_write_keeps_the_previous_version(tmp_path):
    target = tmp_path / "a.txt"
    rundir.write_text(target, "complete")
    with pytest.raises(RuntimeError):
        with rundir.atomic_open(target) as f:
            f.write("half")
            raise RuntimeError("crash in the middle")
    assert target.read_text() == "complete"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_npz_round_trip_without_pickle(tmp_path):
    arrays = {"layers.0.W": np.arange(6, dtype=np.float32).reshape(2, 3), "architecture": np.array("{}")}
    rundir.write_npz(tmp_path / "m.npz", arrays)
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        assert np.array_equal(npz["layers.0.W"], arrays["layers.0.W"])
        assert npz["layers.0.W"].dtype == np.float32
        assert str(npz["architecture"]) == "{}"


def test_npz_refuses_object_arrays(tmp_path):
    with pytest.raises(TypeError, match="pickle"):
        rundir.write_npz(tmp_path / "m.npz", {"x": np.array([{}, 1], dtype=object)})
    assert not (tmp_path / "m.npz").exists()


def test_csv_append_keeps_header_and_rows(tmp_path):
    path = tmp_path / "history.csv"
    rundir.append_csv_row(path, ["epoch", "loss"], [1, 0.5])
    rundir.append_csv_row(path, ["epoch", "loss"], [2, 0.25])
    assert path.read_text() == "epoch,loss\n1,0.5\n2,0.25\n"
    header, rows = rundir.read_history(path)
    assert header == ["epoch", "loss"] and rows == [["1", "0.5"], ["2", "0.25"]]
    rundir.write_csv(path, header, rows[:1])
    assert path.read_text() == "epoch,loss\n1,0.5\n"


def test_checkpoint_round_trip(tmp_path):
    rng = np.random.default_rng(7)
    arrays = {"model": {"layers.0.W": rng.normal(size=(3, 2))}, "optimizer": {"t": np.array(4)}}
    meta = {"epoch": 3, "rng": rng.bit_generator.state}
    rundir.save_checkpoint(tmp_path / "c.npz", arrays, meta)
    loaded, loaded_meta = rundir.load_checkpoint(tmp_path / "c.npz")
    assert np.array_equal(loaded["model"]["layers.0.W"], arrays["model"]["layers.0.W"])
    assert int(loaded["optimizer"]["t"]) == 4
    assert loaded_meta == meta
    again = np.random.default_rng()
    again.bit_generator.state = loaded_meta["rng"]
    assert again.random() == rng.random()


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip file")
    with pytest.raises(NettrainError, match="corrupt or unreadable") as info:
        rundir.load_checkpoint(path)
    assert info.value.exit_code == 2


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(NettrainError, match="no checkpoint to resume"):
        rundir.load_checkpoint(tmp_path / "checkpoint.npz")
