"""Checks for Lab 03, manual backpropagation (NumPy).

    checks.lab03.xyz_gradients(xyz_forward_backward)     # Exercise 3.1
    checks.lab03.sigmoid_gate(sigmoid_gate)              # Exercise 3.2
    checks.lab03.norm_sq_grads(norm_sq_grads)            # Exercise 3.3
    checks.lab03.numerical_gradient(numerical_gradient)  # Exercise 3.4
    checks.lab03.multiply_node(Multiply)                 # Exercise 3.5
    checks.lab03.two_layer_backward(forward, backward)   # Exercise 3.6

Each check runs the student's function on copies of cases whose answers are known (by hand,
or from a numerical gradient computed here), demands NumPy arrays where the later cells compute
with them, reports an answer that changes its inputs in place, and names the usual mistakes
(a transpose, a forgotten factor, a one-sided difference) when it recognises them.
"""
import numpy as np

from . import _finish, call, call_on_copies, check_cases, compare, to_numpy

# ----------------------------------------------------------------------------- helpers


def _parts(got, names):
    """Split a returned tuple into its named parts, or say what is wrong with it."""
    if got is None:
        return None, "got None: did the function forget to `return` its result?"
    if not isinstance(got, (tuple, list)):
        return None, (f"expected a tuple ({', '.join(names)}), got {type(got).__name__}")
    if len(got) != len(names):
        return None, (f"expected {len(names)} values ({', '.join(names)}), got {len(got)}")
    return dict(zip(names, got)), None


def _compare_parts(got, expected, names, rtol=1e-4, atol=1e-6):
    parts, problem = _parts(got, names)
    if problem:
        return problem
    for name, want in zip(names, expected):
        problem = compare(parts[name], want, rtol, atol, numpy=True)
        if problem:
            return f"{name}: {problem}"
    return None


def _close(got, want, rtol=1e-4, atol=1e-6):
    """True when ``got`` has ``want``'s shape and values (no message: for diagnoses)."""
    try:
        g = to_numpy(got).astype(float)
    except Exception:  # noqa: BLE001 - anything odd is simply "not close"
        return False
    w = np.asarray(want, dtype=float)
    return g.shape == w.shape and np.allclose(g, w, rtol=rtol, atol=atol)


def _run_cases(name, fn, cases, names, hint=None, rtol=1e-4, atol=1e-6, diagnose=None):
    """``cases``: (args, expected tuple, description) triples. The student's function gets copies
    of the arguments. ``diagnose(args, parts, expected)`` may name a typical mistake."""
    def judge(fn, case):
        args, expected = case
        got, error = call_on_copies(fn, *args)
        if error:
            return error
        problem = _compare_parts(got, expected, names, rtol, atol)
        if problem and diagnose and isinstance(got, (tuple, list)) and len(got) == len(names):
            problem = diagnose(args, dict(zip(names, got)), dict(zip(names, expected))) or problem
        return problem

    return check_cases(name, fn, [(d, (a, e)) for a, e, d in cases], judge, hint=hint)


def _numerical_gradient(f, x, h=1e-6):
    """Centred differences of the scalar function ``f`` at the float64 array ``x``."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = f(x)
        x[i] = old - h
        minus = f(x)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def relative_error(a, b, eps=1e-12):
    """||a - b|| / max(||a||, ||b||): how far apart two gradients are, whatever their scale."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), eps))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ----------------------------------------------------------------------------- exercise 3.1

def xyz_gradients(fn):
    """Exercise 3.1: ``fn(x, y, z)`` returns ``(f, dfdx, dfdy, dfdz)`` for f = (x + y) * z."""
    cases = []
    for x, y, z in [(-2.0, 5.0, -4.0), (1.0, 2.0, 3.0), (0.5, -1.5, 2.0), (3.0, 0.0, 0.0)]:
        q = x + y
        cases.append(((x, y, z), (q * z, z, z, q), f"x={x}, y={y}, z={z}"))

    def diagnose(args, got, want):
        x, y, z = args
        q = x + y
        if _close(got["df/dx"], q) and _close(got["df/dz"], z) and not _close(q, z):
            return ("the gradients of the multiply node are the wrong way round: f = q z gives "
                    f"df/dq = z and df/dz = q (here df/dx should be z = {z}, df/dz should be q = {q})")
        return None

    return _run_cases("Exercise 3.1 xyz_forward_backward", fn, cases, ["f", "df/dx", "df/dy", "df/dz"],
                      diagnose=diagnose,
                      hint="with q = x + y and f = q z: df/dz = q, df/dq = z, and the add node "
                           "passes df/dq unchanged to both x and y.")


# ----------------------------------------------------------------------------- exercise 3.2

def sigmoid_gate(fn):
    """Exercise 3.2: ``fn(w, x)`` returns ``(f, dw, dx)`` for f = sigmoid(w0 x0 + w1 x1 + w2)."""
    rng = np.random.default_rng(3)
    inputs = [(np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0])),
              (np.array([0.5, 1.0, 0.0]), np.array([1.0, -1.0])),
              (rng.normal(size=3), rng.normal(size=2))]
    cases = []
    for w, x in inputs:
        f = _sigmoid(w[0] * x[0] + w[1] * x[1] + w[2])
        dz = f * (1 - f)
        cases.append(((w, x), (f, dz * np.array([x[0], x[1], 1.0]), dz * w[:2]),
                      f"w={np.round(w, 3).tolist()}, x={np.round(x, 3).tolist()}"))

    def diagnose(args, got, want):
        w, x = args
        f = want["f"]
        if _close(got["dw"], f * np.array([x[0], x[1], 1.0])):
            return ("dw is f times the inputs: the local gradient of the sigmoid node is "
                    "f (1 - f), not f")
        if np.ndim(got["dw"]) == 1 and np.shape(got["dw"]) == (2,):
            return ("dw has 2 entries, expected 3: the bias w2 is a weight too, and its input is 1, "
                    "so dw = dz * [x0, x1, 1]")
        if np.shape(got["dx"]) == (3,):
            return "dx has 3 entries, expected 2 (one per input x0, x1): dx = dz * [w0, w1]"
        if _close(got["dw"], -want["dw"]):
            return "dw has the wrong sign: d sigmoid(z)/dz = f (1 - f) is positive"
        return None

    return _run_cases("Exercise 3.2 sigmoid_gate", fn, cases, ["f", "dw", "dx"], diagnose=diagnose,
                      hint="dz = f (1 - f) is the gradient at the sigmoid's input z; then "
                           "dw = dz * [x0, x1, 1] and dx = dz * [w0, w1] (NumPy arrays).")


# ----------------------------------------------------------------------------- exercise 3.3

def norm_sq_grads(fn):
    """Exercise 3.3: ``fn(W, x)`` returns ``(f, dW, dx)`` for f = ||W x||^2."""
    rng = np.random.default_rng(5)
    inputs = [(np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])),
              (rng.normal(size=(3, 4)), rng.normal(size=4)),
              (rng.normal(size=(2, 5)), rng.normal(size=5))]
    cases = []
    for W, x in inputs:
        q = W @ x
        cases.append(((W, x), (np.sum(q ** 2), 2 * np.outer(q, x), 2 * W.T @ q),
                      f"W of shape {W.shape}, x of shape {x.shape}"))

    def diagnose(args, got, want):
        W, x = args
        if not _close(got["f"], want["f"]) and _close(got["f"], np.sqrt(want["f"])):
            return "f is the norm ||W x||; the exercise asks for its square, ||W x||^2 = sum(q ** 2)"
        for name in ("dW", "dx"):
            g, e = got[name], want[name]
            if _close(g, e / 2):
                return f"{name} is half the right value: the derivative of q² is 2 q (the factor 2 is missing)"
            if np.ndim(e) == 2 and _close(np.transpose(to_numpy(g)) if np.ndim(g) == 2 else g, e):
                return (f"dW is transposed: it must have W's shape {W.shape}, "
                        "which is np.outer(2 q, x), not np.outer(x, 2 q)")
        if np.shape(got["dx"]) != x.shape:
            return (f"dx has shape {np.shape(got['dx'])}, expected x's shape {x.shape}: "
                    "dx = W.T @ (2 q) (the transpose of W)")
        return None

    return _run_cases("Exercise 3.3 norm_sq_grads", fn, cases, ["f", "dW", "dx"], diagnose=diagnose,
                      hint="with q = W x: df/dq = 2 q, dW = outer(2 q, x) (same shape as W), "
                           "dx = W.T @ (2 q) (same shape as x).")


# ----------------------------------------------------------------------------- exercise 3.4

def numerical_gradient(fn):
    """Exercise 3.4: ``fn(f, x, h)`` returns the centred-difference gradient of ``f`` at ``x``.
    The student's function may change entries of ``x`` while it works, as long as it puts them
    back (within rounding: ``x[i] += h ... x[i] -= h`` is fine)."""
    name = "Exercise 3.4 numerical_gradient"
    hint = ("loop over every index of x (np.ndindex(x.shape)), set x[i] to old + h and old - h in "
            "turn, take (f(x) at old + h minus f(x) at old - h) / (2 h), and put the old value back.")
    rng = np.random.default_rng(7)
    M = rng.normal(size=(3, 2))
    cases = [
        (lambda v: np.sum(v ** 2), np.array([1.0, -2.0, 3.0]), 1e-5,
         lambda v: 2 * v, "f(x) = sum(x**2) at a vector x", 1e-6),
        (lambda v: np.sum(np.sin(v) * M), rng.normal(size=(3, 2)), 1e-5,
         lambda v: np.cos(v) * M, "f(W) = sum(sin(W) * M) at a 3x2 matrix W", 1e-6),
        (lambda v: np.sum(v ** 3), np.array([1.0, 2.0]), 1e-3,
         lambda v: 3 * v ** 2, "f(x) = sum(x**3) with h = 1e-3 (tells centred from one-sided "
                               "differences)", 1e-5),
    ]

    def judge(fn, case):
        f, x, h, grad, rtol = case
        expected = grad(x)
        got, error = call_on_copies(fn, f, x, h)
        if error:
            return error
        problem = compare(got, expected, rtol=rtol, atol=1e-7, numpy=True)
        if problem and problem.startswith("values differ"):
            g = to_numpy(got).astype(float)
            if np.allclose(g, 2 * expected, rtol=1e-3, atol=1e-6):
                problem = ("twice the right value: a centred difference divides by 2 h, the distance "
                           "between x - h and x + h")
            elif np.allclose(g, expected / 2, rtol=1e-3, atol=1e-6):
                problem = "half the right value: divide by 2 h, not by 4 h"
            elif np.allclose(g, expected, rtol=1e-2, atol=1e-4):
                problem = ("close, but not accurate enough: off by about "
                           f"{np.max(np.abs(g - expected)):.1e}. A one-sided difference "
                           "(f(x + h) - f(x)) / h is only accurate to O(h); the centred one to O(h^2).")
            elif x.size > 1 and np.allclose(g, np.full(x.shape, expected.sum()), rtol=1e-3, atol=1e-6):
                problem = ("every entry holds the same number, the sum of all the partial derivatives: "
                           "x + h moves every entry at once; change one entry at a time")
        return problem

    return check_cases(name, fn, [(d, (f, x, h, g, r)) for f, x, h, g, d, r in cases], judge, hint=hint)


# ----------------------------------------------------------------------------- exercise 3.5

def multiply_node(node_class):
    """Exercise 3.5: ``node_class()`` has ``forward(a, b)`` and ``backward(dout) -> (da, db)``."""
    name = "Exercise 3.5 Multiply"
    hint = "the local gradient of a * b is b for a and a for b: return (dout * b, dout * a)."
    rng = np.random.default_rng(11)
    cases = [(3.0, -4.0, 1.0, "scalars a=3, b=-4, dout=1"),
             (-2.0, 0.5, 2.0, "scalars a=-2, b=0.5, dout=2"),
             (rng.normal(size=4), rng.normal(size=4), rng.normal(size=4),
              "vectors of 4 (element-wise product)")]
    if not isinstance(node_class, type):
        return _finish(name, f"expected the class Multiply itself, got {type(node_class).__name__}: "
                             "pass the class (checks.lab03.multiply_node(Multiply)), not an instance")
    try:
        node = node_class()
    except Exception as e:  # noqa: BLE001 - reported, not raised
        return _finish(name, f"creating the node raised {type(e).__name__}: {e}", hint=hint)

    def judge(node, case):
        a, b, dout = case
        out, error = call_on_copies(node.forward, a, b)
        problem = error or compare(out, a * b, numpy=True)
        if problem is None:
            grads, error = call(node.backward, dout)
            problem = error or _compare_parts(grads, (dout * b, dout * a), ["da", "db"])
            if problem and isinstance(grads, (tuple, list)) and len(grads) == 2 and \
                    _close(grads[0], dout * a) and _close(grads[1], dout * b) and not _close(a, b):
                problem = ("da and db are the wrong way round: multiply swaps, so a's gradient is "
                           "dout * b and b's is dout * a")
            elif problem and isinstance(grads, (tuple, list)) and len(grads) == 2 and \
                    _close(grads[0], b) and _close(grads[1], a) and not _close(dout, 1.0):
                problem = ("the gradients ignore dout: multiply the local gradients by the upstream "
                           "gradient dout (the chain rule)")
        return problem

    return check_cases(name, node, [(d, (a, b, g)) for a, b, g, d in cases], judge, hint=hint,
                       need_callable=False)


# ----------------------------------------------------------------------------- exercise 3.6

def _reference_loss(params, X, y):
    z1 = X @ params["W1"] + params["b1"]
    h = np.maximum(z1, 0)
    s = h @ params["W2"] + params["b2"]
    s = s - s.max(axis=1, keepdims=True)
    log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


def _diagnose_backward(key, got, expected, n):
    """A sentence naming the usual mistake in one gradient, or None."""
    try:
        g = to_numpy(got).astype(float)
    except Exception:  # noqa: BLE001
        return None
    e = expected[key]
    if g.shape == e.shape and np.allclose(g, n * e, rtol=1e-4, atol=1e-7):
        return (f"d{key} is {n} times too large: the loss is the MEAN over the {n} examples, so divide "
                "dscores by N")
    if key.startswith("b") and g.ndim == 2 and g.shape[1:] == e.shape:
        return (f"d{key} has shape {g.shape}, expected {e.shape}: the bias is added to every example, "
                "so its gradient is the sum over the batch (axis=0)")
    if g.shape != e.shape:
        return f"d{key} has shape {g.shape}, expected {e.shape} (a gradient has its parameter's shape)"
    return None


def two_layer_backward(forward, backward):
    """Exercise 3.6: ``forward(params, X) -> (probs, cache)`` (given in the notebook) and the
    student's ``backward(params, cache, y) -> grads``; the gradients are compared with a
    numerical gradient of the mean cross-entropy computed here, in float64. The student's
    ``backward`` gets copies and must leave ``params`` and ``cache`` as they were (the training
    loop uses ``cache["probs"]`` after the backward pass)."""
    name = "Exercise 3.6 backward"
    hint = ("go backwards one step at a time: dscores = (probs - one_hot(y)) / N; "
            "dW2 = h.T @ dscores, db2 = dscores.sum(0); dh = dscores @ W2.T; dz1 = dh * (z1 > 0); "
            "dW1 = X.T @ dz1, db1 = dz1.sum(0).")
    rng = np.random.default_rng(13)
    n, d, hidden, k = 6, 5, 4, 3
    params = {"W1": rng.normal(size=(d, hidden)), "b1": rng.normal(size=hidden) * 0.1,
              "W2": rng.normal(size=(hidden, k)), "b2": rng.normal(size=k) * 0.1}
    X = rng.normal(size=(n, d))
    y = np.array([0, 1, 2, 0, 1, 2])
    expected = {}
    for key in params:
        def loss_of(value, key=key):
            changed = dict(params, **{key: value})
            return _reference_loss(changed, X, y)
        expected[key] = _numerical_gradient(loss_of, params[key])

    out, error = call_on_copies(forward, params, X)
    if error:
        return _finish(name, "the forward function: " + error, hint=hint)
    parts, problem = _parts(out, ["probs", "cache"])
    if problem:
        return _finish(name, "forward(params, X) should return (probs, cache): " + problem)
    grads, error = call_on_copies(backward, params, parts["cache"], y)
    if error and grads is not None and "in place" in error:
        error = (error + ". Here the training loop reads cache['probs'] after backward: "
                         "start from probs.copy() (or probs - one_hot) before subtracting 1")
    if error:
        return _finish(name, error, hint=hint)
    if grads is None:
        return _finish(name, "got None: did the function forget to `return` the dict of gradients?",
                       hint=hint)
    if not isinstance(grads, dict):
        return _finish(name, f"expected a dict of gradients with keys {sorted(params)}, "
                             f"got {type(grads).__name__}", hint=hint)
    missing = [key for key in params if key not in grads]
    if missing:
        return _finish(name, f"the gradients dict has no {', '.join(missing)}", hint=hint)
    for key in ["W2", "b2", "W1", "b1"]:         # in the order the backward pass reaches them
        problem = compare(grads[key], expected[key], rtol=1e-5, atol=1e-7, numpy=True)
        if problem:
            problem = _diagnose_backward(key, grads[key], expected, n) or \
                f"d{key} does not match the numerical gradient: {problem}"
            if key in ("W1", "b1"):
                relu_missing = _without_relu_mask(params, X, y)
                if _close(grads[key], relu_missing[key], rtol=1e-5, atol=1e-7):
                    problem = (f"d{key} ignores the ReLU: where z1 <= 0 the unit was off and passes no "
                               "gradient back, so dz1 = dh * (z1 > 0)")
            return _finish(name, problem, hint=hint)
    worst = max(relative_error(grads[key], expected[key]) for key in params)
    return _finish(name, None if worst < 1e-6 else
                   f"largest relative error against the numerical gradient is {worst:.1e} "
                   f"(expected below 1e-6)", hint=hint)


def _without_relu_mask(params, X, y):
    """The first-layer gradients of a backward pass that forgot the ReLU's mask."""
    z1 = X @ params["W1"] + params["b1"]
    h = np.maximum(z1, 0)
    s = h @ params["W2"] + params["b2"]
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    ds = p.copy()
    ds[np.arange(len(y)), y] -= 1
    ds /= len(y)
    dz1 = ds @ params["W2"].T
    return {"W1": X.T @ dz1, "b1": dz1.sum(axis=0)}


# ----------------------------------------------------------------------------- framework cross-check

def autograd_agrees(framework, ours, theirs, tolerance=1e-8):
    """Compare the hand-written gradients ``ours`` with a framework's ``theirs`` (dicts of
    arrays with the same keys): passes when every relative error is below ``tolerance``."""
    name = f"{framework} agrees with the hand-written gradients"
    missing = [key for key in ours if key not in theirs]
    if missing:
        return _finish(name, f"{framework} gave no gradient for {', '.join(missing)}")
    for key in ours:
        a = np.asarray(ours[key], dtype=np.float64)
        b = np.asarray(theirs[key], dtype=np.float64)
        if a.shape != b.shape:
            return _finish(name, f"{key}: shape {a.shape} by hand, {b.shape} from {framework}")
        error = relative_error(a, b)
        if not error < tolerance:
            return _finish(name, f"{key}: relative error {error:.1e} (tolerance {tolerance:.0e})\n"
                                 f"     by hand        {np.round(a.ravel()[:6], 4).tolist()}\n"
                                 f"     {framework:14s} {np.round(b.ravel()[:6], 4).tolist()}")
    return _finish(name, None, n_cases=len(ours))
