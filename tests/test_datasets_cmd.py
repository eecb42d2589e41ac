"""`nettrain datasets`: list, get from folders, file:// and a local HTTP server; bad downloads."""

import gzip
import hashlib
import http.server
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nettrain.cli import cli
from nettrain.data import downloads
from nettrain.errors import DataError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
needs_mnist = pytest.mark.skipif(
    not (SHARED / "mnist").is_dir(), reason="real MNIST files not available beside the checkout"
)
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def idx_bytes(array):
    """Encode an unsigned-byte array in the IDX format, gzip-compressed."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def remote_for(data):
    return downloads.Remote(len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A fake dataset 'tiny' (5 train, 3 test 2x3 images) in a mirror folder, registered."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 2, 3)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 5),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 2, 3)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 3),
    }
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    files = {}
    for name, array in arrays.items():
        data = idx_bytes(array)
        (mirror / name).write_bytes(data)
        files[name] = remote_for(data)
    table = dict(downloads.DOWNLOADABLE, tiny=downloads.Downloadable("tiny", (), files))
    monkeypatch.setattr(downloads, "DOWNLOADABLE", table)
    monkeypatch.delenv(downloads.MIRROR_ENV, raising=False)
    return mirror, arrays


def serve(folder, handler_cls=None):
    """Serve `folder` on 127.0.0.1 at a random port in a thread; return (server, base URL)."""
    handler = handler_cls or partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def get(*args):
    return CliRunner().invoke(cli, ["datasets", "get", *map(str, args)])


def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir())


def test_help_and_list_show_both_kinds(tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "iris.csv").write_text("a,b,species\n1,2,x\n3,4,y\n")
    monkeypatch.setattr(downloads, "shipped_dir", lambda: shipped)
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["datasets", "get", "--help"]).exit_code == 0
    result = CliRunner().invoke(cli, ["datasets", "list"])
    assert result.exit_code == 0, result.output
    assert "iris.csv" in result.output and "2 rows" in result.output and "3 columns" in result.output
    assert "mnist" in result.output and "fashion-mnist" in result.output


def test_get_from_folder_writes_npz_and_reuses_cache(tiny, tmp_path):
    mirror, arrays = tiny
    target = tmp_path / "out"
    result = get("tiny", "--dir", target, "--mirror", mirror)
    assert result.exit_code == 0, result.output
    with np.load(target / "train.npz", allow_pickle=False) as npz:
        assert npz["X"].dtype == np.uint8 and npz["X"].shape == (5, 6)
        np.testing.assert_array_equal(npz["X"], arrays["train-images-idx3-ubyte.gz"].reshape(5, 6))
        np.testing.assert_array_equal(npz["y"], arrays["train-labels-idx1-ubyte.gz"])
    with np.load(target / "test.npz") as npz:
        assert npz["X"].shape == (3, 6) and npz["y"].shape == (3,)
    result = get("tiny", "--dir", target, "--mirror", tmp_path / "missing-but-unused-folder")
    assert result.exit_code == 2  # a mirror folder that does not exist is a usage error
    result = get("tiny", "--dir", target, "--mirror", "http://127.0.0.1:9/")
    assert result.exit_code == 0, result.output  # everything cached: the mirror is never asked
    assert result.output.count("cached, md5 and sha256 verified") == 4


def test_get_from_file_url_and_env_mirror_with_name(tiny, tmp_path, monkeypatch):
    mirror, _ = tiny
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(downloads.MIRROR_ENV, mirror.parent.as_uri() + "/{name}")
    (mirror.parent / "tiny").symlink_to(mirror)
    result = get("tiny")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "datasets" / "tiny" / "train.npz").is_file()


def test_corrupt_download_is_reported_and_not_cached(tiny, tmp_path):
    mirror, _ = tiny
    path = mirror / "train-labels-idx1-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    target = tmp_path / "out"
    result = get("tiny", "--dir", target, "--mirror", mirror)
    assert result.exit_code == 1
    assert "train-labels-idx1-ubyte.gz" in result.output and "md5" in result.output
    assert "train-labels-idx1-ubyte.gz" not in leftovers(target)
    assert not [name for name in leftovers(target) if name.endswith(".part")]


def test_partial_http_download_is_reported_and_not_cached(tiny, tmp_path):
    mirror, _ = tiny

    class Truncating(QuietHandler):
        """Promise the whole file, send half of it, hang up."""

        def do_GET(self):
            data = (mirror / Path(self.path).name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True

    server, url = serve(mirror, partial(Truncating, directory=str(mirror)))
    try:
        result = get("tiny", "--dir", tmp_path / "out", "--mirror", url)
    finally:
        server.shutdown()
    assert result.exit_code == 1
    assert "partial" in result.output or "IncompleteRead" in result.output
    assert leftovers(tmp_path / "out") == []


def test_short_file_is_reported_as_partial(tiny, tmp_path):
    mirror, _ = tiny
    path = mirror / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-3])
    result = get("tiny", "--dir", tmp_path / "out", "--mirror", mirror)
    assert result.exit_code == 1
    assert "partial" in result.output and "t10k-images-idx3-ubyte.gz" in result.output
    assert "t10k-images-idx3-ubyte.gz" not in leftovers(tmp_path / "out")


def test_corrupt_cached_file_is_downloaded_again(tiny, tmp_path):
    mirror, _ = tiny
    target = tmp_path / "out"
    assert get("tiny", "--dir", target, "--mirror", mirror).exit_code == 0
    (target / "train-images-idx3-ubyte.gz").write_bytes(b"garbage")
    result = get("tiny", "--dir", target, "--mirror", mirror)
    assert result.exit_code == 0, result.output
    assert "fails verification, downloading again" in result.output
    assert downloads.verify_file(target / "train-images-idx3-ubyte.gz",
                                 downloads.DOWNLOADABLE["tiny"].files["train-images-idx3-ubyte.gz"])


def test_bad_name_and_bad_mirror_scheme_are_usage_errors(tiny, tmp_path):
    result = get("mnits", "--dir", tmp_path)
    assert result.exit_code == 2 and "Did you mean 'mnist'" in result.output
    result = get("tiny", "--dir", tmp_path, "--mirror", "ftp://example.org/x/")
    assert result.exit_code == 2 and "unsupported scheme 'ftp'" in result.output


def test_read_idx_rejects_bad_magic_and_wrong_length(tmp_path):
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(b"\x01\x02\x03\x04rest"))
    with pytest.raises(DataError, match="not an IDX file"):
        downloads.read_idx(bad)
    short = tmp_path / "short.gz"
    short.write_bytes(gzip.compress(gzip.decompress(idx_bytes(np.zeros((4, 2, 2))))[:-1]))
    with pytest.raises(DataError, match=r"shape \(4, 2, 2\)"):
        downloads.read_idx(short)


def test_mismatched_image_and_label_counts_are_data_errors(tiny, tmp_path, monkeypatch):
    mirror, _ = tiny
    data = idx_bytes(np.zeros(4))  # 4 labels for 5 images, with matching published checksums
    (mirror / "train-labels-idx1-ubyte.gz").write_bytes(data)
    downloads.DOWNLOADABLE["tiny"].files["train-labels-idx1-ubyte.gz"] = remote_for(data)
    result = get("tiny", "--dir", tmp_path / "out", "--mirror", mirror)
    assert result.exit_code == 2 and "expected (n, rows, cols) images and n labels" in result.output


@needs_mnist
def test_real_mnist_from_folder_matches_published_counts(tmp_path):
    result = get("mnist", "--dir", tmp_path, "--mirror", SHARED / "mnist")
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "train.npz") as npz:
        assert npz["X"].shape == (60000, 784) and npz["X"].dtype == np.uint8
        assert np.bincount(npz["y"]).tolist() == MNIST_TRAIN_COUNTS
    with np.load(tmp_path / "test.npz") as npz:
        assert npz["X"].shape == (10000, 784) and npz["y"].dtype == np.uint8
    with np.load(tmp_path / "train_images.npz") as images, np.load(tmp_path / "train.npz") as flat:
        assert images["X"].shape == (60000, 1, 28, 28) and images["X"].dtype == np.uint8
        np.testing.assert_array_equal(images["X"].reshape(60000, -1), flat["X"])
        np.testing.assert_array_equal(images["y"], flat["y"])


@needs_mnist
def test_real_mnist_over_http(tmp_path):
    server, url = serve(SHARED)
    try:
        result = get("mnist", "--dir", tmp_path, "--mirror", url + "{name}/")
    finally:
        server.shutdown()
    assert result.exit_code == 0, result.output
    assert result.output.count("md5 and sha256 verified") == 4
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == [
        "test.npz", "test_images.npz", "train.npz", "train_images.npz"]
