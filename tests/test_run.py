"""utils.run on tiny notebooks: pass, missed target, failing cell, failed exercise check."""
import textwrap

from conftest import ROOT

from utils import run

PRELUDE = f"import sys; sys.path.insert(0, {str(ROOT)!r})\nfrom utils import checks, results"


def lab(factory, folder, name, body, params="ACC = 0.95"):
    return factory(folder / f"{name}.ipynb", [
        ("md", f"# {name}"),
        ("code", PRELUDE),
        ("code", params, ["parameters"]),
        ("code", textwrap.dedent(body)),
    ])


def make_labs(tmp_path, notebook_factory):
    labs = tmp_path / "labs"
    lab(notebook_factory, labs, "01_good_numpy", 'results.record("test_accuracy", ACC)')
    lab(notebook_factory, labs, "02_low_keras", 'results.record("test_accuracy", 0.5)')
    lab(notebook_factory, labs, "03_broken_pytorch", 'results.record("test_accuracy", 0.99)\n1 / 0')
    lab(notebook_factory, labs, "04_check_numpy", 'checks.check_true("ex 4.1", False, "wrong")')
    (labs / "targets.toml").write_text(textwrap.dedent("""
        [01_good_numpy]
        test_accuracy = { fast = 0.9, smoke = 0.99 }
        [02_low_keras]
        test_accuracy = { fast = 0.9 }
        [03_broken_pytorch]
        test_accuracy = { fast = 0.9 }
    """))
    return labs


def test_runner_verdicts_and_report(tmp_path, notebook_factory, capsys):
    labs = make_labs(tmp_path, notebook_factory)
    report = tmp_path / "out" / "report.md"
    code = run.main(["--labs-dir", str(labs), "--profile", "fast", "--report", str(report), "--quiet"])
    assert code == 1
    text = report.read_text()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| 0")}
    assert rows["01_good"].rstrip().endswith("| PASS |") and "test_accuracy 0.9500" in rows["01_good"]
    assert "| numpy |" in rows["01_good"] and "| keras |" in rows["02_low"]
    assert rows["02_low"].rstrip().endswith("| MISSED |")
    assert rows["03_broken"].rstrip().endswith("| FAIL |") and "ZeroDivisionError" in text
    assert rows["04_check"].rstrip().endswith("| CHECK FAILED |") and "ex 4.1" in text
    assert "1 of 4 labs passed" in text
    assert (tmp_path / "out" / "executed" / "01_good_numpy.ipynb").exists()


def test_runner_parameters_profile_and_selection(tmp_path, notebook_factory):
    labs = make_labs(tmp_path, notebook_factory)
    report = tmp_path / "out" / "report.md"
    args = ["01", "--labs-dir", str(labs), "--report", str(report), "--quiet"]
    assert run.main(args + ["--profile", "smoke"]) == 1           # smoke wants 0.99
    assert "expected >= 0.99" in report.read_text()
    assert run.main(args + ["--profile", "smoke", "-p", "ACC", "0.995"]) == 0
    assert "02_low" not in report.read_text()


def test_list_and_unknown_lab(tmp_path, notebook_factory, capsys):
    labs = make_labs(tmp_path, notebook_factory)
    assert run.main(["--labs-dir", str(labs), "--list"]) == 0
    assert "fast: test_accuracy >= 0.9; smoke: test_accuracy >= 0.99" in capsys.readouterr().out
    try:
        run.main(["99", "--labs-dir", str(labs), "--list"])
    except SystemExit as e:
        assert "no lab matches 99" in str(e)
    else:
        raise AssertionError("an unknown lab must stop the runner")


def test_every_lab_target_names_a_lab_and_a_profile():
    targets = run.load_targets()
    labs = {p.stem for p in run.find_labs()}
    for name, metrics in targets.items():
        assert name in labs, f"targets.toml names {name}, which is not a lab in labs_solutions/"
        for metric, mins in metrics.items():
            assert set(mins) <= {"full", "fast", "smoke"}, f"{name}.{metric}: unknown profile"
            assert all(0 < v <= 1 for v in mins.values()), f"{name}.{metric}: not an accuracy"


def test_script_engine_runs_without_a_kernel(tmp_path, notebook_factory):
    labs = make_labs(tmp_path, notebook_factory)
    report = tmp_path / "out" / "report.md"
    base = ["--labs-dir", str(labs), "--report", str(report), "--profile", "fast", "--engine", "script"]
    assert run.main(["01", *base, "-p", "ACC", "0.97"]) == 0
    assert "test_accuracy 0.9700" in report.read_text()
    assert run.main(["03", *base]) == 1
    assert "ZeroDivisionError" in report.read_text()
    script = (tmp_path / "out" / "executed" / "01_good_numpy.py").read_text()
    assert script.index("ACC = 0.95") < script.index("ACC = 0.97") < script.index("results.record")
