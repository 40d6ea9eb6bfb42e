"""The course's conventions, checked: notebook structure, imports, pinned requirements."""
import json
import re
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT

from utils import course

LABS = sorted((ROOT / "labs_solutions").glob("[0-9][0-9]_*.ipynb"))
NAME = re.compile(r"^\d\d_[a-z0-9_]+?(_(keras|pytorch|numpy))?\.ipynb$")


def cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [(c["cell_type"], "".join(c["source"]), c) for c in nb["cells"]]


def test_importing_utils_imports_no_framework():
    code = ("import sys, utils\n"
            "from utils import data, device, profile, plots, train, checks, results, student, run, course\n"
            "bad = [m for m in ('torch', 'tensorflow', 'keras', 'torchvision') if m in sys.modules]\n"
            "assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_requirements_and_environment_agree():
    reqs = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert [p for p in pip if p != "-e ."] == reqs
    assert "python=3.11" in env["dependencies"]
    for pin in ("torch==2.14.1", "torchvision==0.29.1", "keras==3.15.1"):
        assert pin in reqs
    assert all("==" in r for r in reqs), "every requirement is pinned"


def test_dockerfile_installs_the_requirements():
    text = (ROOT / "Dockerfile").read_text()
    assert "requirements.txt" in text and "EXPOSE 8888" in text and re.search(r"^USER (?!root)", text, re.M)
    assert "NotebookApp.token=''" not in text and "ServerApp.token=''" not in text


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.stem)
def test_lab_structure(path):
    assert NAME.match(path.name), "name: NN_topic_framework.ipynb"
    cs = cells(path)
    kind, title, _ = cs[0]
    assert kind == "markdown" and title.startswith(f"# Lab {path.name[:2]}")
    assert course.colab_url(path.name) in title, \
        "the Colab badge opens this lab's student notebook at the release in utils/course.py (make student)"
    for word in ("Objectives", "Prerequisites", "Run time"):
        assert word in title, f"the first cell states the {word}"
    assert cs[1][1] == course.setup_cell(), "the second cell is the shared setup cell (make student writes it)"
    params = [c for _, _, c in cs if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    last = "\n".join(src for k, src, _ in cs[-3:] if k == "markdown")
    assert "Summary" in last or "summary" in last


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.stem)
def test_lab_is_committed_with_a_clean_run(path):
    code = [c for k, _, c in cs_code(path)]
    assert all(c.get("execution_count") for c in code if "".join(c["source"]).strip()), \
        "committed solutions carry the outputs of a run: python -m utils.run NN --profile fast --inplace"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert all("id" in c for c in nb["cells"]), "every cell has an id (nbformat 4.5): nbformat.validator.normalize"


def cs_code(path):
    return [(k, s, c) for k, s, c in cells(path) if k == "code"]


@pytest.mark.parametrize("path", [p for p in LABS if not p.name.startswith("00")], ids=lambda p: p.stem)
def test_exercises_have_solutions_and_checks(path):
    cs = cells(path)
    heading = re.compile(r"^#+ *Exercise \d+\.\d+", re.M)
    headings = [i for i, (k, s, _) in enumerate(cs) if k == "markdown" and heading.search(s)]
    assert len(headings) >= 3, "at least three exercises"
    for i in headings:
        following = "\n".join(s for _, s, _ in cs[i + 1:i + 4])
        assert "### BEGIN SOLUTION" in following and "checks.lab" in following, \
            f"exercise at cell {i}: solution between markers, then a check"
    assert any(s.startswith("# NBVAL_CHECK_OUTPUT") for k, s, _ in cs if k == "code")
    assert any("results.record(" in s for _, s, _ in cs)


def test_framework_labs_come_in_pairs():
    stems = {p.stem for p in LABS}
    for stem in stems:
        if stem.endswith("_keras"):
            assert stem.replace("_keras", "_pytorch") in stems
        if stem.endswith("_pytorch"):
            assert stem.replace("_pytorch", "_keras") in stems
