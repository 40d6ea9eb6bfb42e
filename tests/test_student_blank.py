"""Every student notebook, blank as handed out, run top to bottom under the smoke profile.

A student who runs a notebook before doing its exercises must see only errors that point at an
unfinished exercise: a "not done yet" verdict, or one line naming the exercise a later cell needs.
Never a traceback, a bare NameError for a name an unfinished cell did not define, or a metric
recorded from an untrained model.
"""
import re
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from nbclient import NotebookClient

STUDENT = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXERCISE = re.compile(r"Exercise \d+\.\d+")


def outputs_text(out) -> str:
    if out.output_type == "stream":
        return out.text
    if out.output_type == "error":
        return f"{out.ename}: {out.evalue}\n" + "\n".join(out.traceback)
    return ""


def problems_of(path: Path, tmp_path) -> tuple[list, str]:
    """Run the notebook blank; the error outputs that point at no exercise, and what it recorded."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=600,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    problems = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text = outputs_text(out)
            if out.output_type == "error" and (not EXERCISE.search(text) or "Traceback" in text):
                problems.append(f"cell {index}: {text[:600]}")
    results = tmp_path / "results.jsonl"
    return problems, results.read_text() if results.exists() else ""


@pytest.fixture
def smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("DLLABS_PROFILE", "smoke")
    monkeypatch.setenv("DLLABS_RESULTS", str(tmp_path / "results.jsonl"))


def check_blank(path: Path, tmp_path):
    problems, recorded = problems_of(path, tmp_path)
    assert not problems, f"{path.name}, blank, shows errors that do not point at an exercise:\n" + \
        "\n".join(problems)
    assert '"test_accuracy"' not in recorded, f"{path.name}, blank, recorded a test accuracy: {recorded[:400]}"


# Two classes, so that `make test`'s two workers (pytest-xdist --dist loadscope: one class per worker)
# share these minutes of notebooks.
KERAS = [p for p in STUDENT if p.stem.endswith("_keras")]
OTHERS = [p for p in STUDENT if p not in KERAS]


class TestKerasNotebooks:
    @pytest.mark.parametrize("path", KERAS, ids=[p.stem for p in KERAS])
    def test_blank_student_notebook_shows_only_exercise_pointers(self, path: Path, tmp_path, smoke):
        check_blank(path, tmp_path)


class TestOtherNotebooks:
    @pytest.mark.parametrize("path", OTHERS, ids=[p.stem for p in OTHERS])
    def test_blank_student_notebook_shows_only_exercise_pointers(self, path: Path, tmp_path, smoke):
        check_blank(path, tmp_path)


def test_the_test_sees_a_stray_error(tmp_path, smoke):
    from conftest import make_notebook

    setup = f"import sys; sys.path.insert(0, {str(ROOT)!r})\nfrom utils import checks, results"
    stub = 'def f(x):\n    raise NotImplementedError("Exercise 7.1 (f): replace this line with your code")'
    path = make_notebook(tmp_path / "nb.ipynb", [
        ("code", setup), ("code", stub), ("code", "y = f(1)"), ("code", "print(y)"),
        ("code", "print(typo_here)"), ("code", 'results.record("test_accuracy", 0.1)')])
    problems, recorded = problems_of(path, tmp_path)
    assert len(problems) == 1 and "typo_here" in problems[0]
    assert '"test_accuracy"' not in recorded
