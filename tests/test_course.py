"""utils.course: one setting for the repository and release; Colab installs only what it lacks."""
import json
import sys

import pytest
from conftest import ROOT

from utils import course


def test_readme_badges_follow_the_setting():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    urls = course.BADGE_URL.findall(text)
    assert urls and set(urls) == {course.colab_url("")}
    assert set(course.BINDER_URL.findall(text)) == {course.binder_url()}


def test_stamp_rewrites_setup_cell_and_badge(tmp_path, notebook_factory):
    old_badge = "https://colab.research.google.com/github/someone/old/blob/main/notebooks/01_x_numpy.ipynb"
    nb = notebook_factory(tmp_path / "labs" / "01_x_numpy.ipynb", [
        ("md", f"# Lab 01 · X\n\n[![Open In Colab](badge.svg)]({old_badge})"),
        ("code", "import sys\nROOT = 1\nsys.path.insert(0, str(ROOT))  # an older setup cell"),
        ("code", "x = 1"),
    ])
    readme = tmp_path / "README.md"
    readme.write_text(f"[lab]({old_badge})\n")
    assert course.stamp(tmp_path / "labs", readme, log=lambda *a: None) == 2
    cells = json.loads(nb.read_text())["cells"]
    assert course.colab_url("01_x_numpy.ipynb") in "".join(cells[0]["source"])
    assert "".join(cells[1]["source"]) == course.setup_cell()
    assert "".join(cells[2]["source"]) == "x = 1"
    assert course.colab_url("01_x_numpy.ipynb") in readme.read_text()
    assert course.stamp(tmp_path / "labs", readme, log=lambda *a: None) == 0     # idempotent


def test_stamp_refuses_a_notebook_without_a_setup_cell(tmp_path, notebook_factory):
    notebook_factory(tmp_path / "labs" / "01_x_numpy.ipynb", [("md", "# Lab 01"), ("code", "print(1)")])
    with pytest.raises(SystemExit, match="not the setup cell"):
        course.stamp(tmp_path / "labs", tmp_path / "none.md", log=lambda *a: None)


def test_setup_cell_clones_the_release(monkeypatch):
    cell = course.setup_cell()
    assert f'"{course.REPOSITORY}", "{course.RELEASE}"' in cell and '"--branch", RELEASE' in cell
    assert "pip" not in cell          # installing is course.prepare()'s job, with pins


def test_colab_installs_only_missing_extras_pinned_and_never_numpy(tmp_path):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("numpy==2.4.6\ntorchinfo==1.8.0  # summaries\nscikit-image==0.26.0; python_version>'3'\n")
    extras = {"torchinfo": "a_module_that_does_not_exist_xyz", "scikit-image": "also_missing_xyz",
              "json-thing": "json"}
    calls = []

    def fake_run(cmd, check):
        constraints = open(cmd[cmd.index("-c") + 1]).read()
        calls.append((cmd, constraints))

    wanted = course.install_missing(extras, reqs, run=fake_run, log=lambda *a: None)
    assert wanted == ["torchinfo==1.8.0", "scikit-image==0.26.0"]
    cmd, constraints = calls[0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"] and cmd[-2:] == wanted
    assert "numpy==" in constraints            # the installed numpy is held where it is
    assert course.install_missing({"json-thing": "json"}, reqs, run=fake_run, log=lambda *a: None) == []


def test_prepare_outside_colab_is_quiet(monkeypatch):
    monkeypatch.setenv("DLLABS_PROFILE", "fast")
    said = []
    course.prepare(log=said.append)
    assert said == []
