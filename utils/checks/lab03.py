"""Checks for Lab 03, manual backpropagation (NumPy).

Each check runs the student's function on cases whose answers are known (by hand,
or from a numerical gradient computed here) and prints one verdict line.
"""
import numpy as np

from . import _finish, call, check_cases, compare, to_numpy

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
        problem = compare(parts[name], want, rtol, atol)
        if problem:
            return f"{name}: {problem}"
    return None


def _run_cases(name, fn, cases, names, hint=None, rtol=1e-4, atol=1e-6):
    """``cases``: (args, expected tuple, description) triples."""
    def judge(fn, case):
        args, expected = case
        got, error = call(fn, *[np.copy(a) if isinstance(a, np.ndarray) else a for a in args])
        return error or _compare_parts(got, expected, names, rtol, atol)

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
    return _run_cases("(x + y) z: forward value and gradients", fn, cases,
                      ["f", "df/dx", "df/dy", "df/dz"],
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
    return _run_cases("sigmoid gate: forward and backward", fn, cases, ["f", "dw", "dx"],
                      hint="dz = f (1 - f) is the gradient at the sigmoid's input z; then "
                           "dw = dz * [x0, x1, 1] and dx = dz * [w0, w1].")


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
    return _run_cases("||W x||^2: value and gradients", fn, cases, ["f", "dW", "dx"],
                      hint="with q = W x: df/dq = 2 q, dW = outer(2 q, x) (same shape as W), "
                           "dx = W.T @ (2 q) (same shape as x).")


# ----------------------------------------------------------------------------- exercise 3.4

def numerical_gradient(fn):
    """Exercise 3.4: ``fn(f, x, h)`` returns the centred-difference gradient of ``f`` at ``x``."""
    name = "numerical gradient"
    hint = ("loop over every index of x (np.ndindex(x.shape)), set x[i] to x[i] + h and x[i] - h in "
            "turn, take (f(x + h) - f(x - h)) / (2 h), and put x[i] back.")
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
        x_before = x.copy()
        got, error = call(fn, f, x, h)
        problem = error or compare(got, grad(x_before), rtol=rtol, atol=1e-7)
        if problem and problem.startswith("values differ") and \
                np.allclose(to_numpy(got), grad(x_before), rtol=1e-2, atol=1e-4):
            problem = ("close, but not accurate enough: off by about "
                       f"{np.max(np.abs(to_numpy(got) - grad(x_before))):.1e}. A one-sided difference "
                       "(f(x + h) - f(x)) / h is only accurate to O(h); the centred one to O(h^2).")
        if problem is None and not np.array_equal(x, x_before):
            problem = "the function changed x: put each entry back after perturbing it"
        return problem

    return check_cases(name, fn, [(d, (f, x, h, g, r)) for f, x, h, g, d, r in cases], judge, hint=hint)


# ----------------------------------------------------------------------------- exercise 3.5

def multiply_node(node_class):
    """Exercise 3.5: ``node_class()`` has ``forward(a, b)`` and ``backward(dout) -> (da, db)``."""
    name = "Multiply node: forward and backward"
    hint = "the local gradient of a * b is b for a and a for b: return (dout * b, dout * a)."
    rng = np.random.default_rng(11)
    cases = [(3.0, -4.0, 1.0, "scalars a=3, b=-4, dout=1"),
             (-2.0, 0.5, 2.0, "scalars a=-2, b=0.5, dout=2"),
             (rng.normal(size=4), rng.normal(size=4), rng.normal(size=4),
              "vectors of 4 (element-wise product)")]
    try:
        node = node_class()
    except Exception as e:  # noqa: BLE001 - reported, not raised
        return _finish(name, f"creating the node raised {type(e).__name__}: {e}", hint=hint)
    def judge(node, case):
        a, b, dout = case
        out, error = call(node.forward, a, b)
        problem = error or compare(out, a * b)
        if problem is None:
            grads, error = call(node.backward, dout)
            problem = error or _compare_parts(grads, (dout * b, dout * a), ["da", "db"])
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


def two_layer_backward(forward, backward):
    """Exercise 3.6: ``forward(params, X) -> (probs, cache)`` (given in the notebook) and the
    student's ``backward(params, cache, y) -> grads``; the gradients are compared with a
    numerical gradient of the mean cross-entropy computed here, in float64."""
    name = "two-layer network: backward pass"
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

    copy = {key: value.copy() for key, value in params.items()}
    out, error = call(forward, copy, X.copy())
    if error:
        return _finish(name, "the forward function: " + error, hint=hint)
    parts, problem = _parts(out, ["probs", "cache"])
    if problem:
        return _finish(name, "forward(params, X) should return (probs, cache): " + problem)
    grads, error = call(backward, copy, parts["cache"], y.copy())
    if error:
        return _finish(name, error, hint=hint)
    if not isinstance(grads, dict):
        return _finish(name, f"expected a dict of gradients with keys {sorted(params)}, "
                             f"got {type(grads).__name__}", hint=hint)
    missing = [key for key in params if key not in grads]
    if missing:
        return _finish(name, f"the gradients dict has no {', '.join(missing)}", hint=hint)
    for key in ["W2", "b2", "W1", "b1"]:         # in the order the backward pass reaches them
        problem = compare(grads[key], expected[key], rtol=1e-5, atol=1e-7)
        if problem:
            return _finish(name, f"d{key} does not match the numerical gradient: {problem}",
                           hint=hint)
    worst = max(relative_error(grads[key], expected[key]) for key in params)
    return _finish(name, None if worst < 1e-6 else
                   f"largest relative error against the numerical gradient is {worst:.1e} "
                   f"(expected below 1e-6)", hint=hint)


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

