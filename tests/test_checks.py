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


# --------------------------------------------------------------------------- the student's code misbehaves


def test_endless_loop_is_stopped(capsys):
    def spin(x):
        i = 0
        while i < 10:
            x = x + 1          # the student forgot i += 1
        return x

    with checks.time_limit(0.3):
        assert not checks.check_function("double", spin, CASES)
    out = capsys.readouterr().out
    assert "took more than 0.3 s" in out and "never ends" in out


def test_except_exception_cannot_swallow_the_time_limit(capsys):
    def stubborn(x):
        while True:
            try:
                while True:
                    pass
            except Exception:
                pass

    with checks.time_limit(0.2):
        assert not checks.check_function("double", stubborn, CASES[:1])
    assert "took more than" in capsys.readouterr().out


def test_unfinished_other_exercise_is_named(capsys):
    def sigmoid(z):
        raise NotImplementedError("Exercise 1.1 (sigmoid): replace this line with your code")

    def gd_step(x):
        return sigmoid(x)

    assert not checks.check_function("Exercise 1.5 gd_step", gd_step, CASES)
    out = capsys.readouterr().out
    assert "✏️ Exercise 1.5 gd_step: not done yet" in out
    assert "it calls Exercise 1.1 (sigmoid), which is not done yet" in out


def test_own_stub_is_just_not_done(capsys):
    def stub(x):
        raise NotImplementedError("Exercise 1.5 (gd_step): replace this line with your code")

    assert not checks.check_function("Exercise 1.5 gd_step", stub, CASES)
    out = capsys.readouterr().out
    assert "not done yet: the exercise still raises NotImplementedError" in out and "it calls" not in out


def test_numpy_exercise_wants_an_array(capsys):
    assert not checks.check_function("double", lambda x: (2 * x).tolist(), CASES, numpy=True)
    assert "expected a NumPy array, got a Python list" in capsys.readouterr().out
    assert checks.check_function("double", lambda x: 2 * x, CASES, numpy=True)


def test_numpy_exercise_refuses_a_tensor(capsys):
    FakeTensor = type("Tensor", (), {"__module__": "torch", "detach": lambda s: s, "cpu": lambda s: s,
                                     "numpy": lambda s: np.array([0.0, 2.0])})
    assert not checks.check_function("double", lambda x: FakeTensor(), CASES[:1], numpy=True)
    out = capsys.readouterr().out
    assert "got a torch.Tensor" in out and "this exercise is NumPy" in out


def test_numpy_scalar_answers_may_be_plain_numbers(capsys):
    cases = [((np.array([1.0, 3.0]),), 2.0)]
    assert checks.check_function("mean", lambda x: float(np.mean(x)), cases, numpy=True)
    assert checks.check_function("mean", lambda x: np.mean(x), cases, numpy=True)
    assert not checks.check_function("mean", lambda x: [np.mean(x)], cases, numpy=True)
    assert "expected a number, got a Python list" in capsys.readouterr().out


def test_changing_the_input_in_place_is_reported(capsys):
    def shifted(x):
        x -= 1                 # in place: the caller's array changes
        return 2 * (x + 1)

    assert not checks.check_function("double", shifted, CASES)
    assert "changed its input `x` in place" in capsys.readouterr().out


def test_perturb_and_restore_is_not_a_change(capsys):
    def careful(x):
        x[0] += 1e-5           # perturb one entry and put it back: off by about 1e-16
        x[0] -= 1e-5
        return 2 * x

    assert checks.check_function("double", careful, [((np.array([0.1, 1.0]),), np.array([0.2, 2.0]))])
