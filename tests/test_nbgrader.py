"""nbgrader takes the solution notebooks as they are: its own preprocessors accept every one,
`nbgrader generate_assignment` makes the assignments, and `nbgrader autograde` scores a
complete submission full marks and a blank one zero (a failing check raises under nbgrader)."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

pytest.importorskip("nbgrader", reason="nbgrader is not installed (requirements-dev.txt)")

SOLUTIONS = sorted((ROOT / "labs_solutions").glob("[0-9][0-9]_*.ipynb"))
WORK = ROOT / "build" / "nbgrader"          # inside the repo, so the setup cell finds utils/


def nbgrader(*args, course):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               DLLABS_PROFILE="smoke")
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def new_course(name):
    course = WORK / name
    shutil.rmtree(course, ignore_errors=True)
    course.mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'dllabs'\nc.ExecutePreprocessor.timeout = 600\n")
    return course


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_nbgrader_preprocessors_accept_the_solutions(path):
    from nbgrader.preprocessors import CheckCellMetadata, ClearSolutions, LockCells

    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    resources = {"language": "python"}
    for preprocessor in (CheckCellMetadata(), LockCells(), ClearSolutions(enforce_metadata=True)):
        nb, resources = preprocessor.preprocess(nb, resources)
    text = json.dumps([c.source for c in nb.cells])
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    if "### Exercise" in text:
        assert graded and all(c.metadata["nbgrader"]["locked"] for c in graded)
        assert all("checks.lab" in c.source for c in graded), "the graded cells are the check cells"


def test_generate_assignment_for_every_lab():
    course = new_course("generate")
    source = course / "source" / "labs"
    source.mkdir(parents=True)
    for path in SOLUTIONS:
        shutil.copy(path, source / path.name)
    nbgrader("generate_assignment", "labs", "--force", course=course)
    released = sorted(p.name for p in (course / "release" / "labs").glob("*.ipynb"))
    assert released == [p.name for p in SOLUTIONS]
    for name in released:
        text = (course / "release" / "labs" / name).read_text()
        assert "BEGIN SOLUTION" not in text


def test_autograde_scores_a_complete_and_a_blank_submission():
    lab = ROOT / "labs_solutions" / "03_backprop_numpy.ipynb"      # NumPy only: seconds under smoke
    course = new_course("autograde")
    (course / "source" / "lab03").mkdir(parents=True)
    shutil.copy(lab, course / "source" / "lab03" / lab.name)
    nbgrader("generate_assignment", "lab03", "--force", course=course)
    for student, notebook in (("alice", lab), ("bob", course / "release" / "lab03" / lab.name)):
        folder = course / "submitted" / student / "lab03"
        folder.mkdir(parents=True)
        shutil.copy(notebook, folder / lab.name)
    nbgrader("autograde", "lab03", "--force", course=course)
    nbgrader("export", course=course)
    with open(course / "grades.csv", newline="") as f:
        scores = {row["student_id"]: (float(row["score"]), float(row["max_score"])) for row in csv.DictReader(f)}
    alice, bob = scores["alice"], scores["bob"]
    assert alice[1] >= 4 and alice[0] == alice[1], "the solutions pass every autograded check"
    assert bob[0] == 0, "a blank submission scores nothing"
