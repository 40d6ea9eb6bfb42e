"""Exercise checks: run a student's answer on cases with known answers and print a
clear verdict, never a bare traceback.

A lab's checks live in ``utils.checks.labNN`` and are called from the notebook's
check cell, e.g. ``checks.lab01.softmax(softmax)``. Each prints one line when the
answer is right, or what was expected against what came back (shape, dtype,
values, NaN) when it is not, and returns a :class:`Verdict` (truthy when passed,
shown as nothing in a notebook). Verdicts are also recorded for the lab runner,
which fails a solution notebook whose own checks do not pass.

What every check gets from this module:

- a time limit on each call of the student's code (:data:`TIME_LIMIT` seconds;
  :func:`time_limit` changes it): an endless loop ends in "took more than 10 s";
- "not done yet" (✏️) for a stub that still raises ``NotImplementedError``, and the
  name of the *other* exercise when the stub that raised belongs to one (a
  ``gd_step`` that calls the unfinished ``sigmoid``);
- :func:`call_on_copies`, which hands the student copies of the inputs and reports an
  answer that changed its input in place (within a tolerance, so perturbing an entry
  and putting it back passes);
- ``numpy=True`` in :func:`compare` / :func:`check_function` for NumPy exercises: a
  list or a torch/TensorFlow tensor gets "return a NumPy array";
- under nbgrader (``$NBGRADER_EXECUTION`` set by its autograder), a check that does not
  pass raises after printing its verdict, so the autograded cell scores zero;
- in a notebook, cells after an unfinished exercise that fail because of it (its stub
  raised, or a name that an earlier stopped cell never defined) show one line that
  names the exercise instead of a traceback (:func:`install_notebook_hints`).
"""
import ast
import contextlib
import copy
import importlib
import inspect
import os
import re
import signal
import sys
import threading

import numpy as np

from .. import results

PASS, FAIL, TODO = "✅", "❌", "✏️"
STOP = "⛔"
TIME_LIMIT = 10.0          # seconds one call of a student's function may take
EXERCISE = re.compile(r"Exercise\s+(\d+\.\d+)(\s*\([^)]*\))?")


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


def _kind(x) -> str:
    """A plain word for what kind of object ``x`` is (for messages)."""
    module = type(x).__module__ or ""
    if module.startswith("torch"):
        return "a torch.Tensor"
    if module.startswith(("tensorflow", "tf_keras")):
        return "a TensorFlow tensor"
    if module.startswith(("jax", "jaxlib")):
        return "a JAX array"
    if isinstance(x, (list, tuple)):
        return f"a Python {type(x).__name__}"
    return f"a {type(x).__name__}"


def _numpy_problem(got, expected):
    """None when ``got`` is what a NumPy exercise may return for ``expected``, else what is wrong:
    an array for an array, a number (Python, NumPy or a 0-d array) for a number."""
    e = np.asarray(expected)
    if e.ndim == 0:
        if isinstance(got, (int, float, np.generic)) and not isinstance(got, bool) or \
                (isinstance(got, np.ndarray) and got.size == 1):
            return None
        return (f"expected a number, got {_kind(got)}: return a plain number "
                "(float(...), or a NumPy scalar such as np.mean(...) gives)")
    if isinstance(got, np.ndarray):
        return None
    fix = {"a torch.Tensor": " (this exercise is NumPy: use np.* functions, or .numpy() on the tensor)",
           "a TensorFlow tensor": " (this exercise is NumPy: use np.* functions, or .numpy() on the tensor)",
           "a JAX array": " (np.asarray(...) turns it into one)"}.get(_kind(got), " (np.array(...) turns it into one)")
    return (f"expected a NumPy array, got {_kind(got)}: return a NumPy array{fix}; "
            "the cells that follow use NumPy operations on it")


def compare(got, expected, rtol=1e-4, atol=1e-6, numpy=False):
    """None when ``got`` matches ``expected`` (NumPy-like or scalar), else what differs.
    ``numpy=True`` also demands a NumPy array (or a number where a number is expected)."""
    if got is None:
        return "got None: did the function forget to `return` its result?"
    if numpy:
        problem = _numpy_problem(got, expected)
        if problem:
            return problem
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


def _number(name):
    m = EXERCISE.search(name or "")
    return m.group(1) if m else None


def _finish(name, problem, n_cases=None, hint=None):
    if problem is None:
        extra = f" ({n_cases} case{'s' if n_cases != 1 else ''})" if n_cases else ""
        message = f"{PASS} {name}: correct{extra}."
        passed, state = True, "pass"
        _note_done(name)
    elif problem.startswith("TODO"):
        other, _, text = problem[4:].partition(">")
        other = other.lstrip("<")
        if other and _number(other) and _number(other) != _number(name):
            text = (f"it calls {other}, which is not done yet. Finish that exercise first, "
                    f"then run this check again.")
        message = f"{TODO} {name}: not done yet: {text.strip()}"
        passed, state = False, "todo"
        _note_unfinished(name if not other or _number(other) == _number(name) else other)
    else:
        message = f"{FAIL} {name}: {problem}"
        if hint:
            message += f"\n   Hint: {hint}"
        passed, state = False, "fail"
    print(message)
    results.record(f"check: {name}", state, quiet=True)
    if not passed and os.environ.get("NBGRADER_EXECUTION"):
        raise AssertionError(message)        # nbgrader's autograder counts a raised error as a fail
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


class TookTooLong(BaseException):
    """Raised inside a student's function that runs past the time limit. A BaseException, so
    that an ``except Exception`` in the student's code cannot swallow it."""


@contextlib.contextmanager
def time_limit(seconds):
    """Change the time limit on the student's calls for a block (``None``: no limit)."""
    global TIME_LIMIT
    before, TIME_LIMIT = TIME_LIMIT, seconds
    try:
        yield
    finally:
        TIME_LIMIT = before


@contextlib.contextmanager
def _alarm(seconds):
    """Raise :class:`TookTooLong` in this thread after ``seconds`` (where the platform allows:
    SIGALRM, main thread; elsewhere no limit)."""
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def ring(signum, frame):
        raise TookTooLong()

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _todo(error):
    """The problem string for a stub's NotImplementedError: "TODO<Exercise N.k (name)> ..."."""
    m = EXERCISE.search(str(error))
    label = m.group(0) if m else ""
    return f"TODO<{label}> the exercise still raises NotImplementedError: replace it with your code."


def call(fn, *args, **kwargs):
    """Call the student's function: (result, None) or (None, what went wrong), within the
    time limit."""
    try:
        with _alarm(TIME_LIMIT):
            return fn(*args, **kwargs), None
    except NotImplementedError as e:
        return None, _todo(e)
    except TookTooLong:
        return None, (f"it took more than {TIME_LIMIT:g} s and was stopped: a loop that never ends? "
                      "(a `while` whose condition never turns false, or a missing `i += 1`)")
    except RecursionError:
        return None, "calling it raised RecursionError: does the function call itself without end?"
    except Exception as e:  # noqa: BLE001 - a wrong answer must not end in a traceback
        return None, f"calling it raised {type(e).__name__}: {_one_line(e)}"


def _one_line(e, limit=300):
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit else line[:limit] + "..."


def _copy_arg(a):
    if isinstance(a, np.ndarray):
        return a.copy()
    if isinstance(a, (list, tuple, dict)):
        return copy.deepcopy(a)
    return a


def _arrays_in(a):
    """The NumPy arrays inside an argument (itself, or in a list, tuple or dict), in order."""
    if isinstance(a, np.ndarray):
        return [a]
    if isinstance(a, (list, tuple)):
        return [x for item in a for x in _arrays_in(item)]
    if isinstance(a, dict):
        return [x for item in a.values() for x in _arrays_in(item)]
    return []


def _arg_names(fn, n):
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"argument {i + 1}" for i in range(n)]


def call_on_copies(fn, *args):
    """Call ``fn`` on copies of ``args`` and report an answer that changed an input in place.
    Changes below about 1e-9 (an entry perturbed and put back) are not counted."""
    copies = [_copy_arg(a) for a in args]
    got, error = call(fn, *copies)
    if error:
        return None, error
    for name, original, passed in zip(_arg_names(fn, len(args)), args, copies):
        for a, b in zip(_arrays_in(original), _arrays_in(passed)):
            if a.shape != b.shape or (a.dtype.kind in "fiub" and not np.allclose(
                    a.astype(float), b.astype(float), rtol=1e-9, atol=1e-12, equal_nan=True)):
                return got, (f"the function changed its input `{name}` in place. Work on a copy "
                             "(z = z - m, not z -= m); if you change entries on purpose, save each "
                             "old value and put it back")
    return got, None


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


def check_function(name, fn, cases, rtol=1e-4, atol=1e-6, hint=None, numpy=False):
    """Run ``fn(*args)`` for each ``(args, expected)`` in ``cases`` and compare the results.
    The student's function gets copies of the inputs (changing them in place is reported);
    ``numpy=True`` demands a NumPy result."""
    def judge(fn, case):
        args, expected = case
        got, error = call_on_copies(fn, *args)
        return error or compare(got, expected, rtol, atol, numpy=numpy)

    labelled = []
    for args, expected in cases:
        args = args if isinstance(args, tuple) else (args,)
        labelled.append((f"input {_describe_args(args)}", (args, expected)))
    return check_cases(name, fn, labelled, judge, hint=hint)


def check_value(name, value, expected, rtol=1e-4, atol=1e-6, hint=None, numpy=False):
    """Compare a value the student computed with the expected one."""
    return _finish(name, compare(value, expected, rtol, atol, numpy=numpy), hint=hint)


def framework_of(obj, layer: bool = False) -> str | None:
    """'keras' or 'torch' for a model (a ``keras.Model`` or ``torch.nn.Module``, subclasses written in
    a notebook included; with ``layer=True`` any Keras layer), else None. Keras is tested first: on
    its torch backend a Keras model is also a ``torch.nn.Module``. Neither framework is imported
    here unless the notebook already did."""
    if "keras" in sys.modules:
        import keras

        if isinstance(obj, keras.layers.Layer if layer else keras.Model):
            return "keras"
    if "torch" in sys.modules:
        import torch

        if isinstance(obj, torch.nn.Module):
            return "torch"
    return None


def check_true(name, condition, problem, hint=None):
    """Pass when ``condition`` holds; otherwise report ``problem``."""
    return _finish(name, None if condition else problem, hint=hint)


# --------------------------------------------------------------------------- unfinished exercises

_unfinished = {}       # "N.k" -> "Exercise N.k (name)": exercises known not to be done yet
_blocking = {}         # "N.k" -> label: unfinished exercises that stopped a notebook cell
_stopped_names = {}    # a name a stopped cell would have defined -> the label that stopped it


def _note_unfinished(label):
    number = _number(label)
    if number and (number not in _unfinished or "(" in label):
        _unfinished[number] = label


def _note_done(name):
    number = _number(name)
    _unfinished.pop(number, None)
    if _blocking.pop(number, None) is not None:
        for key in [k for k, v in _stopped_names.items() if _number(v) == number]:
            del _stopped_names[key]


def unfinished() -> list:
    """The exercises known not to be done yet in this session (from checks and stubs)."""
    return list(_unfinished.values())


def blocking() -> list:
    """Unfinished exercises that stopped a cell of this notebook: results computed after that
    point may come from an incomplete run."""
    return list(_blocking.values())


def _defined_names(source):
    """The names a cell's code assigns, defines or imports (anywhere in it)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _current_cell(shell):
    try:
        raw = shell.history_manager.input_hist_raw[-1]
        return shell.transform_cell(raw)
    except Exception:  # noqa: BLE001 - best effort: no hint is better than a broken handler
        return ""


def _notebook_hint(shell, etype, value, tb, tb_offset=None):
    """IPython handler for NotImplementedError and NameError: when the cause is an unfinished
    exercise, one line naming it replaces the traceback."""
    label, missing = None, None
    if issubclass(etype, NotImplementedError):
        m = EXERCISE.search(str(value))
        label = m.group(0) if m else None
    elif issubclass(etype, NameError):
        missing = getattr(value, "name", None)
        if missing is None:
            m = re.search(r"name '([^']+)' is not defined", str(value))
            missing = m.group(1) if m else None
        label = _stopped_names.get(missing)
    if label is None:
        stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
        shell._showtraceback(etype, value, stb)     # IPython leaves the display to the handler
        return stb
    number = _number(label)
    _note_unfinished(label)
    _blocking.setdefault(number, _unfinished.get(number, label))
    label = _unfinished.get(number, label)
    for name in _defined_names(_current_cell(shell)):
        _stopped_names.setdefault(name, label)
    if missing:
        text = (f"{STOP} `{missing}` is not defined: the cell that defines it stopped because {label} "
                f"is not done yet. Finish that exercise, then run the cells from there down again.")
    else:
        text = (f"{STOP} This cell needs {label}, which is not done yet (its code still raises "
                f"NotImplementedError). Finish that exercise and run its check, then run this cell again.")
    shell._showtraceback(etype, value, [text])
    return [text]


def install_notebook_hints():
    """In IPython/Jupyter, show a pointer to the unfinished exercise instead of a traceback for
    the errors it causes later in the notebook. Does nothing outside IPython."""
    import sys

    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc((NotImplementedError, NameError), _notebook_hint)
    return True


install_notebook_hints()


def __getattr__(name):
    if name.startswith("lab"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'utils.checks' has no attribute {name!r}")
