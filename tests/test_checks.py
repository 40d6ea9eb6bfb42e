"""utils.checks: a right answer passes, a wrong one gets a clear verdict and never a traceback."""
import numpy as np

from utils import checks, results

CASES = [((np.array([0.0, 1.0]),), np.array([0.0, 2.0])), ((np.array([[3.0]]),), np.array([[6.0]]))]


def double(x):
    return 2 * x


def test_right_answer_passes(capsys):
    verdict = checks.check_function("double", double, CASES)
    assert verdict and "✅ double: correct (2 cases)" in capsys.readouterr().out


def test_wrong_values_name_the_case(capsys):
    verdict = checks.check_function("double", lambda x: 3 * x, CASES)
    out = capsys.readouterr().out
    assert not verdict and "❌" in out and "case 1 of 2" in out and "values differ" in out
    assert "expected [0.0, 2.0]" in out and "got      [0.0, 3.0]" in out


def test_wrong_shape(capsys):
    assert not checks.check_function("double", lambda x: (2 * x).reshape(-1, 1), CASES[:1])
    assert "expected shape (2,), got shape (2, 1)" in capsys.readouterr().out


def test_nan_is_reported(capsys):
    with np.errstate(divide="ignore", invalid="ignore"):
        assert not checks.check_function("double", lambda x: x / 0 * 0, CASES[:1])
    assert "NaN" in capsys.readouterr().out


def test_none_means_missing_return(capsys):
    assert not checks.check_function("double", lambda x: None, CASES)
    assert "forget to `return`" in capsys.readouterr().out


def test_not_implemented_is_a_todo(capsys):
    def stub(x):
        raise NotImplementedError("Exercise 1.1")
    verdict = checks.check_function("double", stub, CASES)
    out = capsys.readouterr().out
    assert not verdict and "not done yet" in out and "Traceback" not in out


def test_exception_is_reported_not_raised(capsys):
    assert not checks.check_function("double", lambda x: x.nonexistent, CASES)
    assert "raised AttributeError" in capsys.readouterr().out


def test_integer_expected(capsys):
    assert not checks.check_value("count", 3.5, 3)
    assert checks.check_value("count", 3, 3)


def test_not_callable(capsys):
    assert not checks.check_function("double", 42, CASES)
    assert "expected a function" in capsys.readouterr().out


def test_torch_like_values_are_converted():
    class FakeTensor:
        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return np.array([1.0, 2.0])

    assert checks.compare(FakeTensor(), [1.0, 2.0]) is None


def test_verdicts_are_recorded_for_the_runner(tmp_path, monkeypatch):
    path = tmp_path / "r.jsonl"
    monkeypatch.setenv(results.ENV, str(path))
    checks.check_function("double", double, CASES)
    checks.check_true("flag", False, "it was False")
    assert results.read(path) == {"check: double": "pass", "check: flag": "fail"}


def test_verdict_shows_nothing_in_a_notebook():
    v = checks.check_true("x", True, "")
    assert hasattr(v, "_ipython_display_") and v._ipython_display_() is None
