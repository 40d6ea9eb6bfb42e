"""Shared helpers for the Deep Learning Labs notebooks.

Importing ``utils`` imports neither TensorFlow nor PyTorch: TensorFlow imported
before torchvision crashes the process on some machines, so each notebook picks
its framework itself and the helpers import it only when they are called.

Submodules (loaded on first use):
    data     data set registry and loaders (NumPy arrays, framework adapters)
    device   which device each framework sees, seeding
    profile  the run profile: full, fast or smoke
    plots    image grids, training curves, confusion matrices, filters, ...
    train    a small PyTorch fit/evaluate loop with a Keras-like history
    checks   exercise checks with clear verdicts
    results  record the metrics a lab reports
    student  generate the student notebooks from labs_solutions/
    run      the lab runner
    course   where the course lives (repository, release), the notebooks' setup cell
    pretrained  pretrained weights (EfficientNet-Lite0, ImageNet) for PyTorch and Keras, photos, class names
    augment  the course's batch augmentation (random flip + padded crop per image), PyTorch and Keras
"""
import importlib

__version__ = "0.1.0"
_SUBMODULES = ("data", "device", "profile", "plots", "train", "checks", "results", "student", "run", "course",
               "pretrained", "augment")
__all__ = list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'utils' has no attribute {name!r}")
