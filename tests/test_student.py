"""utils.student: solutions become stubs, outputs go, a student's edits are never overwritten."""
import json

import nbformat
import pytest

from utils import student

SOLUTION = '''def softmax(z):
    """Row-wise softmax."""
    ### BEGIN SOLUTION
    e = np.exp(z - z.max())
    return e / e.sum()
    ### END SOLUTION'''


@pytest.fixture
def labs(tmp_path, notebook_factory):
    sol = tmp_path / "labs_solutions"
    nb = notebook_factory(sol / "01_demo_numpy.ipynb", [
        ("md", "# Lab 01"),
        ("code", "EPOCHS = 1", ["parameters"]),
        ("md", "### Exercise 1.2: softmax\nWrite it."),
        ("code", SOLUTION),
        ("code", "# NBVAL_CHECK_OUTPUT\nchecks.lab01.softmax(softmax)"),
        ("code", "### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION"),
    ])
    data = nbformat.read(nb, as_version=4)
    data.cells[1].outputs = [nbformat.v4.new_output("stream", text="hello\n")]
    data.cells[1].execution_count = 3
    nbformat.write(data, nb)
    return sol, tmp_path / "notebooks"


def cells(path):
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]


def test_generates_stubs_and_strips_outputs(labs):
    sol, out = labs
    assert student.generate(sol, out, log=lambda *a: None) == 0
    nb = json.loads((out / "01_demo_numpy.ipynb").read_text())
    src = cells(out / "01_demo_numpy.ipynb")
    assert "np.exp" not in "".join(src) and "SOLUTION" not in "".join(src)
    assert '    raise NotImplementedError("Exercise 1.2 (softmax): replace this line with your code")' in src[3]
    assert src[3].startswith('def softmax(z):\n    """Row-wise softmax."""\n    # YOUR CODE HERE')
    assert src[4] == "checks.lab01.softmax(softmax)"                # nbval marker removed
    assert "Exercise 1.2" in src[5] and "answer = 42" not in src[5]
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None
               for c in nb["cells"] if c["cell_type"] == "code")
    assert nb["cells"][1]["metadata"]["tags"] == ["parameters"]


def test_stub_raises_not_implemented(labs):
    sol, out = labs
    student.generate(sol, out, log=lambda *a: None)
    namespace = {}
    exec(cells(out / "01_demo_numpy.ipynb")[3], namespace)
    with pytest.raises(NotImplementedError, match="Exercise 1.2"):
        namespace["softmax"]([1.0])


def test_regeneration_is_stable_and_check_passes(labs):
    sol, out = labs
    student.generate(sol, out, log=lambda *a: None)
    first = (out / "01_demo_numpy.ipynb").read_text()
    assert student.generate(sol, out, log=lambda *a: None) == 0
    assert (out / "01_demo_numpy.ipynb").read_text() == first
    assert student.generate(sol, out, check=True, log=lambda *a: None) == 0


def test_check_detects_out_of_date(labs, notebook_factory):
    sol, out = labs
    student.generate(sol, out, log=lambda *a: None)
    notebook_factory(sol / "02_more_numpy.ipynb", [("code", "x = 1")])
    assert student.generate(sol, out, check=True, log=lambda *a: None) == 1
    assert not (out / "02_more_numpy.ipynb").exists()


def test_edited_notebook_is_kept_unless_forced(labs):
    sol, out = labs
    student.generate(sol, out, log=lambda *a: None)
    target = out / "01_demo_numpy.ipynb"
    edited = target.read_text().replace("# YOUR CODE HERE", "# my own work")
    target.write_text(edited)
    # the solution changes, so the generator has something new to write
    nb = nbformat.read(sol / "01_demo_numpy.ipynb", as_version=4)
    nb.cells[0].source = "# Lab 01, revised"
    nbformat.write(nb, sol / "01_demo_numpy.ipynb")
    messages = []
    assert student.generate(sol, out, log=messages.append) == 1
    assert target.read_text() == edited and any("KEPT" in m for m in messages)
    assert student.generate(sol, out, force=True, log=lambda *a: None) == 0
    assert "revised" in target.read_text()


def test_unknown_notebook_in_the_way_is_kept(labs):
    sol, out = labs
    out.mkdir()
    (out / "01_demo_numpy.ipynb").write_text("{}")
    assert student.generate(sol, out, log=lambda *a: None) == 1
    assert (out / "01_demo_numpy.ipynb").read_text() == "{}"


def test_malformed_markers():
    with pytest.raises(student.SolutionMarkerError, match="without ### END"):
        student.strip_solution("### BEGIN SOLUTION\nx = 1", "Exercise 1.1")
    with pytest.raises(student.SolutionMarkerError, match="without ### BEGIN"):
        student.strip_solution("x = 1\n### END SOLUTION", "Exercise 1.1")


def test_repository_notebooks_are_in_sync():
    """notebooks/ must be what `python -m utils.student` makes from labs_solutions/."""
    assert sorted(p.name for p in student.STUDENT.glob("*.ipynb")) == \
        sorted(p.name for p in student.SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))
    assert student.generate(check=True, log=print) == 0, "run `make student` and commit notebooks/"


# --------------------------------------------------------------------------- bad input: clear messages


def run_main(args, capsys):
    code = student.main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("text, words", [
    ("{not json", "is not valid JSON"),
    ('["01_demo_numpy.ipynb"]', "should map notebook names to hashes"),
    ('{"01_demo_numpy.ipynb": "abc"}', "was edited by hand"),
    ('{"01_demo_numpy.ipynb": 3}', "was edited by hand"),
])
def test_broken_or_hand_edited_manifest_is_a_clear_error(labs, capsys, text, words):
    sol, out = labs
    student.generate(sol, out, log=lambda *a: None)
    target = out / "01_demo_numpy.ipynb"
    before = target.read_text()
    (out / student.MANIFEST).write_text(text)
    with pytest.raises(student.StudentError, match=words):
        student.generate(sol, out, force=True, log=lambda *a: None)
    code, printed = run_main(["--solutions", str(sol), "--out", str(out)], capsys)
    assert code == 2 and words in printed and "Traceback" not in printed
    assert "git checkout" in printed and "delete it" in printed
    assert target.read_text() == before and (out / student.MANIFEST).read_text() == text   # nothing lost


def test_check_advice_works_for_a_clean_notebook(labs):
    sol, out = labs
    student.generate(sol, out, log=lambda *a: None)
    nb = nbformat.read(sol / "01_demo_numpy.ipynb", as_version=4)
    nb.cells[0].source = "# Lab 01, revised"
    nbformat.write(nb, sol / "01_demo_numpy.ipynb")
    messages = []
    assert student.generate(sol, out, check=True, log=messages.append) == 1
    advice = next(m for m in messages if "OUT OF DATE" in m)
    assert "make student" in advice and "FORCE" not in advice
    assert student.generate(sol, out, log=lambda *a: None) == 0         # the advised command works


def test_check_advises_force_for_an_edited_notebook(labs):
    """--check must not advise a command that then refuses: an edited, out-of-date notebook needs
    --force, and the advice says that it overwrites the edits."""
    sol, out = labs
    student.generate(sol, out, log=lambda *a: None)
    target = out / "01_demo_numpy.ipynb"
    target.write_text(target.read_text().replace("# YOUR CODE HERE", "# my own work"))
    nb = nbformat.read(sol / "01_demo_numpy.ipynb", as_version=4)
    nb.cells[0].source = "# Lab 01, revised"
    nbformat.write(nb, sol / "01_demo_numpy.ipynb")
    messages = []
    assert student.generate(sol, out, check=True, log=messages.append) == 1
    advice = next(m for m in messages if "OUT OF DATE" in m)
    assert "make student FORCE=1" in advice and "--force" in advice and "OVERWRITES" in advice
    assert student.generate(sol, out, log=lambda *a: None) == 1          # the plain command refuses ...
    assert "my own work" in target.read_text()
    assert student.generate(sol, out, force=True, log=lambda *a: None) == 0   # ... the advised one works
    assert "revised" in target.read_text()


def test_misspelt_lab_name_is_an_error(labs, capsys):
    sol, out = labs
    with pytest.raises(student.StudentError, match="no lab matches '07'"):
        student.generate(sol, out, patterns=["07"], log=lambda *a: None)
    code, printed = run_main(["01_dmeo", "--solutions", str(sol), "--out", str(out)], capsys)
    assert code == 2 and "no lab matches '01_dmeo'" in printed and "01_demo_numpy" in printed
    assert not (out / "01_demo_numpy.ipynb").exists()


@pytest.mark.parametrize("source, words", [
    ("x = 1\n### BEGIN SOLUTION\ny = 2", "cell 2 (code): ### BEGIN SOLUTION without ### END"),
    ("x = 1\n### END SOLUTION", "cell 2 (code) line 2: ### END SOLUTION without ### BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "cell 2 (code) line 2: ### BEGIN SOLUTION "
                                                                 "inside another"),
])
def test_unbalanced_markers_name_the_notebook_and_cell(tmp_path, notebook_factory, capsys, source, words):
    sol = tmp_path / "labs_solutions"
    notebook_factory(sol / "01_good_numpy.ipynb", [("code", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION")])
    notebook_factory(sol / "02_bad_numpy.ipynb", [("md", "# Lab 02"), ("md", "### Exercise 2.1: x"),
                                                   ("code", source)])
    out = tmp_path / "notebooks"
    with pytest.raises(student.StudentError) as info:
        student.generate(sol, out, log=lambda *a: None)
    assert "02_bad_numpy.ipynb" in str(info.value) and words in str(info.value)
    code, printed = run_main(["--solutions", str(sol), "--out", str(out)], capsys)
    assert code == 2 and "02_bad_numpy.ipynb" in printed and "Traceback" not in printed
    assert not (out / "01_good_numpy.ipynb").exists()               # nothing written


def test_unreadable_solution_notebook_is_named(tmp_path, capsys):
    sol = tmp_path / "labs_solutions"
    sol.mkdir()
    (sol / "01_broken_numpy.ipynb").write_text("{ not a notebook")
    code, printed = run_main(["--solutions", str(sol), "--out", str(tmp_path / "notebooks")], capsys)
    assert code == 2 and "01_broken_numpy.ipynb: not a readable notebook" in printed
