"""utils.data: checksums, truncated files, lookup order, offline errors, downloads, real files."""
import errno
import gzip
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

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
        names = [p.name for p in (tmp / "repo_data" / "mnist").iterdir()]
        assert sorted(names) == sorted([".download.lock"] + [f"{s}.gz" for s in STEMS])
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
        with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte.gz: the file came but failed its check"):
            data.load("mnist")
        names = {p.name for p in (tmp / "repo_data" / "mnist").iterdir()}
        assert "t10k-images-idx3-ubyte.gz" not in names and not any(n.endswith(".part") for n in names)
    finally:
        server.close()


PER_FILE = 100         # records a file in these tests (10,000 in the real files)


def cifar_record_file(path: Path, labels):
    recs = np.zeros((len(labels), 3073), dtype=np.uint8)
    recs[:, 0] = labels
    recs[:, 1:] = np.arange(3072) % 251
    path.write_bytes(recs.tobytes())


@pytest.fixture
def small_cifar(monkeypatch):
    monkeypatch.setitem(data.CIFAR10, "per_file", PER_FILE)


@pytest.fixture
def fake_cifar(monkeypatch, tmp_path, small_cifar):
    monkeypatch.setattr(data, "REPO_DATA", tmp_path / "repo_data")
    monkeypatch.setenv(data.ENV, str(tmp_path / "env_data"))
    folder = tmp_path / "env_data" / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name in data.CIFAR10["train"] + data.CIFAR10["test"]:
        cifar_record_file(folder / name, np.arange(PER_FILE) % 10)
    data.accept_copy(folder.parent)
    return folder


def test_cifar_binary_layout(fake_cifar):
    ds = data.load("cifar10", download=False)
    assert ds.x_train.shape == (5 * PER_FILE, 32, 32, 3) and ds.x_test.shape == (PER_FILE, 32, 32, 3)
    assert ds.class_names[0] == "airplane" and set(ds.y_train[:10]) == set(range(10))
    # record layout: 1024 red, then 1024 green, then 1024 blue, row-major
    assert ds.x_train[0, 0, 1, 0] == 1 and ds.x_train[0, 0, 0, 1] == 1024 % 251


def test_cifar_wrong_labels_refused(fake_cifar):
    cifar_record_file(fake_cifar / "test_batch.bin", np.full(PER_FILE, 42))
    with pytest.raises(data.ChecksumError, match="test_batch.bin does not match its sha256"):
        data.load("cifar10", download=False)
    with pytest.raises(data.DataError, match="labels above 9"):
        data.accept_copy(fake_cifar)


def test_cifar_short_file_is_not_a_copy(fake_cifar):
    (fake_cifar / "data_batch_3.bin").write_bytes(b"\x00" * 3073 * 10)
    (fake_cifar / "test_batch.bin").unlink()
    assert data.where("cifar10") is None
    with pytest.raises(data.DataError, match="was not found") as err:
        data.load("cifar10", download=False)
    # the message names the wrong-sized and the missing file
    assert f"data_batch_3.bin has 30,730 bytes, expected {3073 * PER_FILE:,}" in str(err.value)
    assert "test_batch.bin is missing" in str(err.value)


def test_cifar_tarball_md5_checked_before_extraction(monkeypatch, tmp_path, small_cifar):
    monkeypatch.setattr(data, "REPO_DATA", tmp_path / "repo_data")
    monkeypatch.delenv(data.ENV, raising=False)
    base = tmp_path / "repo_data" / "cifar10"
    base.mkdir(parents=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in data.CIFAR10["train"] + data.CIFAR10["test"]:
            f = tmp_path / name
            cifar_record_file(f, np.arange(PER_FILE) % 10)
            tar.add(f, arcname=f"cifar-10-batches-bin/{name}")
    (base / data.CIFAR10["tarball"]).write_bytes(buf.getvalue())
    with pytest.raises(data.ChecksumError, match="md5"):       # the real md5 cannot match this tarball
        data.load("cifar10", download=False)
    assert not (base / "cifar-10-batches-bin").exists()
    monkeypatch.setitem(data.CIFAR10, "tarball_md5", hashlib.md5(buf.getvalue()).hexdigest())
    assert data.load("cifar10", download=False).x_train.shape == (5 * PER_FILE, 32, 32, 3)


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
    found = data.where(name)
    if found is None:
        pytest.skip(f"{name} is not on this machine (set DLLABS_DATA_DIR)")
    if name == "cifar10" and not data._cifar_checkable(found / data.CIFAR10["folder"]):
        pytest.skip(f"the CIFAR-10 copy in {found} has no SHA256SUMS: accept it first "
                    f"(python -m utils.data accept-copy {found}), as .ci/run does")
    ds = data.load(name, download=False)
    assert ds.x_train.shape == (n_train, *shape) and ds.x_test.shape[0] == 10_000
    assert len(np.bincount(ds.y_test)) == 10 and len(ds.class_names) == 10


# ----------------------------------------------------------------- faults: mirrors, deadline, concurrency

class FaultServer:
    """A local HTTP server (127.0.0.1 only) whose routes misbehave on purpose:
    ("ok", body), ("error", status), ("short", body): announces len(body), sends half, closes,
    ("trickle", body, seconds a byte), ("hang",): headers, then nothing, ("slow", body, pause):
    half, a pause, the rest. Every request is counted in ``hits``."""

    def __init__(self, routes: dict):
        self.routes, self.hits, self.stop = routes, [], threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.hits.append(self.path)
                kind, *args = outer.routes.get(self.path.lstrip("/"), ("error", 404))
                try:
                    if kind == "error":
                        self.send_error(args[0])
                        return
                    body = args[0] if args else b"?" * 100
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if kind == "ok":
                        self.wfile.write(body)
                    elif kind == "short":
                        self.wfile.write(body[: len(body) // 2])
                        self.close_connection = True
                    elif kind == "trickle":
                        for i in range(len(body)):
                            if outer.stop.wait(args[1]):
                                return
                            self.wfile.write(body[i:i + 1])
                            self.wfile.flush()
                    elif kind == "hang":
                        outer.stop.wait(30)
                    elif kind == "slow":
                        self.wfile.write(body[: len(body) // 2])
                        self.wfile.flush()
                        outer.stop.wait(args[1])
                        self.wfile.write(body[len(body) // 2:])
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(routes):
        servers.append(FaultServer(routes))
        return servers[-1]
    yield start
    for s in servers:
        s.close()


def gz_routes(content, prefix="", **override):
    """Routes serving each IDX file gzipped under ``prefix``; ``override`` replaces a file's route."""
    routes = {f"{prefix}{stem}.gz": ("ok", gzip.compress(b)) for stem, b in content.items()}
    routes.update({f"{prefix}{stem}.gz": r for stem, r in override.items()})
    return routes


STEM = "t10k-images-idx3-ubyte"


@pytest.mark.parametrize("fault", ["checksum", "short", "error"])
def test_a_failing_mirror_is_followed_by_the_next(fake_registry, serve, fault):
    content, spec, tmp = fake_registry
    good = gzip.compress(content[STEM])
    bad_route = {"checksum": ("ok", gzip.compress(b"\0" * len(content[STEM]))),   # same size, wrong content
                 "short": ("short", good),
                 "error": ("error", 500)}[fault]
    server = serve({**gz_routes(content, "a/", **{STEM: bad_route}), **gz_routes(content, "b/")})
    spec["urls"] = [server.url + "a/", server.url + "b/"]
    ds = data.load("mnist")
    assert ds.x_test.shape == (10, 28, 28) and ds.source == str(tmp / "repo_data" / "mnist")
    assert f"/a/{STEM}.gz" in server.hits and f"/b/{STEM}.gz" in server.hits
    assert not list((tmp / "repo_data" / "mnist").glob("*.part"))


def test_when_every_mirror_fails_the_message_names_each_url(fake_registry, serve):
    content, spec, tmp = fake_registry
    server = serve({**gz_routes(content, "a/", **{STEM: ("short", gzip.compress(content[STEM]))}),
                    **gz_routes(content, "b/", **{STEM: ("error", 503)})})
    spec["urls"] = [server.url + "a/", server.url + "b/"]
    with pytest.raises(data.DataError) as err:
        data.load("mnist")
    text = str(err.value)
    assert f"{server.url}a/{STEM}.gz: the transfer was cut" in text
    assert f"{server.url}b/{STEM}.gz: HTTP 503" in text
    assert "offline" not in text and "../shared" not in text and "data/README.md" in text
    assert not list((tmp / "repo_data" / "mnist").glob(f"{STEM}*"))


def test_a_trickling_server_hits_the_deadline_with_progress(fake_registry, serve, monkeypatch, capsys):
    content, spec, tmp = fake_registry
    server = serve(gz_routes(content, **{STEM: ("trickle", gzip.compress(content[STEM]), 0.05)}))
    spec["urls"] = [server.url]
    monkeypatch.setattr(data, "DEADLINE_S", 1.0)
    start = time.monotonic()
    with pytest.raises(data.DataError, match=rf"{STEM}.gz: not done within the 1 s deadline"):
        data.load("mnist")
    assert time.monotonic() - start < 10
    assert f"download {STEM}.gz" in capsys.readouterr().err          # the progress bar showed


def test_a_hanging_server_times_out(fake_registry, serve, monkeypatch):
    content, spec, tmp = fake_registry
    server = serve(gz_routes(content, **{STEM: ("hang",)}))
    spec["urls"] = [server.url]
    monkeypatch.setattr(data, "TIMEOUT_S", 0.5)
    with pytest.raises(data.DataError, match=rf"{STEM}.gz: .*timed out"):
        data.load("mnist")


CONCURRENT = """
import hashlib, json, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from utils import data
spec = json.loads({spec!r})
data.IDX_SETS["mnist"] = spec
data.REPO_DATA = Path({repo!r})
ds = data.load("mnist")
print("OK", ds.source, ds.x_train.shape)
"""


def test_two_processes_downloading_into_one_cache_both_succeed(fake_registry, serve, monkeypatch):
    content, spec, tmp = fake_registry
    # each file arrives in two halves 0.5 s apart, so the two processes overlap
    routes = {f"{stem}.gz": ("slow", gzip.compress(b), 0.5) for stem, b in content.items()}
    server = serve(routes)
    spec = {**spec, "urls": [server.url]}
    script = CONCURRENT.format(root=str(ROOT), spec=json.dumps(spec), repo=str(tmp / "repo_data"))
    env = {k: v for k, v in os.environ.items() if k != data.ENV}
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and out.startswith("OK"), err
    assert sorted(p.name for p in (tmp / "repo_data" / "mnist").iterdir() if not p.name.startswith(".")) == \
        sorted(f"{s}.gz" for s in STEMS)
    assert not list((tmp / "repo_data" / "mnist").glob("*.part"))
    assert len(server.hits) == len(STEMS)          # the second process waited and downloaded nothing


# ----------------------------------------------------------------- faults: local files and disks

def fail_for(monkeypatch, target, name, err, match):
    """Make ``target.name`` raise OSError ``err`` when its first argument matches ``match``."""
    real = getattr(target, name)

    def fake(*args, **kwargs):
        if match(*args, **kwargs):
            raise OSError(err, os.strerror(err), str(args[0] if args else kwargs.get("dir")))
        return real(*args, **kwargs)
    monkeypatch.setattr(target, name, fake)


def test_permission_denied_on_a_data_file_is_not_called_truncated(fake_registry, monkeypatch):
    content, _, tmp = fake_registry
    write_set(tmp / "env_data" / "mnist", content)
    bad = tmp / "env_data" / "mnist" / "train-images-idx3-ubyte.gz"
    # (the tests may run as root, whom chmod does not stop: the kernel's answer is simulated)
    fail_for(monkeypatch, Path, "read_bytes", errno.EACCES, lambda self: self == bad)
    with pytest.raises(data.DataError) as err:
        data.load("mnist", download=False)
    assert f"Permission denied reading {bad}" in str(err.value)
    assert "truncated" not in str(err.value) and "Delete it" not in str(err.value)


def test_a_full_disk_is_named_not_offline(fake_registry, serve, monkeypatch):
    content, spec, tmp = fake_registry
    spec["urls"] = [serve(gz_routes(content)).url]
    real = data._create_part

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, block):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

    def create(dest):
        path, f = real(dest)
        return path, FullDisk(f)
    monkeypatch.setattr(data, "_create_part", create)
    with pytest.raises(data.DataError) as err:
        data.load("mnist")
    text = str(err.value)
    assert f"No space left on the disk holding {tmp / 'repo_data' / 'mnist'}" in text
    assert "offline" not in text and "internet" not in text
    assert not list((tmp / "repo_data" / "mnist").glob("*.part"))


def test_an_unwritable_data_folder_is_named(fake_registry, serve, monkeypatch):
    content, spec, tmp = fake_registry
    spec["urls"] = [serve(gz_routes(content)).url]
    fail_for(monkeypatch, Path, "mkdir", errno.EACCES, lambda self, *a, **k: "repo_data" in str(self))
    with pytest.raises(data.DataError) as err:
        data.load("mnist")
    assert "Permission denied creating the folder" in str(err.value) and "repo_data" in str(err.value)
    assert "offline" not in str(err.value) and data.ENV in str(err.value)


def test_a_read_only_file_system_is_named(fake_registry, serve, monkeypatch):
    content, spec, tmp = fake_registry
    spec["urls"] = [serve(gz_routes(content)).url]
    (tmp / "repo_data" / "mnist").mkdir(parents=True)
    fail_for(monkeypatch, tempfile, "mkstemp", errno.EROFS, lambda *a, **k: "repo_data" in str(k.get("dir")))
    with pytest.raises(data.DataError, match="is on a read-only file system"):
        data.load("mnist")


def test_a_folder_where_a_file_should_be_is_named(fake_registry, serve):
    content, spec, tmp = fake_registry
    spec["urls"] = [serve(gz_routes(content)).url]
    in_the_way = tmp / "repo_data" / "mnist" / "train-labels-idx1-ubyte.gz"
    in_the_way.mkdir(parents=True)
    with pytest.raises(data.DataError, match=f"{in_the_way} is a folder where the data file"):
        data.load("mnist")
    assert data.where("mnist") is None                       # where() never raises
    # and a file where the data folder should be
    in_the_way.rmdir()
    in_the_way.parent.rmdir()
    in_the_way.parent.write_text("not a folder")
    with pytest.raises(data.DataError, match="is a file where a folder should be"):
        data.load("mnist")


def test_how_to_get_it_speaks_to_a_course_user():
    for name, text in data.HOW_TO_GET.items():
        assert "../shared" not in text and "data/README.md" in text, name


# ----------------------------------------------------------------- CIFAR-10 by content

def test_cifar_copy_without_checksums_is_refused_until_accepted(fake_cifar):
    (fake_cifar / data.MANIFEST).unlink()
    with pytest.raises(data.DataError, match="cannot be checked.*accept-copy") as err:
        data.load("cifar10", download=False)
    assert "data_batch_1.bin" in str(err.value)
    assert data.main(["accept-copy", str(fake_cifar.parent)]) == 0        # python -m utils.data accept-copy
    lines = (fake_cifar / data.MANIFEST).read_text().splitlines()
    assert len(lines) == 6 and lines[0].endswith("  data_batch_1.bin")       # sha256sum's format
    assert data.load("cifar10", download=False).x_test.shape == (PER_FILE, 32, 32, 3)


def test_cifar_same_size_garbage_is_refused(fake_cifar):
    path = fake_cifar / "data_batch_2.bin"
    raw = bytearray(path.read_bytes())
    raw[5000] ^= 0xFF                                    # one pixel byte: right size, right labels
    path.write_bytes(bytes(raw))
    with pytest.raises(data.ChecksumError, match="data_batch_2.bin does not match its sha256"):
        data.load("cifar10", download=False)


def test_accept_copy_checks_the_structure(fake_cifar):
    cifar_record_file(fake_cifar / "test_batch.bin", np.arange(PER_FILE) % 5)     # labels 0-4 only
    with pytest.raises(data.DataError, match=r"test files hold \[20, 20, 20, 20, 20, 0"):
        data.accept_copy(fake_cifar)
    (fake_cifar / "data_batch_4.bin").unlink()
    with pytest.raises(data.DataError, match="data_batch_4.bin is missing"):
        data.accept_copy(fake_cifar)


def test_cifar_meta_that_is_not_utf8_is_named(fake_cifar):
    (fake_cifar / "batches.meta.txt").write_bytes("avión\n".encode("latin-1") * 10)
    with pytest.raises(data.DataError, match="batches.meta.txt is not UTF-8 text"):
        data.load("cifar10", download=False)


def make_cifar_tarball(tmp_path: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in data.CIFAR10["train"] + data.CIFAR10["test"]:
            f = tmp_path / name
            cifar_record_file(f, np.arange(PER_FILE) % 10)
            tar.add(f, arcname=f"cifar-10-batches-bin/{name}")
            f.unlink()
    return buf.getvalue()


def test_cifar_read_only_extraction_folder_is_named(monkeypatch, tmp_path, small_cifar):
    monkeypatch.setattr(data, "REPO_DATA", tmp_path / "repo_data")
    monkeypatch.setenv(data.ENV, str(tmp_path / "shared_drive"))
    base = tmp_path / "shared_drive" / "cifar10"
    base.mkdir(parents=True)
    blob = make_cifar_tarball(tmp_path)
    (base / data.CIFAR10["tarball"]).write_bytes(blob)
    monkeypatch.setitem(data.CIFAR10, "tarball_md5", hashlib.md5(blob).hexdigest())
    fail_for(monkeypatch, tempfile, "mkdtemp", errno.EACCES, lambda *a, **k: str(base) == str(k.get("dir")))
    with pytest.raises(data.DataError, match=r"Cannot extract cifar-10-binary.tar.gz in .*read-only folder"):
        data.load("cifar10", download=False)


def test_cifar_download_extracts_and_records_checksums(monkeypatch, tmp_path, serve, small_cifar):
    monkeypatch.setattr(data, "REPO_DATA", tmp_path / "repo_data")
    monkeypatch.delenv(data.ENV, raising=False)
    blob = make_cifar_tarball(tmp_path)
    monkeypatch.setitem(data.CIFAR10, "tarball_md5", hashlib.md5(blob).hexdigest())
    server = serve({"bad.tar.gz": ("short", blob), "good.tar.gz": ("ok", blob)})
    monkeypatch.setitem(data.CIFAR10, "urls", [server.url + "bad.tar.gz", server.url + "good.tar.gz"])
    ds = data.load("cifar10")
    folder = tmp_path / "repo_data" / "cifar10" / "cifar-10-batches-bin"
    assert ds.source == str(folder) and len(data.read_manifest(folder)) == 6
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".extract")]
