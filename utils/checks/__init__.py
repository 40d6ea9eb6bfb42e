"""Exercise checks: run a student's answer on cases with known answers and print a
clear verdict, never a bare traceback.

A lab's checks live in ``utils.checks.labNN`` and are called from the notebook's
check cell, e.g. ``checks.lab01.softmax(softmax)``. Each prints one line when the
answer is right, or what was expected against what came back (shape, dtype,
values, NaN) when it is not, and returns a :class:`Verdict` (truthy when passed,
shown as nothing in a notebook). Verdicts are also recorded for the lab runner,
which fails a solution notebook whose own checks do not pass.
"""
import importlib

import numpy as np

from .. import results

PASS, FAIL, TODO = "✅", "❌", "✏️"


class Verdict:
    """The outcome of one check. ``bool(verdict)`` is True when it passed."""

    def __init__(self, name, passed, message):
        self.name, self.passed, self.message = name, passed, message

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return f"Verdict({self.name!r}, passed={self.passed})"

    def _ipython_display_(self):   # the printed line is the whole story in a notebook
        pass


def to_numpy(x):
    """A NumPy array from a NumPy, PyTorch, TensorFlow or Keras value (or a list)."""
    if hasattr(x, "detach"):                      # torch.Tensor
        x = x.detach().cpu().numpy()
    elif hasattr(x, "numpy") and not isinstance(x, np.ndarray):   # tf.Tensor / Variable
        x = x.numpy()
    return np.asarray(x)


def _short(a, limit=6):
    a = np.asarray(a)
    flat = np.round(a.astype(float).ravel(), 4) if a.dtype.kind in "fiub" else a.ravel()
    text = ", ".join(str(v) for v in flat[:limit])
    return f"[{text}{', ...' if flat.size > limit else ''}]" if a.ndim else text


def compare(got, expected, rtol=1e-4, atol=1e-6):
    """None when ``got`` matches ``expected`` (NumPy-like or scalar), else what differs."""
    if got is None:
        return "got None: did the function forget to `return` its result?"
    try:
        g = to_numpy(got)
    except Exception as e:  # noqa: BLE001 - any odd object is reported, not raised
        return f"could not turn the result ({type(got).__name__}) into numbers: {e}"
    e = np.asarray(expected)
    if g.dtype.kind not in "fiub":
        return f"expected numbers, got {type(got).__name__} of dtype {g.dtype}"
    if g.shape != e.shape:
        return f"expected shape {e.shape}, got shape {g.shape}"
    if np.isnan(g.astype(float)).any() and not np.isnan(e.astype(float)).any():
        return f"the result holds NaN: {_short(g)} (a log of 0, or exp overflowing?)"
    if e.dtype.kind in "iub" and g.dtype.kind == "f" and not np.allclose(g, np.round(g)):
        return f"expected whole numbers (dtype {e.dtype}), got {g.dtype}: {_short(g)}"
    if not np.allclose(g.astype(float), e.astype(float), rtol=rtol, atol=atol, equal_nan=True):
        diff = np.abs(g.astype(float) - e.astype(float))
        return (f"values differ (largest difference {np.nanmax(diff):.3g})\n"
                f"     expected {_short(e)}\n     got      {_short(g)}")
    return None


def _finish(name, problem, n_cases=None, hint=None):
    if problem is None:
        extra = f" ({n_cases} case{'s' if n_cases != 1 else ''})" if n_cases else ""
        message = f"{PASS} {name}: correct{extra}."
        passed = True
    elif problem.startswith("TODO"):
        message = f"{TODO} {name}: not done yet: {problem[5:]}"
        passed = False
    else:
        message = f"{FAIL} {name}: {problem}"
        if hint:
            message += f"\n   Hint: {hint}"
        passed = False
    print(message)
    results.record(f"check: {name}", "pass" if passed else "fail", quiet=True)
    return Verdict(name, passed, message)


def _describe_args(args):
    parts = []
    for a in args:
        if isinstance(a, np.ndarray):
            parts.append(f"array{a.shape}" if a.size > 6 else np.array2string(a, precision=3,
                                                                              separator=", "))
        else:
            parts.append(repr(a) if len(repr(a)) < 40 else type(a).__name__)
    return ", ".join(parts)


def call(fn, *args, **kwargs):
    """Call the student's function: (result, None) or (None, what went wrong)."""
    try:
        return fn(*args, **kwargs), None
    except NotImplementedError:
        return None, "TODO the exercise still raises NotImplementedError: replace it with your code."
    except Exception as e:  # noqa: BLE001 - a wrong answer must not end in a traceback
        return None, f"calling it raised {type(e).__name__}: {e}"


def check_cases(name, fn, cases, judge, hint=None, need_callable=True):
    """The loop every check shares. ``cases`` are ``(label, case)`` pairs; ``judge(fn, case)``
    returns None when ``fn`` gets ``case`` right, else what went wrong (a problem starting with
    "TODO" for an exercise not done yet). The verdict names the first case that fails."""
    if need_callable and not callable(fn):
        return _finish(name, f"expected a function, got {type(fn).__name__}", hint=hint)
    for i, (label, case) in enumerate(cases, 1):
        problem = judge(fn, case)
        if problem:
            if not problem.startswith("TODO") and len(cases) > 1:
                problem = f"case {i} of {len(cases)} ({label}):\n   {problem}"
            return _finish(name, problem, hint=hint)
    return _finish(name, None, n_cases=len(cases))


def check_function(name, fn, cases, rtol=1e-4, atol=1e-6, hint=None):
    """Run ``fn(*args)`` for each ``(args, expected)`` in ``cases`` and compare the results."""
    def judge(fn, case):
        args, expected = case
        got, error = call(fn, *[np.copy(a) if isinstance(a, np.ndarray) else a for a in args])
        return error or compare(got, expected, rtol, atol)

    labelled = []
    for args, expected in cases:
        args = args if isinstance(args, tuple) else (args,)
        labelled.append((f"input {_describe_args(args)}", (args, expected)))
    return check_cases(name, fn, labelled, judge, hint=hint)


def check_value(name, value, expected, rtol=1e-4, atol=1e-6, hint=None):
    """Compare a value the student computed with the expected one."""
    return _finish(name, compare(value, expected, rtol, atol), hint=hint)


def check_true(name, condition, problem, hint=None):
    """Pass when ``condition`` holds; otherwise report ``problem``."""
    return _finish(name, None if condition else problem, hint=hint)


def __getattr__(name):
    if name.startswith("lab"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'utils.checks' has no attribute {name!r}")
