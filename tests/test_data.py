"""utils.data: checksums, truncated files, lookup order, offline errors, downloads, real files."""
import gzip
import hashlib
import http.server
import io
import os
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from utils import data

STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def tiny_idx_set(rng, n_train=20, n_test=10):
    return {
        "train-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (n_train, 28, 28))),
        "train-labels-idx1-ubyte": idx_bytes(rng.integers(0, 10, n_train)),
        "t10k-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (n_test, 28, 28))),
        "t10k-labels-idx1-ubyte": idx_bytes(rng.integers(0, 10, n_test)),
    }


@pytest.fixture
def fake_registry(monkeypatch, tmp_path):
    """A registry entry 'mnist' pointing at tiny files the test makes; nothing real is touched."""
    content = tiny_idx_set(np.random.default_rng(0))
    spec = {"urls": ["http://127.0.0.1:9/"], "system": [], "classes": [str(i) for i in range(10)],
            "files": {stem: hashlib.sha256(b).hexdigest() for stem, b in content.items()}}
    monkeypatch.setitem(data.IDX_SETS, "mnist", spec)
    monkeypatch.setattr(data, "REPO_DATA", tmp_path / "repo_data")
    monkeypatch.setenv(data.ENV, str(tmp_path / "env_data"))
    return content, spec, tmp_path


def write_set(folder: Path, content: dict, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    for stem, b in content.items():
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(b))
        else:
            (folder / stem).write_bytes(b)


def test_parse_idx_round_trip():
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(data.parse_idx(idx_bytes(a)), a)
    with pytest.raises(data.DataError):
        data.parse_idx(b"\x00\x00\x09\x01" + b"\x00" * 8)


def test_loads_from_env_dir_gz_and_raw(fake_registry):
    content, _, tmp = fake_registry
    write_set(tmp / "env_data" / "mnist", content, gz=True)
    ds = data.load("mnist", download=False)
    assert ds.x_train.shape == (20, 28, 28) and ds.x_train.dtype == np.uint8
    assert ds.y_test.dtype == np.int64 and ds.source == str(tmp / "env_data" / "mnist")
    # raw (decompressed) files in the repo's data/ are accepted as well
    write_set(tmp / "repo_data" / "mnist", content, gz=False)
    os.environ.pop(data.ENV)
    assert data.load("mnist", download=False).source == str(tmp / "repo_data" / "mnist")


def test_env_dir_comes_before_repo_data(fake_registry):
    content, _, tmp = fake_registry
    write_set(tmp / "env_data" / "mnist", content)
    write_set(tmp / "repo_data" / "mnist", content)
    assert data.where("mnist") == tmp / "env_data" / "mnist"


def test_checksum_mismatch_is_refused(fake_registry):
    content, _, tmp = fake_registry
    bad = dict(content)
    bad["train-labels-idx1-ubyte"] = idx_bytes(np.zeros(20))   # right format, wrong content
    write_set(tmp / "env_data" / "mnist", bad)
    with pytest.raises(data.ChecksumError, match="does not match its checksum.*Delete it"):
        data.load("mnist", download=False)


def test_truncated_file_is_refused(fake_registry):
    content, _, tmp = fake_registry
    folder = tmp / "env_data" / "mnist"
    write_set(folder, content)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(data.ChecksumError, match="truncated"):
        data.load("mnist", download=False)


def test_offline_and_missing_names_every_place(fake_registry):
    _, _, tmp = fake_registry
    with pytest.raises(data.DataError) as err:
        data.load("mnist")                     # the only URL is a closed local port
    text = str(err.value)
    assert str(tmp / "env_data" / "mnist") in text and str(tmp / "repo_data" / "mnist") in text
    assert "Download failed" in text and "127.0.0.1:9" in text and "How to get it" in text
    assert not list((tmp / "repo_data").rglob("*.gz"))    # nothing half-written was left


def test_unknown_name():
    with pytest.raises(data.DataError, match="unknown data set"):
        data.load("imagenet")


class _Server:
    """A local HTTP server for a folder, for download tests (loopback only)."""

    def __init__(self, folder: Path):
        handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder), **k)  # noqa: E731
        http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_checks_then_renames(fake_registry):
    content, spec, tmp = fake_registry
    served = tmp / "served"
    write_set(served, content)
    server = _Server(served)
    try:
        spec["urls"] = [server.url]
        ds = data.load("mnist")
        assert ds.source == str(tmp / "repo_data" / "mnist")
        assert sorted(p.name for p in (tmp / "repo_data" / "mnist").iterdir()) == sorted(f"{s}.gz" for s in STEMS)
    finally:
        server.close()


def test_corrupt_download_is_never_used(fake_registry):
    content, spec, tmp = fake_registry
    served = tmp / "served"
    bad = dict(content)
    bad["t10k-images-idx3-ubyte"] = idx_bytes(np.ones((10, 28, 28)))
    write_set(served, bad)
    server = _Server(served)
    try:
        spec["urls"] = [server.url]
        with pytest.raises(data.ChecksumError):
            data.load("mnist")
        names = {p.name for p in (tmp / "repo_data" / "mnist").iterdir()}
        assert "t10k-images-idx3-ubyte.gz" not in names and not any(n.endswith(".part") for n in names)
    finally:
        server.close()


def cifar_record_file(path: Path, labels):
    recs = np.zeros((10_000, 3073), dtype=np.uint8)
    recs[:, 0] = labels
    recs[:, 1:] = np.arange(3072) % 251
    path.write_bytes(recs.tobytes())


@pytest.fixture
def fake_cifar(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "REPO_DATA", tmp_path / "repo_data")
    monkeypatch.setenv(data.ENV, str(tmp_path / "env_data"))
    folder = tmp_path / "env_data" / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name in data.CIFAR10["train"] + data.CIFAR10["test"]:
        cifar_record_file(folder / name, np.arange(10_000) % 10)
    return folder


def test_cifar_binary_layout(fake_cifar):
    ds = data.load("cifar10", download=False)
    assert ds.x_train.shape == (50_000, 32, 32, 3) and ds.x_test.shape == (10_000, 32, 32, 3)
    assert ds.class_names[0] == "airplane" and set(ds.y_train[:10]) == set(range(10))
    # record layout: 1024 red, then 1024 green, then 1024 blue, row-major
    assert ds.x_train[0, 0, 1, 0] == 1 and ds.x_train[0, 0, 0, 1] == 1024 % 251


def test_cifar_wrong_labels_refused(fake_cifar):
    cifar_record_file(fake_cifar / "test_batch.bin", np.full(10_000, 42))
    with pytest.raises(data.ChecksumError, match="labels above 9"):
        data.load("cifar10", download=False)


def test_cifar_short_file_is_not_a_copy(fake_cifar):
    (fake_cifar / "data_batch_3.bin").write_bytes(b"\x00" * 3073 * 10)
    assert data.where("cifar10") is None
    with pytest.raises(data.DataError, match="was not found"):
        data.load("cifar10", download=False)


def test_cifar_tarball_md5_checked_before_extraction(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "REPO_DATA", tmp_path / "repo_data")
    monkeypatch.delenv(data.ENV, raising=False)
    base = tmp_path / "repo_data" / "cifar10"
    base.mkdir(parents=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in data.CIFAR10["train"] + data.CIFAR10["test"]:
            f = tmp_path / name
            cifar_record_file(f, np.arange(10_000) % 10)
            tar.add(f, arcname=f"cifar-10-batches-bin/{name}")
    (base / data.CIFAR10["tarball"]).write_bytes(buf.getvalue())
    with pytest.raises(data.ChecksumError, match="md5"):       # the real md5 cannot match this tarball
        data.load("cifar10", download=False)
    assert not (base / "cifar-10-batches-bin").exists()
    monkeypatch.setitem(data.CIFAR10, "tarball_md5", hashlib.md5(buf.getvalue()).hexdigest())
    assert data.load("cifar10", download=False).x_train.shape == (50_000, 32, 32, 3)


def test_scale_and_subset():
    x = np.full((4, 28, 28), 255, dtype=np.uint8)
    assert data.scale(x).shape == (4, 28, 28, 1) and data.scale(x).max() == 1.0
    assert data.scale(x, channels_last=False).shape == (4, 1, 28, 28)
    ds = data.Dataset("t", np.zeros((50, 2, 2), np.uint8), np.arange(50), np.zeros((20, 2, 2), np.uint8),
                      np.arange(20), [])
    sub = ds.subset(10, 5, seed=1)
    assert len(sub.x_train) == 10 and len(sub.y_test) == 5
    assert np.array_equal(sub.y_train, ds.subset(10, 5, seed=1).y_train)


def test_glyphs():
    x = data.glyph("X")
    assert x.shape == (9, 9) and set(np.unique(x)) == {-1.0, 1.0}
    assert np.array_equal(x, x[:, ::-1]) and x[4, 4] == 1
    imgs, labels = data.xo_images(5, seed=0)
    assert imgs.shape == (10, 9, 9) and sorted(labels.tolist()) == [0] * 5 + [1] * 5


@pytest.mark.parametrize("name,n_train,shape", [("mnist", 60_000, (28, 28)),
                                                ("fashion_mnist", 60_000, (28, 28)),
                                                ("cifar10", 50_000, (32, 32, 3))])
def test_real_files_when_present(name, n_train, shape):
    if data.where(name) is None:
        pytest.skip(f"{name} is not on this machine (set DLLABS_DATA_DIR)")
    ds = data.load(name, download=False)
    assert ds.x_train.shape == (n_train, *shape) and ds.x_test.shape[0] == 10_000
    assert len(np.bincount(ds.y_test)) == 10 and len(ds.class_names) == 10
