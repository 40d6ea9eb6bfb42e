"""utils.run on tiny notebooks: pass, missed target, failing cell, failed exercise check."""
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import ROOT

from utils import results, run

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


def test_runner_verdicts_and_report(tmp_path, notebook_factory, capfd):
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
    # the kernels talk over IPC sockets: no "Kernel is running over TCP without encryption" lines
    out, err = capfd.readouterr()
    assert "without encryption" not in out + err


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
    labs = [p.stem for p in run.find_labs()]
    targets = run.load_targets(labs=labs)          # raises on an unknown lab, profile or key
    assert targets, "labs_solutions/targets.toml sets targets"
    for name, entry in targets.items():
        for metric, spec in entry["metrics"].items():
            assert spec["min"] or spec["max"], f"{name}.{metric}: no bound"


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


# ----------------------------------------------------------------- the verdict cannot be fooled

def outcome_for(recorded, spec="{ fast = 0.9 }"):
    targets = run.parse_targets_text(f"[01_x_numpy]\nm = {spec}\n", labs=["01_x_numpy"])
    return run.judge(run.Outcome("01_x_numpy", "fast"), recorded, targets)


@pytest.mark.parametrize("value,shown", [
    (True, "recorded True (a bool)"),
    (97.0, "outside its range [0, 1] (a percentage? record a fraction)"),
    (1.5, "outside its range [0, 1]"),
    ("nan", "recorded nan"),                       # what results.record writes for float('nan')
    (float("nan"), "recorded nan"),                # a results file written by hand: NaN
    ("inf", "recorded inf"),
    (float("-inf"), "recorded -inf"),
    ("0.95", "recorded the text '0.95'"),
    (None, "recorded None (NoneType)"),
    ([0.95], "recorded [0.95] (list)"),
])
def test_a_metric_passes_only_as_a_finite_number_in_range(value, shown):
    o = outcome_for({"m": value})
    assert o.verdict == "MISSED" and shown in o.problems[0], o.problems
    assert "not recorded" not in o.problems[0]


def test_minimum_maximum_and_range_forms():
    assert outcome_for({"m": 0.95}).verdict == "PASS"
    assert outcome_for({"m": 1}).verdict == "PASS"                       # an int is a number
    assert "expected >= 0.9" in outcome_for({"m": 0.5}).problems[0]
    assert "was not recorded" in outcome_for({}).problems[0]
    below = "{ max = { fast = 1e-4 }, range = [0, inf] }"
    assert outcome_for({"m": 5e-5}, below).verdict == "PASS"
    assert "expected <= 0.0001" in outcome_for({"m": 2e-4}, below).problems[0]
    assert "outside its range" in outcome_for({"m": -1.0}, below).problems[0]
    gain = "{ min = { fast = -0.02, full = 0.01 }, range = [-1, 1] }"    # a gain that may be negative here
    assert outcome_for({"m": -0.01}, gain).verdict == "PASS"
    diff = "{ min = { fast = 0.05 }, range = [-inf, inf] }"              # a loss difference, not bounded by 1
    assert outcome_for({"m": 3.5}, diff).verdict == "PASS"
    band = "{ min = { fast = 10 }, max = { fast = 60 }, range = [0, inf] }"
    assert outcome_for({"m": 30}, band).verdict == "PASS"
    assert "expected <= 60" in outcome_for({"m": 61}, band).problems[0]


def test_the_documented_examples_are_valid():
    """Every example in targets.toml's header parses under the schema it documents."""
    header = run.TARGETS.read_text().split("\n[", 1)[0]
    examples = [line.lstrip("# ").split("#")[0].strip() for line in header.splitlines()
                if re.match(r"#\s+\w+ = \{", line)]
    assert len(examples) >= 6
    targets = run.parse_targets_text("[01_x_numpy]\n" + "\n".join(examples) + "\n", labs=["01_x_numpy"])
    assert {t.metric for t in run.expected("01_x_numpy", "full", targets)} >= {"seconds_to_90", "augmentation_gain"}
    assert run.time_limit("01_x_numpy", "full", targets) == 21600


BAD_TARGETS = [
    ("[99_nope]\nm = { fast = 0.9 }", "[99_nope] is not a lab"),
    ("[01_good_numpy]\ntest_accuracy = { fsat = 0.9 }", "[01_good_numpy] test_accuracy: unknown profile 'fsat'"),
    ("[01_good_numpy]\ntest_accuracy = 0.9", "[01_good_numpy] test_accuracy = 0.9: expected a table"),
    ("01_good_numpy = 3", "01_good_numpy = 3: expected a table"),
    ("[01_good_numpy]\ntest_accuracy = { fast = 90 }", "min 90 for fast is outside the metric's range [0, 1]"),
    ("[01_good_numpy]\ntest_accuracy = { fast = '0.9' }", "test_accuracy.fast: a minimum must be a number"),
    ("[01_good_numpy]\nm = { min = { fast = 0.9 }, maxi = { fast = 1 } }", "unknown key(s) maxi"),
    ("[01_good_numpy]\nm = { max = { fast = 2 }, range = [1, 0] }", "m.range = [1, 0]"),
    ("[01_good_numpy]\nm = { min = { fast = 0.6 }, max = { fast = 0.5 } }", "min 0.6 is above max 0.5 for fast"),
    ("[01_good_numpy]\ntime_limit_s = { fast = -1 }", "a time limit must be above 0 s"),
    ("[01_good_numpy\ntest_accuracy = { fast = 0.9 }", "not valid TOML"),
]


@pytest.mark.parametrize("text,message", BAD_TARGETS, ids=[m for _, m in BAD_TARGETS])
def test_targets_are_validated_when_loaded(tmp_path, notebook_factory, capsys, text, message):
    labs = make_labs(tmp_path, notebook_factory)
    (labs / "targets.toml").write_text(text)
    with pytest.raises(run.TargetsError) as err:
        run.load_targets(labs / "targets.toml", labs=[p.stem for p in run.find_labs((), labs)])
    assert str(labs / "targets.toml") in str(err.value) and message in str(err.value)
    # the runner stops before running anything, with the same message
    assert run.main(["--labs-dir", str(labs), "--profile", "fast", "--report", str(tmp_path / "r.md")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "r.md").exists()


def test_missing_targets_file_is_an_error(tmp_path, notebook_factory):
    labs = make_labs(tmp_path, notebook_factory)
    (labs / "targets.toml").unlink()
    with pytest.raises(run.TargetsError, match="targets.toml does not exist"):
        run.load_targets(labs / "targets.toml")


def test_a_malformed_results_line_fails_that_lab_only(tmp_path, notebook_factory):
    labs = make_labs(tmp_path, notebook_factory)
    lab(notebook_factory, labs, "05_junk_numpy", """
        import os
        results.record("test_accuracy", 0.97)
        with open(os.environ["DLLABS_RESULTS"], "a") as f:
            f.write("{not json\\n")
    """)
    report = tmp_path / "out" / "report.md"
    code = run.main(["01", "05", "--labs-dir", str(labs), "--profile", "fast", "--report", str(report),
                     "--engine", "script"])
    assert code == 1
    text = report.read_text()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| 0")}
    assert rows["01_good"].rstrip().endswith("| PASS |")
    assert rows["05_junk"].rstrip().endswith("| FAIL |") and "line 2 is not JSON" in text


def test_results_parse_names_each_bad_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"name": "a", "value": 1}\n[1, 2]\n\xff\xfe\n{"name": "b"}\n{"name": "a", "value": 2}\n')
    values, problems = results.parse(path)
    assert values == {"a": 2}
    assert [p.split(" is ")[0] for p in problems] == ["line 2", "line 3", "line 4"]
    with pytest.raises(results.ResultsError, match="line 2"):
        results.read(path)
    assert results.parse(tmp_path / "missing.jsonl") == ({}, [])


@pytest.mark.parametrize("engine", ["script", "papermill"])
def test_relative_report_path(tmp_path, notebook_factory, monkeypatch, engine):
    labs = make_labs(tmp_path, notebook_factory)
    monkeypatch.chdir(tmp_path)
    code = run.main(["01", "--labs-dir", str(labs), "--profile", "fast", "--report", "out/report.md",
                     "--quiet", "--engine", engine])
    assert code == 0, (tmp_path / "out" / "report.md").read_text()
    assert "test_accuracy 0.9500" in (tmp_path / "out" / "report.md").read_text()


# ----------------------------------------------------------------- hangs and Ctrl-C

SLEEPER = """
    import pathlib, time
    pathlib.Path("started").write_text("yes")
    time.sleep(60)
"""


def test_time_limits_per_profile_targets_and_command_line():
    targets = run.parse_targets_text("[01_x_numpy]\ntime_limit_s = { full = 50 }\n", labs=["01_x_numpy"])
    assert run.time_limit("01_x_numpy", "full", targets) == 50
    assert run.time_limit("01_x_numpy", "fast", targets) == run.DEFAULT_TIME_LIMIT_S["fast"]
    assert run.time_limit("01_x_numpy", "full", targets, override=5) == 5
    assert set(run.DEFAULT_TIME_LIMIT_S) == set(run.profile_mod.PROFILES)


@pytest.mark.parametrize("engine", ["papermill", "script"])
def test_a_hanging_lab_stops_at_its_time_limit_naming_the_cell(tmp_path, notebook_factory, engine):
    labs = make_labs(tmp_path, notebook_factory)
    lab(notebook_factory, labs, "06_hang_numpy", SLEEPER)
    report = tmp_path / "out" / "report.md"
    start = time.monotonic()
    code = run.main(["06", "--labs-dir", str(labs), "--profile", "fast", "--report", str(report), "--quiet",
                     "--time-limit", "4", "--engine", engine])
    assert code == 1 and time.monotonic() - start < 30
    text = report.read_text()
    assert "| TIMEOUT |" in text
    assert "time limit of 4 s in cell 3 (`import pathlib, time`)" in text, text
    assert "-----" not in text


@pytest.mark.parametrize("engine", ["papermill", "script"])
def test_ctrl_c_writes_the_report_marks_the_lab_and_exits_nonzero(tmp_path, notebook_factory, engine):
    labs = make_labs(tmp_path, notebook_factory)
    lab(notebook_factory, labs, "02_sleep_numpy", SLEEPER)
    report = tmp_path / "out" / "report.md"
    proc = subprocess.Popen([sys.executable, "-m", "utils.run", "01_good", "02_sleep", "04_check", "--labs-dir",
                             str(labs), "--profile", "fast", "--report", str(report), "--quiet", "--engine", engine],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            # a pytest-xdist worker ignores SIGINT, and a child inherits that: give the runner
                            # the terminal's default, as a student's shell does
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 180          # generous: CI machines are shared and noisy
        while not (labs / "started").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() else ""
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    text = report.read_text()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| 0")}
    assert rows["01_good"].rstrip().endswith("| PASS |")
    assert rows["02_sleep"].rstrip().endswith("| INTERRUPTED |") and "interrupted (Ctrl-C)" in text
    assert "in cell 3 (`import pathlib, time`)" in text
    assert "04_check" not in rows and "not run: 04_check_numpy" in text
