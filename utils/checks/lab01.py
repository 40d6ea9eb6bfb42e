"""Checks for Lab 01 (logistic regression): the same five exercises in the Keras and
PyTorch notebooks, all answered in NumPy.

    checks.lab01.sigmoid(sigmoid)              # Exercise 1.1
    checks.lab01.softmax(softmax)              # Exercise 1.2
    checks.lab01.one_hot(one_hot)              # Exercise 1.3
    checks.lab01.cross_entropy(cross_entropy)  # Exercise 1.4
    checks.lab01.gd_step(gd_step)              # Exercise 1.5
"""
import numpy as np

from . import call, check_cases, check_function, compare, to_numpy


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def _softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(fn):
    """Exercise 1.1: ``sigmoid(z) = 1 / (1 + exp(-z))``, elementwise, any shape."""
    cases = [
        ((0.0,), 0.5),
        ((np.array([-2.0, 0.0, 2.0]),), _sigmoid([-2.0, 0.0, 2.0])),
        ((np.array([[-30.0, 30.0], [1.0, -1.0]]),), _sigmoid([[-30.0, 30.0], [1.0, -1.0]])),
    ]
    return check_function("Exercise 1.1 sigmoid", fn, cases,
                          hint="1 / (1 + np.exp(-z)) works elementwise on arrays of any shape.")


def softmax(fn):
    """Exercise 1.2: softmax over the last axis, numerically stable."""
    cases = [
        ((np.array([1.0, 2.0, 3.0]),), _softmax([1.0, 2.0, 3.0])),
        ((np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]),), _softmax([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])),
        ((np.array([[2.0, 0.0], [0.0, np.log(3.0)]]),), np.array([[_sigmoid(2.0), _sigmoid(-2.0)],
                                                                   [0.25, 0.75]])),
        ((np.array([1000.0, 1001.0]),), _softmax([1000.0, 1001.0])),
    ]
    return check_function("Exercise 1.2 softmax", fn, cases,
                          hint="normalise each row separately (axis=-1, keepdims=True), and subtract "
                               "each row's largest score before np.exp so that it cannot overflow.")


def one_hot(fn):
    """Exercise 1.3: integer labels (N,) -> one-hot rows (N, num_classes)."""
    cases = [
        ((np.array([0, 2, 1]), 3), np.eye(3)[[0, 2, 1]]),
        ((np.array([9]), 10), np.eye(10)[[9]]),
        ((np.array([1, 1, 0, 3]), 5), np.eye(5)[[1, 1, 0, 3]]),
    ]
    return check_function("Exercise 1.3 one_hot", fn, cases,
                          hint="start from np.zeros((len(labels), num_classes)) and put a 1 in column "
                               "labels[i] of row i (np.arange(len(labels)) indexes the rows).")


def cross_entropy(fn):
    """Exercise 1.4: mean over the examples of -sum_k y_k log p_k."""
    p1 = np.array([[0.7, 0.2, 0.1]])
    y1 = np.array([[1.0, 0.0, 0.0]])
    p2 = np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]])
    y2 = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    p3 = np.array([[1.0, 0.0], [0.5, 0.5]])           # a wrong class with probability exactly 0
    y3 = np.array([[1.0, 0.0], [0.0, 1.0]])
    cases = [
        ((p1, y1), -np.log(0.7)),
        ((p2, y2), (-np.log(0.2) - np.log(0.5)) / 2),
        ((p3, y3), (0.0 - np.log(0.5)) / 2),
    ]
    return check_function("Exercise 1.4 cross_entropy", fn, cases,
                          hint="one number: the mean over the rows (examples) of -sum(y * log p). "
                               "0 * log(0) is NaN in NumPy: take the log of the true class's "
                               "probability only, np.sum(y * p, axis=-1), or clip p away from 0.")


def _gd_reference(w, b, X, y, lr):
    p = _sigmoid(X @ w + b)
    error = p - y
    return w - lr * X.T @ error / len(y), b - lr * error.mean()


def gd_step(fn):
    """Exercise 1.5: one gradient-descent step on the mean binary cross-entropy of logistic
    regression; ``fn(w, b, X, y, lr)`` returns ``(new_w, new_b)``."""
    name = "Exercise 1.5 gd_step"
    hint = ("with p = sigmoid(X @ w + b): the gradient of the mean loss is X.T @ (p - y) / N for w "
            "and mean(p - y) for b; step against it: w - lr * gradient.")
    rng = np.random.default_rng(1)
    X = rng.choice([-1.0, 1.0], size=(6, 4))
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    cases = [
        (np.zeros(4), 0.0, X, y, 0.5),
        (np.array([0.3, -0.2, 0.1, 0.5]), -0.4, X, y, 0.1),
        (rng.normal(size=3), 0.2, rng.normal(size=(5, 3)), np.array([0.0, 1.0, 1.0, 0.0, 1.0]), 1.0),
    ]
    def judge(fn, case):
        w, b, Xc, yc, lr = case
        got, error = call(fn, w.copy(), b, Xc.copy(), yc.copy(), lr)
        if error:
            return error
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return (f"expected a pair (new_w, new_b), got {type(got).__name__}"
                    + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""))
        w_new, b_new = _gd_reference(w, b, Xc, yc, lr)
        problem = compare(got[0], w_new)
        if problem:
            return "new_w: " + problem
        b_got = got[1]
        if b_got is not None and np.size(b_got) == 1:     # accept 0.3, np.array(0.3) or np.array([0.3])
            b_got = np.reshape(to_numpy(b_got), ())
        problem = compare(b_got, b_new)
        return "new_b: " + problem if problem else None

    labelled = [(f"w {np.round(c[0], 3)}, b {c[1]}, lr {c[4]}", c) for c in cases]
    return check_cases(name, fn, labelled, judge, hint=hint)
