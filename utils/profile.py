"""The run profile: how much work a lab does.

``full``   the real lab, the results the course promises (a GPU is welcome).
``fast``   CPU-friendly: each lab in a few minutes on a laptop, real results.
``smoke``  seconds: proves the notebook runs end to end (CI).

The profile comes from ``$DLLABS_PROFILE``; without it, ``full`` where a CUDA GPU
is visible and ``fast`` elsewhere. A lab's parameters cell reads its settings with
:func:`pick`, and papermill (or the runner's ``-p NAME VALUE``) can override any.
"""
import os
import shutil

PROFILES = ("full", "fast", "smoke")
ENV = "DLLABS_PROFILE"


def _gpu_visible() -> bool:
    # Cheap and framework-free: never import torch or tensorflow here.
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return shutil.which("nvidia-smi") is not None or os.path.exists("/proc/driver/nvidia/version")


def name() -> str:
    """The current profile's name."""
    value = os.environ.get(ENV, "").strip().lower()
    if not value:
        return "full" if _gpu_visible() else "fast"
    if value not in PROFILES:
        raise ValueError(f"{ENV}={value!r} is not a profile; use one of {', '.join(PROFILES)}")
    return value


def pick(full, fast, smoke, profile: str | None = None):
    """The value for the current profile: ``EPOCHS = pick(full=20, fast=5, smoke=1)``."""
    return {"full": full, "fast": fast, "smoke": smoke}[profile or name()]


def describe() -> str:
    """One line for the top of a lab."""
    current = name()
    source = f"${ENV}" if os.environ.get(ENV) else "default for this machine"
    return f"profile: {current} ({source})"
