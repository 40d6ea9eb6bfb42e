"""Data sets for the labs: one registry, NumPy arrays out, framework adapters.

    from utils import data
    ds = data.load("fashion_mnist")      # uint8 images, int64 labels, class names
    ds.x_train.shape                     # (60000, 28, 28)

Where the files are looked for, in this order:

1. ``$DLLABS_DATA_DIR/<name>/``      a prepared data folder (CI, a shared drive)
2. ``<repo>/data/<name>/``           the course's own download cache
3. system copies                     Debian's ``dataset-fashion-mnist`` package
4. download                          from the canonical source into ``<repo>/data/<name>/``
                                     with a progress bar, a timeout, a checksum
                                     and an atomic rename

Every file is checked before it is used: the IDX files (MNIST, Fashion-MNIST) by
the sha256 of their decompressed content, so the canonical ``.gz``, a re-compressed
copy or a raw file are all accepted; CIFAR-10 (its *binary* version, so nothing is
ever unpickled) by the structure of its record files, and its tarball by the
published md5 before extraction. A file that fails its check is never used.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ENV = "DLLABS_DATA_DIR"
REPO_DATA = Path(__file__).resolve().parent.parent / "data"
TIMEOUT_S = 30

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
}

NAMES = ("mnist", "fashion_mnist", "cifar10")
HOW_TO_GET = {
    "mnist": "connect to the internet and run again (the loader downloads it), or run "
             "`../shared/data/prepare DIR` where that folder exists and set DLLABS_DATA_DIR=DIR",
    "fashion_mnist": "connect to the internet and run again, or on Debian/Ubuntu "
                     "`sudo apt-get install dataset-fashion-mnist`, or set DLLABS_DATA_DIR to a "
                     "folder holding fashion_mnist/*.gz",
    "cifar10": "connect to the internet and run again (the loader downloads the binary version, "
               "162 MB), or set DLLABS_DATA_DIR to a folder holding "
               "cifar10/cifar-10-batches-bin/*.bin",
}


class DataError(RuntimeError):
    """A data set could not be found or failed its check; the message says what to do."""


class ChecksumError(DataError):
    """A file's content is not what the registry says: it was not used."""


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
    """The folder that holds a complete copy of ``name``, or None (no download, no check)."""
    for d in search_dirs(name):
        if name == "cifar10":
            if _cifar_complete(d / CIFAR10["folder"]):
                return d
        elif all(_idx_candidate(d, f) for f in IDX_SETS[name]["files"]):
            return d
    return None


# --------------------------------------------------------------------------- IDX (MNIST-like)

def _idx_candidate(folder: Path, stem: str) -> Path | None:
    for p in (folder / f"{stem}.gz", folder / stem):
        if p.is_file():
            return p
    return None


def _read_idx_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
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
        looked.append(folder)
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
    if download:
        target = REPO_DATA / name
        errors = []
        for base in spec["urls"]:
            try:
                for stem, sha in spec["files"].items():
                    dest = target / f"{stem}.gz"
                    if not dest.exists():
                        download_file(base + f"{stem}.gz", dest,
                                      check=lambda p, sha=sha: _check_sha256(_read_idx_bytes(p), sha, p))
                return _load_idx_set(name, download=False)
            except ChecksumError:
                raise
            except OSError as e:
                errors.append(f"{base}: {e}")
        raise _not_found(name, looked, errors)
    raise _not_found(name, looked, [])


# --------------------------------------------------------------------------- CIFAR-10 (binary)

def _cifar_complete(folder: Path) -> bool:
    size = CIFAR10["record"] * CIFAR10["per_file"]
    return all((folder / f).is_file() and (folder / f).stat().st_size == size
               for f in CIFAR10["train"] + CIFAR10["test"])


def _read_cifar_files(folder: Path, files) -> tuple[np.ndarray, np.ndarray]:
    chunks = []
    for f in files:
        path = folder / f
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size != CIFAR10["record"] * CIFAR10["per_file"]:
            raise ChecksumError(f"{path} has {raw.size} bytes, expected {CIFAR10['per_file']} records "
                                f"of {CIFAR10['record']} bytes; it was not used. Delete the folder and run again.")
        chunks.append(raw.reshape(CIFAR10["per_file"], CIFAR10["record"]))
    records = np.concatenate(chunks)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise ChecksumError(f"{folder} holds labels above 9: these are not CIFAR-10 record files; "
                            f"they were not used.")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _load_cifar10(download: bool) -> Dataset:
    looked = []
    for base in search_dirs("cifar10"):
        folder = base / CIFAR10["folder"]
        looked.append(folder)
        tarball = base / CIFAR10["tarball"]
        if not _cifar_complete(folder) and tarball.is_file():
            _extract_cifar_tarball(tarball, base)
        if _cifar_complete(folder):
            x_tr, y_tr = _read_cifar_files(folder, CIFAR10["train"])
            x_te, y_te = _read_cifar_files(folder, CIFAR10["test"])
            meta = folder / "batches.meta.txt"
            names = CIFAR10_CLASSES
            if meta.is_file():
                listed = [line.strip() for line in meta.read_text().splitlines() if line.strip()]
                names = listed if len(listed) == 10 else names
            return Dataset("cifar10", x_tr, y_tr, x_te, y_te, names, str(folder))
    if download:
        target = REPO_DATA / "cifar10"
        tarball = target / CIFAR10["tarball"]
        errors = []
        for url in CIFAR10["urls"]:
            try:
                download_file(url, tarball, check=lambda p: _check_md5(p, CIFAR10["tarball_md5"]))
                return _load_cifar10(download=False)
            except ChecksumError:
                raise
            except OSError as e:
                errors.append(f"{url}: {e}")
        raise _not_found("cifar10", looked, errors)
    raise _not_found("cifar10", looked, [])


def _check_md5(path: Path, expected: str) -> None:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != expected:
        raise ChecksumError(f"{path} does not match its published md5 ({h.hexdigest()} != {expected}); "
                            f"it was not used. Delete it and run again.")


def _extract_cifar_tarball(tarball: Path, dest: Path) -> None:
    _check_md5(tarball, CIFAR10["tarball_md5"])
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(tmp, filter="data")          # refuses absolute paths and links out
        extracted = Path(tmp) / CIFAR10["folder"]
        if not _cifar_complete(extracted):
            raise ChecksumError(f"{tarball} did not contain a complete {CIFAR10['folder']}/ folder")
        final = dest / CIFAR10["folder"]
        if final.exists():
            shutil.rmtree(final)
        os.replace(extracted, final)


# --------------------------------------------------------------------------- download

def download_file(url: str, dest: Path, check=None, timeout: float = TIMEOUT_S) -> Path:
    """Download ``url`` to ``dest`` with a progress bar; ``check(path)`` must pass before the
    file is renamed into place, so a failed or corrupt download never takes a file's name."""
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {dest.name}",
                      leave=False) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
        if check is not None:
            check(part)
        os.replace(part, dest)
    finally:
        if part.exists():
            part.unlink()
    return dest


def _not_found(name: str, looked, errors) -> DataError:
    lines = [f"The {name} data set was not found. Looked in:"]
    lines += [f"  - {p}" for p in looked]
    if errors:
        lines.append("Download failed (offline?):")
        lines += [f"  - {e}" for e in errors]
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
