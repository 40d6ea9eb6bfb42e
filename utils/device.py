"""Which device each framework sees, and seeding.

Each function imports its framework only when called, so importing this module is
safe before either framework. Import order matters in one process: TensorFlow
imported before torchvision crashes on some machines, so a notebook that needs both
imports torch (and torchvision) first.
"""
import os
import random

import numpy as np


def torch_device(prefer: str | None = None):
    """The best torch device here: CUDA, then Apple's MPS (only where it runs what the labs use),
    then the CPU. ``prefer="cpu"`` (or ``$DLLABS_DEVICE``) forces one."""
    import torch

    choice = prefer or os.environ.get("DLLABS_DEVICE")
    if choice:
        device = torch.device(choice)
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        problem = mps_problem()
        if problem:
            print(f"Apple's GPU (MPS) is there, but this PyTorch cannot run what the labs need on it "
                  f"({problem}): using the CPU.")
        device = torch.device("cpu" if problem else "mps")
    else:
        device = torch.device("cpu")
    _record_device(device.type)
    return device


def mps_problem(device: str = "mps") -> str | None:
    """None when ``device`` runs the operations the labs use (convolution, pooling, batch norm,
    dropout, a matrix product, cross-entropy and their gradients, channels-last), else what failed."""
    import torch
    import torch.nn.functional as F

    try:
        x = torch.randn(4, 3, 16, 16, device=device).to(memory_format=torch.channels_last)
        w = torch.randn(8, 3, 3, 3, device=device, requires_grad=True)
        h = F.conv2d(x, w, padding=1)
        h = F.batch_norm(h, None, None, training=True)
        h = F.dropout(F.max_pool2d(F.relu(h), 2), 0.5, training=True)
        h = F.adaptive_avg_pool2d(h, 1).flatten(1) @ torch.randn(8, 10, device=device)
        loss = F.cross_entropy(h, torch.tensor([0, 1, 2, 3], device=device))
        loss.backward()
        if not torch.isfinite(w.grad).all():
            return "the gradients are not finite"
    except Exception as e:  # noqa: BLE001 - any failure means: use the CPU
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return None


def describe_torch() -> str:
    import torch

    parts = [f"torch {torch.__version__}"]
    if torch.cuda.is_available():
        parts.append(f"CUDA {torch.version.cuda}: " +
                     ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())))
    else:
        parts.append("no CUDA GPU")
    mps = getattr(torch.backends, "mps", None)
    parts.append("MPS available" if mps is not None and mps.is_available() else "no MPS")
    parts.append(f"{torch.get_num_threads()} CPU threads")
    return "; ".join(parts)


def keras_device() -> str:
    """The device Keras will train on ('gpu' or 'cpu'), whatever its backend."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        device = "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    elif backend == "torch":
        import torch

        device = "gpu" if torch.cuda.is_available() else "cpu"
    elif backend == "jax":
        import jax

        device = "gpu" if any(d.platform == "gpu" for d in jax.devices()) else "cpu"
    else:
        device = "cpu"
    _record_device(device)
    return device


def describe_keras() -> str:
    import keras

    backend = keras.backend.backend()
    parts = [f"keras {keras.__version__} on {backend}"]
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        parts.append(f"tensorflow {tf.__version__}")
        parts.append(f"{len(gpus)} GPU(s): " + ", ".join(g.name for g in gpus) if gpus else "no GPU")
    else:
        parts.append(f"device: {keras_device()}")
    return "; ".join(parts)


def _record_device(kind: str) -> None:
    from . import results

    results.record("device", "cuda" if kind == "gpu" else kind, quiet=True)


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and whichever frameworks are already imported (never imports one)."""
    import sys

    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)
    if "keras" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)
    elif "tensorflow" in sys.modules:
        import tensorflow as tf

        tf.random.set_seed(seed)
