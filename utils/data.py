"""Data sets for the labs: one registry, NumPy arrays out, framework adapters.

    from utils import data
    ds = data.load("fashion_mnist")      # uint8 images, int64 labels, class names
    ds.x_train.shape                     # (60000, 28, 28)

Where the files are looked for, in this order:

1. ``$DLLABS_DATA_DIR/<name>/``      a prepared data folder (CI, a shared drive)
2. ``<repo>/data/<name>/``           the course's own download cache
3. system copies                     Debian's ``dataset-fashion-mnist`` package
4. download                          from the canonical source (then its mirrors) into
                                     ``<repo>/data/<name>/``

Every file is checked before it is used: the IDX files (MNIST, Fashion-MNIST) by
the sha256 of their decompressed content, so the canonical ``.gz``, a re-compressed
copy or a raw file are all accepted; CIFAR-10 (its *binary* version, so nothing is
ever unpickled) by the sha256 of each record file, listed in a ``SHA256SUMS`` file
beside them, which the loader writes when it extracts the tarball whose published md5
matched, and which ``python -m utils.data accept-copy FOLDER`` writes for a re-encoded
copy that you choose to trust (data/README.md). A file that fails its check is never used.

A download goes into a temporary file of its own in the target folder and takes the
file's name (an atomic rename) only after its check passed; a lock file
(``.download.lock``, with ``filelock``) makes a second process wait for the first
instead of downloading the same files again. A mirror that fails (no answer, an HTTP
error, a file shorter than announced or failing its check, past the deadline) is
followed by the next; the final message names each URL and what went wrong. Local
problems (no space left, no permission, a folder where a file should be) stop at once
with a message that says so. ``pooch`` would hash the downloaded file itself, but the
IDX checks are on decompressed content (a re-compressed mirror is fine), so the few
lines here do the transfer, with an overall deadline per file that a socket timeout
alone does not give.
"""
from __future__ import annotations

import argparse
import errno
import gzip
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ENV = "DLLABS_DATA_DIR"
REPO_DATA = Path(__file__).resolve().parent.parent / "data"
TIMEOUT_S = 30            # seconds without a byte before a mirror counts as failed
DEADLINE_S = 1800         # seconds one file's download may take in all (a trickling server)
LOCK_WAIT_S = 3 * 3600    # seconds to wait for another process that downloads the same data set
MANIFEST = "SHA256SUMS"   # sha256 of each CIFAR-10 record file, in `sha256sum` format

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]

# name -> files with the sha256 of their decompressed content (see data/README.md)
IDX_SETS = {
    "mnist": {
        "urls": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"],
        "system": [],
        "classes": [str(d) for d in range(10)],
        "files": {
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
    },
    "fashion_mnist": {
        "urls": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        "system": ["/usr/share/datasets/fashion-mnist"],
        "classes": FASHION_CLASSES,
        "files": {
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
    },
}

CIFAR10 = {
    "urls": ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"],
    "tarball": "cifar-10-binary.tar.gz",
    "tarball_md5": "c32a1d4ab5d03f1284b67883e8d87530",  # published by the data set's authors
    "folder": "cifar-10-batches-bin",
    "train": [f"data_batch_{k}.bin" for k in range(1, 6)],
    "test": ["test_batch.bin"],
    "record": 1 + 32 * 32 * 3,
    "per_file": 10_000,
    # sha256 of each extracted record file of the original release: none is recorded, since
    # none could be verified from here (no copy of the original files was at hand). The
    # tarball's published md5 vouches for them instead: the loader writes SHA256SUMS when it
    # extracts a tarball that matched. Values added here are accepted without a SHA256SUMS.
    "sha256": {},
}

NAMES = ("mnist", "fashion_mnist", "cifar10")
LAYOUT = "data/README.md (Layout of a prepared folder)"
HOW_TO_GET = {
    "mnist": "connect to the internet and run again (the loader downloads it, 11 MB), or copy the four "
             f"IDX files into data/mnist/ or $DLLABS_DATA_DIR/mnist/ as {LAYOUT} shows",
    "fashion_mnist": "connect to the internet and run again (30 MB), or on Debian/Ubuntu "
                     "`sudo apt-get install dataset-fashion-mnist`, or copy the four IDX files into "
                     f"data/fashion_mnist/ or $DLLABS_DATA_DIR/fashion_mnist/ as {LAYOUT} shows",
    "cifar10": "connect to the internet and run again (the loader downloads the binary version, "
               "162 MB), or put cifar-10-binary.tar.gz into data/cifar10/ (checked, then extracted), "
               f"or lay out an extracted copy as {LAYOUT} shows",
}


class DataError(RuntimeError):
    """A data set could not be found or failed its check; the message says what to do."""


class ChecksumError(DataError):
    """A file's content is not what the registry says: it was not used."""


class DownloadError(DataError):
    """One URL failed (no answer, an HTTP error, cut short, a failed check, past the deadline):
    the next mirror may still work. ``network`` is true when no data came through at all."""

    def __init__(self, message: str, network: bool = False):
        super().__init__(message)
        self.network = network


class DownloadFailed(DataError):
    """Every URL for a file failed; ``failures`` says how, one line a URL."""

    def __init__(self, failures: list):
        super().__init__("every download failed:\n" + "\n".join(f"  - {f}" for f in failures))
        self.failures = [str(f) for f in failures]
        self.network = bool(failures) and all(getattr(f, "network", False) for f in failures)


def _local_error(e: OSError, path: Path, doing: str) -> DataError:
    """A precise message for a local file problem (the disk, permissions, something in the way)."""
    fix = f"set {ENV} to a folder you can write (layout: {LAYOUT})"
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DataError(f"No space left on the disk holding {path.parent} while {doing} {path.name}: "
                         f"free some space, or {fix}.")
    if e.errno in (errno.EACCES, errno.EPERM):
        return DataError(f"Permission denied {doing} {path}: make it accessible to you, or {fix}.")
    if e.errno == errno.EROFS:
        return DataError(f"{path.parent} is on a read-only file system ({doing} {path.name}): {fix}.")
    if e.errno == errno.EISDIR:
        return DataError(f"{path} is a folder where a file should be: move it away, then run again.")
    if e.errno in (errno.ENOTDIR, errno.EEXIST):
        return DataError(f"{path} (or a folder above it) is a file where a folder should be: move it away, "
                         f"then run again.")
    return DataError(f"{e.strerror or e} while {doing} {path}.")


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _local_error(e, folder, "creating the folder") from e
    if not folder.is_dir():
        raise DataError(f"{folder} is a file where a folder should be: move it away, then run again.")


@dataclass
class Dataset:
    """A labelled image data set held in memory as NumPy arrays."""
    name: str
    x_train: np.ndarray          # uint8, (N, H, W) grey or (N, H, W, 3) colour
    y_train: np.ndarray          # int64 class indices
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list = field(default_factory=list)
    source: str = ""             # the folder the files came from

    def __repr__(self):
        return (f"Dataset({self.name!r}: train {self.x_train.shape} {self.x_train.dtype}, "
                f"test {self.x_test.shape}, {len(self.class_names)} classes, from {self.source})")

    def subset(self, n_train=None, n_test=None, seed=0) -> "Dataset":
        """A random subset (``None`` keeps everything), the same for the same seed."""
        rng = np.random.default_rng(seed)

        def take(x, y, n):
            if n is None or n >= len(x):
                return x, y
            idx = np.sort(rng.choice(len(x), size=n, replace=False))
            return x[idx], y[idx]

        x_tr, y_tr = take(self.x_train, self.y_train, n_train)
        x_te, y_te = take(self.x_test, self.y_test, n_test)
        return Dataset(self.name, x_tr, y_tr, x_te, y_te, list(self.class_names), self.source)


# --------------------------------------------------------------------------- lookup

def search_dirs(name: str) -> list[Path]:
    """The folders looked in for ``name``, in order (download target last)."""
    dirs = []
    if os.environ.get(ENV):
        dirs.append(Path(os.environ[ENV]).expanduser() / name)
    dirs.append(REPO_DATA / name)
    for system in IDX_SETS.get(name, {}).get("system", []):
        dirs.append(Path(system))
    return dirs


def load(name: str, download: bool = True) -> Dataset:
    """Load ``mnist``, ``fashion_mnist`` or ``cifar10`` as a :class:`Dataset`."""
    if name not in NAMES:
        raise DataError(f"unknown data set {name!r}; known: {', '.join(NAMES)}")
    if name == "cifar10":
        return _load_cifar10(download)
    return _load_idx_set(name, download)


def where(name: str) -> Path | None:
    """The folder that holds a complete copy of ``name``, or None (no download, no content check)."""
    for d in search_dirs(name):
        try:
            if name == "cifar10":
                if _cifar_complete(d / CIFAR10["folder"]):
                    return d
            elif all(_idx_candidate(d, f) for f in IDX_SETS[name]["files"]):
                return d
        except DataError:
            continue
    return None


# --------------------------------------------------------------------------- IDX (MNIST-like)

def _idx_candidate(folder: Path, stem: str) -> Path | None:
    paths = (folder / f"{stem}.gz", folder / stem)
    for p in paths:
        if p.is_file():
            return p
    for p in paths:
        if p.is_dir():
            raise DataError(f"{p} is a folder where the data file {p.name} should be: move it away, "
                            f"then run again.")
    return None


def _read_idx_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise _local_error(e, path, "reading") from e
    try:
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw   # gzip's magic number
    except (EOFError, OSError, gzip.BadGzipFile) as e:
        raise ChecksumError(
            f"{path} is truncated or not a valid file ({e.__class__.__name__}: {e}); it was not used. "
            f"Delete it and run again to fetch a fresh copy.") from e


def _check_sha256(content: bytes, expected: str, path: Path) -> None:
    actual = hashlib.sha256(content).hexdigest()
    if actual != expected:
        raise ChecksumError(
            f"{path} does not match its checksum (sha256 of the content {actual[:16]}..., expected "
            f"{expected[:16]}...): it is corrupt or a different file, and it was not used. "
            f"Delete it and run again to fetch a fresh copy.")


def parse_idx(content: bytes) -> np.ndarray:
    """Decode an IDX file (the MNIST format): big-endian header, then uint8 data."""
    if len(content) < 4 or content[0] != 0 or content[1] != 0 or content[2] != 0x08:
        raise DataError("not an IDX file of unsigned bytes")
    ndim = content[3]
    dims = [int.from_bytes(content[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(content, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"IDX header says {dims} but the file holds {data.size} values")
    return data.reshape(dims)


def _load_idx_set(name: str, download: bool) -> Dataset:
    spec = IDX_SETS[name]
    looked = []
    for folder in search_dirs(name):
        paths = {stem: _idx_candidate(folder, stem) for stem in spec["files"]}
        if all(paths.values()):
            arrays = {}
            for stem, path in paths.items():
                content = _read_idx_bytes(path)
                _check_sha256(content, spec["files"][stem], path)
                arrays[stem] = parse_idx(content)
            return Dataset(name,
                           arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"].astype(np.int64),
                           arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"].astype(np.int64),
                           list(spec["classes"]), str(folder))
        missing = [f"{stem}(.gz)" for stem, p in paths.items() if p is None]
        looked.append(f"{folder}: " + ("no such folder" if not folder.is_dir() else "missing " + ", ".join(missing)))
    if not download:
        raise _not_found(name, looked)
    target = REPO_DATA / name
    with _download_lock(target, name):
        for stem, sha in spec["files"].items():
            if _idx_candidate(target, stem):      # there already (another process, an earlier run)
                continue
            try:
                fetch([base + f"{stem}.gz" for base in spec["urls"]], target / f"{stem}.gz",
                      check=lambda p, sha=sha: _check_sha256(_read_idx_bytes(p), sha, p))
            except DownloadFailed as e:
                raise _not_found(name, looked, e) from None
    return _load_idx_set(name, download=False)


# --------------------------------------------------------------------------- CIFAR-10 (binary)

def _cifar_problems(folder: Path) -> list[str]:
    """What keeps ``folder`` from being a complete set of CIFAR-10 record files, file by file."""
    if not folder.is_dir():
        return ["no such folder" if not folder.exists() else "is a file, not a folder"]
    size = CIFAR10["record"] * CIFAR10["per_file"]
    problems = []
    for f in CIFAR10["train"] + CIFAR10["test"]:
        path = folder / f
        if path.is_dir():
            problems.append(f"{f} is a folder where the file should be")
        elif not path.is_file():
            problems.append(f"{f} is missing")
        elif path.stat().st_size != size:
            problems.append(f"{f} has {path.stat().st_size:,} bytes, expected {size:,}")
    return problems


def _cifar_complete(folder: Path) -> bool:
    return not _cifar_problems(folder)


def _cifar_checkable(folder: Path) -> bool:
    """Complete, and every file has a known sha256 (SHA256SUMS beside them or the registry)."""
    known = set(CIFAR10["sha256"]) | (set(read_manifest(folder)) if (folder / MANIFEST).is_file() else set())
    return _cifar_complete(folder) and set(CIFAR10["train"] + CIFAR10["test"]) <= known


def read_manifest(folder: Path) -> dict:
    """{file name: sha256} from ``folder/SHA256SUMS`` (the format `sha256sum` writes and checks)."""
    path = Path(folder) / MANIFEST
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text; write it again with "
                        f"`python -m utils.data accept-copy {folder}`.") from e
    except OSError as e:
        raise _local_error(e, path, "reading") from e
    out = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64 or any(c not in "0123456789abcdef" for c in parts[0].lower()):
            raise DataError(f"{path}, line {number}: expected '<sha256>  <file name>', got {line[:80]!r}")
        out[parts[1].lstrip("*")] = parts[0].lower()
    return out


def _write_manifest(folder: Path, sums: dict) -> Path:
    path = folder / MANIFEST
    text = "".join(f"{sha}  {name}\n" for name, sha in sums.items())
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{MANIFEST}.", suffix=".part")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        raise _local_error(e, path, "writing") from e
    return path


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise _local_error(e, path, "reading") from e
    return h.hexdigest()


def _read_cifar_files(folder: Path, files, sums: dict) -> tuple[np.ndarray, np.ndarray]:
    """Read record files, each checked against its sha256 in ``sums``."""
    chunks = []
    size = CIFAR10["record"] * CIFAR10["per_file"]
    for f in files:
        path = folder / f
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise _local_error(e, path, "reading") from e
        if len(raw) != size:
            raise ChecksumError(f"{path} has {len(raw):,} bytes, expected {CIFAR10['per_file']:,} records "
                                f"of {CIFAR10['record']:,} bytes; it was not used. Delete the folder and run again.")
        actual = hashlib.sha256(raw).hexdigest()
        if actual != sums[f]:
            raise ChecksumError(
                f"{path} does not match its sha256 ({actual[:16]}..., expected {sums[f][:16]}...): it is "
                f"corrupt or a different file, and it was not used. Delete {folder} and run again, or, "
                f"for a copy you prepared yourself, prepare it again and accept it "
                f"(`python -m utils.data accept-copy {folder}`).")
        chunks.append(np.frombuffer(raw, dtype=np.uint8).reshape(CIFAR10["per_file"], CIFAR10["record"]))
    records = np.concatenate(chunks)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise ChecksumError(f"{folder} holds labels above 9: these are not CIFAR-10 record files; "
                            f"they were not used.")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _cifar_class_names(folder: Path) -> list:
    meta = folder / "batches.meta.txt"
    if not meta.is_file():
        return list(CIFAR10_CLASSES)
    try:
        text = meta.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{meta} is not UTF-8 text (byte {e.start}): it should list the 10 class names, one "
                        f"a line. Delete it to use the standard names, or write it again.") from e
    except OSError as e:
        raise _local_error(e, meta, "reading") from e
    listed = [line.strip() for line in text.splitlines() if line.strip()]
    return listed if len(listed) == 10 else list(CIFAR10_CLASSES)


def _cifar_dataset(folder: Path) -> Dataset:
    sums = dict(CIFAR10["sha256"])
    if (folder / MANIFEST).is_file():
        sums.update(read_manifest(folder))
    unknown = [f for f in CIFAR10["train"] + CIFAR10["test"] if f not in sums]
    if unknown:
        raise DataError(
            f"{folder} holds CIFAR-10 record files that cannot be checked: no sha256 is known for "
            f"{', '.join(unknown)} ({folder / MANIFEST} is missing or does not list them). Put the original "
            f"cifar-10-binary.tar.gz in {folder.parent} (its md5 is checked, then it is extracted and its "
            f"checksums recorded), or, for a copy you trust such as a re-encoded one, accept it once: "
            f"`python -m utils.data accept-copy {folder}` (see data/README.md).")
    x_tr, y_tr = _read_cifar_files(folder, CIFAR10["train"], sums)
    x_te, y_te = _read_cifar_files(folder, CIFAR10["test"], sums)
    return Dataset("cifar10", x_tr, y_tr, x_te, y_te, _cifar_class_names(folder), str(folder))


def _load_cifar10(download: bool) -> Dataset:
    looked = []
    for base in search_dirs("cifar10"):
        folder = base / CIFAR10["folder"]
        tarball = base / CIFAR10["tarball"]
        if tarball.is_file() and not _cifar_checkable(folder):
            _extract_cifar_tarball(tarball, base)
        if _cifar_complete(folder):
            return _cifar_dataset(folder)
        looked.append(f"{folder}: " + "; ".join(_cifar_problems(folder)))
    if not download:
        raise _not_found("cifar10", looked)
    target = REPO_DATA / "cifar10"
    with _download_lock(target, "cifar10"):
        tarball = target / CIFAR10["tarball"]
        if not _cifar_checkable(target / CIFAR10["folder"]) and not tarball.is_file():
            try:
                fetch(CIFAR10["urls"], tarball, check=lambda p: _check_md5(p, CIFAR10["tarball_md5"]))
            except DownloadFailed as e:
                raise _not_found("cifar10", looked, e) from None
    return _load_cifar10(download=False)


def _check_md5(path: Path, expected: str) -> None:
    h = hashlib.md5()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise _local_error(e, path, "reading") from e
    if h.hexdigest() != expected:
        raise ChecksumError(f"{path} does not match its published md5 ({h.hexdigest()} != {expected}); "
                            f"it was not used. Delete it and run again.")


def _extract_cifar_tarball(tarball: Path, dest: Path) -> None:
    """Extract a tarball whose md5 matched into ``dest``, record its files' sha256, then move it into place."""
    _check_md5(tarball, CIFAR10["tarball_md5"])
    try:
        tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".extract-"))
    except OSError as e:
        raise DataError(
            f"Cannot extract {tarball.name} in {dest}: {e.strerror or e} (a read-only folder?). Extract it "
            f"where you can write: copy the tarball into {REPO_DATA / 'cifar10'}, or set {ENV} to a folder "
            f"you can write and put it in <that folder>/cifar10/.") from e
    try:
        try:
            with tarfile.open(tarball, "r:gz") as tar:
                tar.extractall(tmp, filter="data")          # refuses absolute paths and links out
        except OSError as e:
            raise _local_error(e, tmp, "extracting into") from e
        extracted = tmp / CIFAR10["folder"]
        problems = _cifar_problems(extracted)
        if problems:
            raise ChecksumError(f"{tarball} did not contain a complete {CIFAR10['folder']}/ folder: "
                                + "; ".join(problems))
        _write_manifest(extracted, {f: _sha256_file(extracted / f) for f in CIFAR10["train"] + CIFAR10["test"]})
        final = dest / CIFAR10["folder"]
        with _download_lock(dest, "cifar10"):
            if not _cifar_checkable(final):        # another process may have done it meanwhile
                try:
                    if final.is_dir():
                        shutil.rmtree(final)
                    os.replace(extracted, final)
                except OSError as e:
                    raise _local_error(e, final, "replacing") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def accept_copy(folder) -> Path:
    """Accept a CIFAR-10 copy that is not the original release (a re-encoded one, like the course
    CI's): check its structure (sizes, labels 0-9, 5,000 training and 1,000 test images a class),
    then record each record file's sha256 in ``SHA256SUMS`` beside them. From then on the loader
    uses exactly these files, and refuses them if they change. ``folder`` is the
    ``cifar-10-batches-bin`` folder or the ``cifar10`` folder holding it."""
    folder = Path(folder)
    if folder.name != CIFAR10["folder"] and (folder / CIFAR10["folder"]).is_dir():
        folder = folder / CIFAR10["folder"]
    problems = _cifar_problems(folder)
    if problems:
        raise DataError(f"{folder} is not a complete CIFAR-10 copy: " + "; ".join(problems))
    sums, counts = {}, {}
    for split, files in (("train", CIFAR10["train"]), ("test", CIFAR10["test"])):
        labels = []
        for f in files:
            try:
                raw = (folder / f).read_bytes()
            except OSError as e:
                raise _local_error(e, folder / f, "reading") from e
            sums[f] = hashlib.sha256(raw).hexdigest()
            labels.append(np.frombuffer(raw, dtype=np.uint8)[::CIFAR10["record"]])
        labels = np.concatenate(labels)
        if labels.max() > 9:
            raise DataError(f"{folder}: the {split} files hold labels above 9: not CIFAR-10 record files.")
        counts[split] = np.bincount(labels, minlength=10)
    want = {split: len(CIFAR10[split]) * CIFAR10["per_file"] // 10 for split in ("train", "test")}  # 5,000, 1,000
    for split, n in want.items():
        if not (counts[split] == n).all():
            raise DataError(f"{folder}: the {split} files hold {counts[split].tolist()} images a class, "
                            f"expected {n:,} of each: not a CIFAR-10 copy.")
    _cifar_class_names(folder)                              # a meta file, if any, must be readable
    return _write_manifest(folder, sums)


# --------------------------------------------------------------------------- download

@contextmanager
def _download_lock(folder: Path, name: str):
    """Hold ``folder/.download.lock`` (another process that wants the same data set waits)."""
    _make_folder(folder)
    try:
        from filelock import FileLock, Timeout
    except ImportError:          # without filelock two processes may both download; each still succeeds
        yield
        return
    path = folder / ".download.lock"
    lock = FileLock(str(path))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            print(f"Another process is downloading {name} into {folder}: waiting for it "
                  f"(lock file {path.name}).", file=sys.stderr, flush=True)
            lock.acquire(timeout=LOCK_WAIT_S)
    except Timeout:
        raise DataError(f"Waited {LOCK_WAIT_S} s for another process downloading {name} into {folder}. "
                        f"If none is running, delete {path} and run again.") from None
    except OSError as e:
        raise _local_error(e, path, "creating the lock file") from e
    try:
        yield
    finally:
        lock.release()


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        return str(e.reason)
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _create_part(dest: Path):
    """A new temporary file of this process's own beside ``dest``: (path, binary file object)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as e:
        raise _local_error(e, dest, "writing") from e
    return Path(tmp), os.fdopen(fd, "wb", buffering=0)


def download_file(url: str, dest: Path, check=None, timeout: float | None = None,
                  deadline: float | None = None) -> Path:
    """Download ``url`` to ``dest`` with a progress bar, within ``deadline`` seconds in all and
    ``timeout`` seconds without a byte. The data goes into a temporary file of this process's own
    beside ``dest``; ``check(path)`` must pass before it is renamed into place, so a failed, short
    or corrupt download never takes a file's name. Raises :class:`DownloadError` when the URL
    fails and :class:`DataError` for a local problem (disk full, no permission, a folder in the way)."""
    from tqdm.auto import tqdm

    timeout = TIMEOUT_S if timeout is None else timeout
    deadline = DEADLINE_S if deadline is None else deadline
    dest = Path(dest)
    _make_folder(dest.parent)
    if dest.is_dir():
        raise DataError(f"{dest} is a folder where the downloaded file should go: move it away, then run again.")
    part, out = _create_part(dest)
    start = time.monotonic()
    try:
        with out:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)
            except (OSError, http.client.HTTPException, ValueError) as e:
                raise DownloadError(f"{url}: {_reason(e)}", network=not isinstance(e, urllib.error.HTTPError)) from e
            with response:
                try:
                    total = int(response.headers.get("Content-Length") or 0) or None
                except ValueError:
                    total = None
                got = 0
                with tqdm(total=total, unit="B", unit_scale=True, leave=False, mininterval=0.5,
                          desc=f"download {dest.name} (deadline {deadline:.0f} s)") as bar:
                    while True:
                        if time.monotonic() - start > deadline:
                            raise DownloadError(f"{url}: not done within the {deadline:.0f} s deadline "
                                                f"({got:,} of {total or '?':,} bytes came)")
                        try:
                            block = response.read1(1 << 16)
                        except (OSError, http.client.HTTPException) as e:
                            raise DownloadError(f"{url}: {_reason(e)} after {got:,} bytes",
                                                network=got == 0) from e
                        if not block:
                            break
                        try:
                            out.write(block)
                        except OSError as e:
                            raise _local_error(e, dest, "writing") from e
                        got += len(block)
                        bar.update(len(block))
            if total is not None and got != total:
                raise DownloadError(f"{url}: the transfer was cut: {got:,} of {total:,} bytes came")
        if check is not None:
            try:
                check(part)
            except ChecksumError as e:
                raise DownloadError(f"{url}: the file came but failed its check "
                                    f"({str(e).split(':', 1)[-1].split(';')[0].strip()})") from e
        try:
            os.replace(part, dest)
        except OSError as e:
            raise _local_error(e, dest, "writing") from e
    finally:
        try:
            part.unlink(missing_ok=True)
        except OSError:
            pass
    return dest


def fetch(urls, dest: Path, check=None, timeout: float | None = None, deadline: float | None = None) -> Path:
    """Download ``dest`` from the first of ``urls`` that works (see :func:`download_file`); a URL
    that fails is followed by the next. :class:`DownloadFailed` names each URL and its failure."""
    failures = []
    for i, url in enumerate(urls):
        try:
            return download_file(url, dest, check=check, timeout=timeout, deadline=deadline)
        except DownloadError as e:
            failures.append(e)
            if i + 1 < len(urls):
                print(f"{e} -- trying the next mirror", file=sys.stderr, flush=True)
    raise DownloadFailed(failures)


def _not_found(name: str, looked, failed: DownloadFailed | None = None) -> DataError:
    lines = [f"The {name} data set was not found. Looked in:"]
    lines += [f"  - {p}" for p in looked]
    if failed is not None:
        lines.append("Download failed" + (" (is this machine offline?):" if failed.network else ":"))
        lines += [f"  - {f}" for f in failed.failures]
    else:
        lines.append("Download was not attempted (download=False).")
    lines.append(f"How to get it: {HOW_TO_GET[name]}.")
    return DataError("\n".join(lines))


# --------------------------------------------------------------------------- preparing arrays

def scale(x: np.ndarray, channels_last: bool = True) -> np.ndarray:
    """uint8 images -> float32 in [0, 1] with a channel axis: (N, H, W, C) or (N, C, H, W)."""
    x = np.asarray(x, dtype=np.float32) / 255.0
    if x.ndim == 3:
        x = x[..., None]
    if not channels_last:
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x)


class TensorLoader:
    """Mini-batches of tensors already in memory (on the training device): no per-sample
    Python work, a new shuffle each epoch. Works where a PyTorch DataLoader would."""

    def __init__(self, x, y, batch_size=128, shuffle=True, seed=0):
        import torch

        self.x, self.y = x, y
        self.batch_size, self.shuffle = batch_size, shuffle
        self.generator = torch.Generator(device="cpu").manual_seed(seed)

    def __len__(self):
        return (len(self.x) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        import torch

        n = len(self.x)
        order = torch.randperm(n, generator=self.generator).to(self.x.device) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            if order is None:
                yield self.x[start:start + self.batch_size], self.y[start:start + self.batch_size]
            else:
                idx = order[start:start + self.batch_size]
                yield self.x[idx], self.y[idx]


def as_torch_loader(x, y, batch_size=128, shuffle=True, device="cpu", seed=0) -> TensorLoader:
    """uint8 images and labels -> a :class:`TensorLoader` of float (N, C, H, W) batches on ``device``."""
    import torch

    xt = torch.from_numpy(scale(x, channels_last=False)).to(device)
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)
    return TensorLoader(xt, yt, batch_size=batch_size, shuffle=shuffle, seed=seed)


def as_tf_dataset(x, y, batch_size=128, shuffle=True, seed=0):
    """uint8 images and labels -> a batched, prefetched ``tf.data.Dataset`` of float (N, H, W, C)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((scale(x), np.asarray(y, dtype=np.int64)))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------- the 9x9 X and O glyphs
# The workshop's two pictures (deck 000, "Regresión logística"), ink as "#".

_X = """
.........
.#.....#.
..#...#..
...#.#...
....#....
...#.#...
..#...#..
.#.....#.
.........
"""
_O = """
.........
...###...
..#...#..
.#.....#.
.#.....#.
.#.....#.
..#...#..
...###...
.........
"""


def glyph(letter: str) -> np.ndarray:
    """The 9x9 ``"X"`` or ``"O"`` image with pixels +1 (ink) and -1 (background)."""
    art = {"X": _X, "O": _O}[letter.upper()]
    rows = [r for r in art.strip().splitlines()]
    return np.array([[1.0 if c == "#" else -1.0 for c in r] for r in rows], dtype=np.float32)


def xo_images(n_per_class=200, flip=0.1, max_shift=1, seed=0):
    """Noisy, shifted copies of the X and O glyphs: images (N, 9, 9) in {-1, +1} and labels
    (1 for X, 0 for O). ``flip`` is the chance that a pixel is inverted."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, letter in ((1, "X"), (0, "O")):
        base = glyph(letter)
        for _ in range(n_per_class):
            dy, dx = rng.integers(-max_shift, max_shift + 1, size=2)
            img = np.roll(base, (dy, dx), axis=(0, 1))
            img = np.where(rng.random(img.shape) < flip, -img, img)
            images.append(img)
            labels.append(label)
    order = rng.permutation(len(images))
    return np.stack(images)[order].astype(np.float32), np.array(labels)[order]


# --------------------------------------------------------------------------- command line

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m utils.data", description="The course's data sets.")
    sub = ap.add_subparsers(dest="command", required=True)
    acc = sub.add_parser("accept-copy", help="accept a CIFAR-10 copy that is not the original release "
                         "(e.g. re-encoded): check its structure, then record its files' sha256 in SHA256SUMS")
    acc.add_argument("folder", type=Path, help="the cifar10 folder, or the cifar-10-batches-bin folder in it")
    sub.add_parser("where", help="where each data set is found (no download)")
    args = ap.parse_args(argv)
    try:
        if args.command == "accept-copy":
            path = accept_copy(args.folder)
            print(f"Accepted: wrote {path}. The loader now uses exactly these files and refuses them if they change.")
        else:
            for name in NAMES:
                print(f"{name:14s} {where(name) or 'not found'}")
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
