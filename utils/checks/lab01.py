"""Checks for Lab 01 (logistic regression). Exercises 1.1-1.6 are the same NumPy exercises in
the Keras and PyTorch notebooks; 1.7 and 1.8 (the training and evaluation loop) are PyTorch's.

    checks.lab01.sigmoid(sigmoid)              # Exercise 1.1
    checks.lab01.softmax(softmax)              # Exercise 1.2
    checks.lab01.one_hot(one_hot)              # Exercise 1.3
    checks.lab01.cross_entropy(cross_entropy)  # Exercise 1.4
    checks.lab01.svm_loss(svm_loss)            # Exercise 1.5
    checks.lab01.gd_step(gd_step)              # Exercise 1.6
    checks.lab01.train_epoch(train_epoch)      # Exercise 1.7 (PyTorch)
    checks.lab01.evaluate(evaluate)            # Exercise 1.8 (PyTorch)

The NumPy exercises must return NumPy arrays (or plain numbers): the cells that follow use
NumPy operations on them. Each check runs the answer on copies of its inputs, reports an
answer that changes them, and names the usual slip when the result matches one
(the global instead of each row's maximum, a sum instead of a mean, a missing minus...).
"""
import contextlib
import warnings

import numpy as np

from . import _describe_args, call, call_on_copies, check_cases, compare, to_numpy


@contextlib.contextmanager
def _quiet():
    """NumPy's overflow and 0/0 warnings stay out of the verdict: the verdict says what they mean."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _same(got, value, rtol=1e-4, atol=1e-6):
    """True when ``got`` has ``value``'s shape and values (NaN matching NaN)."""
    try:
        g, v = to_numpy(got).astype(float), np.asarray(value, dtype=float)
    except Exception:  # noqa: BLE001 - an odd result simply does not match
        return False
    return g.shape == v.shape and bool(np.allclose(g, v, rtol=rtol, atol=atol, equal_nan=True))


def _numpy_check(name, fn, cases, hint, diagnose=None, rtol=1e-4, atol=1e-6):
    """``check_cases`` for a NumPy function: ``cases`` are ``(args, expected)``; the answer gets
    copies of the inputs and must return a NumPy result. ``diagnose(got, args)`` may name the slip
    behind a wrong result (a message, or None)."""
    def judge(fn, case):
        args, expected = case
        with _quiet():
            got, error = call_on_copies(fn, *args)
        if error:
            return error
        problem = compare(got, expected, rtol, atol, numpy=True)
        framework = ("torch.Tensor", "TensorFlow tensor", "JAX array")
        if problem and diagnose is not None and not any(f in problem.split(":")[0] for f in framework):
            with _quiet():
                slip = diagnose(got, args)
            if slip:
                return f"{slip}\n   {problem}"
        return problem

    labelled = []
    for args, expected, *label in cases:
        text = f"input {_describe_args(args)}"
        labelled.append((f"{label[0]}: {text}" if label else text, (args, expected)))
    return check_cases(name, fn, labelled, judge, hint=hint)


# ----------------------------------------------------------------------------- Exercise 1.1


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def sigmoid(fn):
    """Exercise 1.1: ``sigmoid(z) = 1 / (1 + exp(-z))``, elementwise, any shape."""
    cases = [
        ((0.0,), 0.5),
        ((np.array([-2.0, 0.0, 2.0]),), _sigmoid([-2.0, 0.0, 2.0])),
        ((np.array([[-30.0, 30.0], [1.0, -1.0]]),), _sigmoid([[-30.0, 30.0], [1.0, -1.0]])),
        ((np.array([-4.0, 0.5, 4.0], dtype=np.float32),), _sigmoid([-4.0, 0.5, 4.0]), "float32"),
    ]

    def diagnose(got, args):
        flipped = _sigmoid(-np.asarray(args[0], dtype=float))
        if not _same(flipped, _sigmoid(args[0])) and _same(got, flipped):
            return "that is sigmoid(-z) = 1 - sigmoid(z): the exponent is -z, 1 / (1 + np.exp(-z))"
        return None

    return _numpy_check("Exercise 1.1 sigmoid", fn, cases, diagnose=diagnose,
                        hint="1 / (1 + np.exp(-z)) works elementwise on arrays of any shape "
                             "(math.exp takes one number only).")


# ----------------------------------------------------------------------------- Exercise 1.2


def _softmax(z, axis=-1):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax(fn):
    """Exercise 1.2: softmax over the last axis, numerically stable, for float64 and float32."""
    far = np.array([[1.0, 2.0, 3.0], [1001.0, 1002.0, 1003.0]])     # rows far apart in one matrix
    f32 = np.array([[80.0, 90.0, 100.0], [-5.0, 0.0, 5.0]], dtype=np.float32)   # e^100 overflows in float32
    cases = [
        ((np.array([1.0, 2.0, 3.0]),), _softmax([1.0, 2.0, 3.0])),
        ((np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]),), _softmax([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])),
        ((np.array([[2.0, 0.0], [0.0, np.log(3.0)]]),), np.array([[_sigmoid(2.0), _sigmoid(-2.0)],
                                                                   [0.25, 0.75]])),
        ((np.array([1000.0, 1001.0]),), _softmax([1000.0, 1001.0])),
        ((far,), _softmax(far), "two rows far apart"),
        ((f32,), _softmax(f32), "float32"),
    ]

    def diagnose(got, args):
        z = np.asarray(args[0], dtype=float)
        g = to_numpy(got).astype(float)
        if z.ndim == 2:
            e = np.exp(z - z.max())
            if _same(got, e / e.sum(axis=-1, keepdims=True)):
                return ("subtracting the largest score of the whole matrix (z.max()) leaves e^-1000 = 0 in "
                        "a row far below it, and 0 / 0 is NaN: subtract each row's own largest score, "
                        "z.max(axis=-1, keepdims=True)")
            if _same(got, _softmax(z, axis=0)):
                return "that normalises each column (axis=0); the softmax works on each row: axis=-1"
            e = np.exp(z - z.max(axis=-1, keepdims=True))
            if _same(got, e / e.sum()) or _same(got, np.exp(z) / np.exp(z).sum()):
                return ("the whole matrix sums to 1, not each row: sum over the last axis only, "
                        "e.sum(axis=-1, keepdims=True)")
        if np.isnan(g).any() or np.isinf(g).any():
            return ("np.exp of a large score overflows (e^710 in float64, e^89 in float32) and inf / inf "
                    "is NaN: subtract each row's largest score before np.exp, which changes nothing else")
        return None

    return _numpy_check("Exercise 1.2 softmax", fn, cases, diagnose=diagnose,
                        hint="normalise each row separately (axis=-1, keepdims=True), and subtract "
                             "each row's largest score before np.exp so that it cannot overflow.")


# ----------------------------------------------------------------------------- Exercise 1.3


def one_hot(fn):
    """Exercise 1.3: integer labels (N,) -> one-hot rows (N, num_classes)."""
    cases = [
        ((np.array([0, 2, 1]), 3), np.eye(3)[[0, 2, 1]]),
        ((np.array([9]), 10), np.eye(10)[[9]]),
        ((np.array([1, 1, 0, 3]), 5), np.eye(5)[[1, 1, 0, 3]]),      # class 2 and 4 absent
        ((np.array([4, 0], dtype=np.int32), 6), np.eye(6)[[4, 0]]),
    ]

    def diagnose(got, args):
        labels, k = args
        g = to_numpy(got)
        if g.shape == (k, len(labels)) and g.shape != (len(labels), k):
            return "one row per label: the shape is (len(labels), num_classes), not (num_classes, len(labels))"
        if g.ndim == 2 and g.shape[0] == len(labels) and g.shape[1] != k:
            return (f"{g.shape[1]} columns for num_classes = {k}: use num_classes, not the labels seen "
                    "(a batch need not hold every class, nor the largest)")
        if g.ndim == 2 and len(labels) > 1 and (g == g[0]).all() and g[0].sum() > 1:
            return ("every row got a 1 in every label's column: set one entry per row, "
                    "encoded[np.arange(len(labels)), labels] = 1")
        return None

    return _numpy_check("Exercise 1.3 one_hot", fn, cases, diagnose=diagnose,
                        hint="start from np.zeros((len(labels), num_classes)) and put a 1 in column "
                             "labels[i] of row i (np.arange(len(labels)) indexes the rows).")


# ----------------------------------------------------------------------------- Exercise 1.4


def _cross_entropy(p, t):
    return float(-np.mean(np.log(np.sum(np.asarray(p, float) * t, axis=-1))))


def cross_entropy(fn):
    """Exercise 1.4: mean over the examples of -sum_k t_k log p_k, one number."""
    p1, y1 = np.array([[0.7, 0.2, 0.1]]), np.array([[1.0, 0.0, 0.0]])
    p2 = np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]])
    y2 = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    p3 = np.array([[1.0, 0.0], [0.5, 0.5]])           # a wrong class with probability exactly 0
    y3 = np.array([[1.0, 0.0], [0.0, 1.0]])
    p4 = np.array([[0.1, 0.6, 0.3], [0.8, 0.1, 0.1], [0.2, 0.2, 0.6]], dtype=np.float32)
    y4 = np.eye(3, dtype=np.float32)[[1, 0, 2]]
    cases = [((p, t), _cross_entropy(p, t)) for p, t in [(p1, y1), (p2, y2), (p3, y3), (p4, y4)]]

    def diagnose(got, args):
        p, t = args
        n, k = t.shape
        value = _cross_entropy(p, t)
        try:
            g = to_numpy(got).astype(float)
        except Exception:  # noqa: BLE001
            return None
        if g.shape in ((n,), (n, 1)) and np.allclose(g.mean(), value, rtol=1e-4):
            return "that is the loss of each example: return their mean, one number"
        if g.size != 1:
            return None
        g = float(g.ravel()[0])
        if np.isnan(g):
            return ("0 * np.log(0) is NaN (a wrong class with probability 0): take the log of the true "
                    "class's probability only, np.log(np.sum(t * p, axis=-1)), or clip p away from 0 first")
        slips = [(n * value, "that is the sum over the examples: divide by their number N (the mean)"),
                 (value / k, "np.mean over the whole N×K array divides by N·K: sum over the classes "
                             "(axis=-1) first, then take the mean over the rows"),
                 (-value, "the log of a probability is negative: put a minus sign in front"),
                 (value / np.log(2), "that is the log base 2: use the natural log, np.log"),
                 (value / np.log(10), "that is the log base 10: use the natural log, np.log")]
        for wrong, message in slips:
            if not np.isclose(wrong, value, rtol=1e-3) and np.isclose(g, wrong, rtol=1e-4):
                return message
        return None

    return _numpy_check("Exercise 1.4 cross_entropy", fn, cases, diagnose=diagnose,
                        hint="one number: the mean over the rows (examples) of -sum(t * log p). "
                             "0 * log(0) is NaN in NumPy: take the log of the true class's "
                             "probability only, np.sum(t * p, axis=-1), or clip p away from 0.")


# ----------------------------------------------------------------------------- Exercise 1.5


def _svm_parts(W, b, X, y):
    """The multiclass hinge loss of each example, and the same with the true class counted."""
    s = X @ W + b
    margins = np.maximum(0.0, s - s[np.arange(len(y)), y][:, None] + 1.0)
    with_true = margins.sum(axis=1)
    return with_true - 1.0, with_true, s


def _svm_loss(W, b, X, y, lam):
    per_example, _, _ = _svm_parts(W, b, X, y)
    return float(per_example.mean() + lam * np.sum(W ** 2))


def _svm_cases():
    W = np.array([[1.0, -1.0, 0.5], [0.5, 2.0, -1.0]])          # 2 features -> 3 class scores
    b = np.array([0.0, 0.5, -0.5])
    X = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [-1.0, 1.0]])
    y = np.array([0, 1, 2, 2])
    rng = np.random.default_rng(5)
    W3, b3 = rng.normal(size=(4, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    X3, y3 = rng.normal(size=(6, 4)).astype(np.float32), rng.integers(0, 5, size=6)
    return [(W, b, X, y, 0.0), (W, b, X, y, 0.1), (2 * W, 2 * b, X, y, 0.05), (W3, b3, X3, y3, 0.01)]


def svm_loss(fn):
    """Exercise 1.5: the multiclass SVM (hinge) loss with the L2 penalty,
    mean_i sum_{j != y_i} max(0, s_j - s_{y_i} + 1) + lam * sum(W**2), with s = X @ W + b."""
    cases = [(c, _svm_loss(*c)) for c in _svm_cases()]

    def diagnose(got, args):
        W, b, X, y, lam = args
        try:
            g = float(to_numpy(got).astype(float).ravel()[0]) if np.size(to_numpy(got)) == 1 else None
        except Exception:  # noqa: BLE001
            return None
        if g is None:
            return None
        per_example, with_true, s = _svm_parts(W, b, X, y)
        reg = lam * np.sum(W ** 2)
        no_max = (s - s[np.arange(len(y)), y][:, None] + 1.0).sum(axis=1) - 1.0
        slips = [(with_true.mean() + reg, "the sum runs over the wrong classes j ≠ y_i only: counted with "
                                          "j = y_i, each example adds max(0, s_y − s_y + 1) = 1"),
                 (per_example.sum() + reg, "that is the sum over the examples: take their mean (divide by N)"),
                 (per_example.mean(), "add the L2 penalty lam * np.sum(W ** 2) to the mean hinge loss"),
                 (per_example.mean() + reg + lam * np.sum(b ** 2),
                  "the penalty is on the weights W only, not on the biases b"),
                 (per_example.mean() + reg / 2, "the penalty is lam * sum(W²), without a factor ½"),
                 (no_max.mean() + reg, "a margin that is already met counts 0, not a negative amount: "
                                      "np.maximum(0, s_j − s_y + 1)")]
        value = _svm_loss(W, b, X, y, lam)
        for wrong, message in slips:
            if not np.isclose(wrong, value, rtol=1e-3) and np.isclose(g, wrong, rtol=1e-4):
                return message
        return None

    return _numpy_check("Exercise 1.5 svm_loss", fn, cases, diagnose=diagnose,
                        hint="s = X @ W + b; for each example add max(0, s_j - s_y + 1) over the classes "
                             "j other than its label y; take the mean over the examples and add "
                             "lam * np.sum(W ** 2).")


# ----------------------------------------------------------------------------- Exercise 1.6


def _gd_reference(w, b, X, y, lr):
    p = _sigmoid(X @ w + b)
    error = p - y
    return w - lr * X.T @ error / len(y), b - lr * error.mean()


def gd_step(fn):
    """Exercise 1.6: one gradient-descent step on the mean binary cross-entropy of logistic
    regression; ``fn(w, b, X, y, lr)`` returns ``(new_w, new_b)``."""
    name = "Exercise 1.6 gd_step"
    hint = ("with p = sigmoid(X @ w + b): the gradient of the mean loss is X.T @ (p - y) / N for w "
            "and mean(p - y) for b; step against it: w - lr * gradient.")
    rng = np.random.default_rng(1)
    X = rng.choice([-1.0, 1.0], size=(6, 4))
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    cases = [
        (np.zeros(4), 0.0, X, y, 0.5),
        (np.array([0.3, -0.2, 0.1, 0.5]), -0.4, X, y, 0.1),
        (rng.normal(size=3), 0.2, rng.normal(size=(5, 3)), np.array([0.0, 1.0, 1.0, 0.0, 1.0]), 1.0),
        (rng.normal(size=3).astype(np.float32), 0.1, rng.normal(size=(4, 3)).astype(np.float32),
         np.array([1.0, 0.0, 0.0, 1.0], dtype=np.float32), 0.5),
    ]

    def slip(w_got, w, b, Xc, yc, lr):
        p = _sigmoid(Xc @ w + b)
        grad = Xc.T @ (p - yc) / len(yc)
        for wrong, message in [
                (w - lr * grad * len(yc), "new_w uses the sum of the N examples' gradients; the loss is "
                                         "their mean, so divide by N = len(y)"),
                (w + lr * grad, "new_w moves along the gradient: step against it, w - lr * gradient "
                                "(the gradient is X.T @ (p - y) / N, with p - y, not y - p)"),
                (w - grad, "new_w takes a whole gradient step: multiply the gradient by the learning rate lr"),
                (w - lr * Xc.T @ (p * (1 - p) * (p - yc)) / len(yc),
                 "that is the gradient of the squared error; for the cross-entropy, dL/dz = p - y "
                 "(the sigmoid's slope cancels)")]:
            if not np.allclose(wrong, w - lr * grad) and _same(w_got, wrong):
                return message
        return None

    def judge(fn, case):
        w, b, Xc, yc, lr = case
        with _quiet():
            got, error = call_on_copies(fn, w, b, Xc, yc, lr)
        if error:
            return error
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return (f"expected a pair (new_w, new_b), got {type(got).__name__}"
                    + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""))
        w_new, b_new = _gd_reference(w.astype(float), b, Xc.astype(float), yc.astype(float), lr)
        problem = compare(got[0], w_new, numpy=True)
        if problem:
            with _quiet():
                known = slip(got[0], w.astype(float), b, Xc.astype(float), yc.astype(float), lr)
            return f"new_w: {known}\n   {problem}" if known else "new_w: " + problem
        b_got = got[1]
        if isinstance(b_got, np.ndarray) and b_got.size == 1:   # 0.3, np.float64(0.3) or np.array([0.3])
            b_got = b_got.reshape(())
        problem = compare(b_got, b_new, numpy=True)
        if problem and _same(b_got, b):
            return "new_b is the old b: update the bias too, b - lr * mean(p - y)"
        return "new_b: " + problem if problem else None

    labelled = [(f"w {np.round(c[0], 3)}, b {c[1]}, lr {c[4]}"
                 + (", float32 inputs" if c[2].dtype == np.float32 else ""), c) for c in cases]
    return check_cases(name, fn, labelled, judge, hint=hint)


# ----------------------------------------------------------------------------- Exercises 1.7 and 1.8 (PyTorch)


def _loop_problem(n=60, batch_size=16, seed=0):
    """A tiny 3-class problem: a model, a loader without shuffling (so that a reference loop sees
    the same batches) and the data."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from ..device import torch_device

    where = torch_device()          # the model on the notebook's device, the batches on the CPU, as in the lab
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)
    return model.to(where), loader


def _modes(model):
    """Record, at every forward call of ``model``, whether it was in training mode and whether
    gradients were on."""
    import torch

    seen = []
    handle = model.register_forward_hook(
        lambda module, inputs, output: seen.append((module.training, torch.is_grad_enabled())))
    return seen, handle


def _reference_epoch(model, loader, optimizer, zero_grad=True):
    import torch.nn.functional as F

    model.train()
    where = next(model.parameters()).device
    total, loss_sum, correct, batch_means = 0, 0.0, 0, []
    for x, y in loader:
        x, y = x.to(where), y.to(where)
        out = model(x)
        loss = F.cross_entropy(out, y)
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(y)
        batch_means.append(loss.item())
        correct += (out.argmax(1) == y).sum().item()
        total += len(y)
    return loss_sum / total, correct / total, float(np.mean(batch_means)), len(batch_means)


def _reference_eval(model, loader):
    import torch
    import torch.nn.functional as F

    where = next(model.parameters()).device
    total, loss_sum, correct, batch_means = 0, 0.0, 0, []
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(where), y.to(where)
            out = model(x)
            loss_sum += F.cross_entropy(out, y).item() * len(y)
            batch_means.append(F.cross_entropy(out, y).item())
            correct += (out.argmax(1) == y).sum().item()
            total += len(y)
    return loss_sum / total, correct / total, float(np.mean(batch_means)), len(batch_means)


def _device_hint(error):
    """The error, plus what to do when the batches were not moved to the model's device."""
    if error and "same device" in error:
        return error + "\n   Move each batch to the model's device first: x, y = x.to(dev), y.to(dev)"
    return error


def _pair(got, what):
    """(loss, accuracy) as floats from what the student returned, or (None, problem)."""
    if got is None:
        return None, f"got None: did {what} forget to `return` the mean loss and the accuracy?"
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return None, (f"expected a pair (mean loss, accuracy), got {type(got).__name__}"
                      + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""))
    values = []
    for name, v in zip(("the mean loss", "the accuracy"), got):
        try:
            a = to_numpy(v)
            if a.size != 1:
                return None, f"{name} should be one number, got {a.size} numbers (shape {a.shape})"
            values.append(float(a.ravel()[0]))
        except Exception:  # noqa: BLE001
            return None, f"{name} should be a number, got {type(v).__name__}"
    return values, None


def _loss_and_accuracy(values, ref, n_batches, n):
    """What is wrong with a returned (loss, accuracy), compared with the reference."""
    loss, acc = values
    ref_loss, ref_acc, ref_batch_mean, _ = ref
    if np.isclose(acc, ref_acc * 100, rtol=1e-3) and ref_acc > 0.01:
        return "the accuracy should be a share between 0 and 1, not a percentage"
    if not 0.0 <= acc <= 1.0:
        hint = (" (divided by the number of batches?)" if np.isclose(acc, ref_acc * n / n_batches, rtol=1e-3)
                else "")
        return (f"the accuracy is {acc:.4g}, not a share between 0 and 1: divide the number of correct "
                f"predictions by the number of examples ({n}){hint}")
    if not np.isclose(loss, ref_loss, rtol=1e-4, atol=1e-6):
        if np.isclose(loss, ref_batch_mean, rtol=1e-4, atol=1e-6):
            return (f"the mean loss {loss:.4f} is the plain mean of the batches' losses; the last batch is "
                    f"smaller, so weight each batch by its size (loss.item() * len(y)) and divide by the "
                    f"number of examples: {ref_loss:.4f}")
        if np.isclose(loss, ref_loss * n, rtol=1e-4):
            return f"the mean loss {loss:.4f} is the sum over the examples: divide by their number ({n})"
        if np.isclose(loss, ref_batch_mean * n_batches, rtol=1e-4):
            return f"the mean loss {loss:.4f} is the sum of the batches' losses: divide by the number of examples"
        return f"expected the mean loss {ref_loss:.4f}, got {loss:.4f}"
    if abs(acc - ref_acc) > 1.5 / n:
        return f"expected the accuracy {ref_acc:.4f}, got {acc:.4f}"
    return None


def train_epoch(fn):
    """Exercise 1.7: ``train_epoch(model, loader, optimizer)`` trains for one epoch (training mode,
    zero_grad, backward, step per batch) and returns (mean loss over the examples, accuracy)."""
    import copy

    import torch

    name = "Exercise 1.7 train_epoch"
    hint = ("model.train(); then for each batch (x, y) of the loader: scores = model(x), "
            "loss = F.cross_entropy(scores, y), optimizer.zero_grad(), loss.backward(), optimizer.step(); "
            "add up loss.item() * len(y) and the correct predictions, divide both by the number of examples.")
    cases = [("SGD, 60 examples in batches of 16", ("sgd", 16)),
             ("Adam, 60 examples in batches of 32", ("adam", 32))]

    def judge(fn, case):
        kind, batch_size = case
        model, loader = _loop_problem(batch_size=batch_size)
        reference = copy.deepcopy(model)
        make = ((lambda p: torch.optim.SGD(p, lr=0.5)) if kind == "sgd"
                else (lambda p: torch.optim.Adam(p, lr=0.05)))
        model.eval()                                  # as evaluate() leaves it: train_epoch must switch
        seen, handle = _modes(model)
        try:
            got, error = call(fn, model, loader, make(model.parameters()))
        finally:
            handle.remove()
        if error:
            return _device_hint(error)
        values, problem = _pair(got, "train_epoch")
        if got is None:
            return problem
        n, n_batches = len(loader.dataset), len(loader)
        ref = _reference_epoch(reference, loader, make(reference.parameters()))
        if not seen:
            return "the model was never called: run each batch through it, scores = model(x)"
        if len(seen) < n_batches:
            return (f"the model saw {len(seen)} of the {n_batches} batches: loop over the whole loader "
                    "(is there a `return` or `break` inside the loop?)")
        if not all(training for training, _ in seen):
            return ("the model was in evaluation mode while it trained: call model.train() at the start "
                    "(evaluate() switches to model.eval(), and layers such as dropout and batch norm "
                    "behave differently in the two modes)")
        trained = [p.detach() for p in model.parameters()]
        expected = [p.detach() for p in reference.parameters()]
        if not all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(trained, expected)):
            start = [p.detach() for p in _loop_problem(batch_size=batch_size)[0].parameters()]
            if all(torch.equal(a, b) for a, b in zip(trained, start)):
                return "the weights did not change: call optimizer.step() after loss.backward() for each batch"
            piled = copy.deepcopy(_loop_problem(batch_size=batch_size)[0])
            _reference_epoch(piled, loader, make(piled.parameters()), zero_grad=False)
            if all(torch.allclose(a, b.detach(), rtol=1e-4, atol=1e-6)
                   for a, b in zip(trained, piled.parameters())):
                return ("the weights are off: without optimizer.zero_grad() before loss.backward() each "
                        "batch's gradient is added to those of the batches before it")
            return ("after one epoch the weights differ from one step per batch (zero_grad, backward, step, "
                    "in that order, once per batch)")
        if problem:
            return problem
        return _loss_and_accuracy(values, ref, n_batches, n)

    with _quiet():
        return check_cases(name, fn, cases, judge, hint=hint)


def evaluate(fn):
    """Exercise 1.8: ``evaluate(model, loader)`` returns (mean loss, accuracy) over the loader,
    in evaluation mode and without gradients, and changes nothing."""
    import copy

    import torch

    name = "Exercise 1.8 evaluate"
    hint = ("model.eval(); with torch.no_grad(): for each batch (x, y): scores = model(x), add up "
            "F.cross_entropy(scores, y).item() * len(y) and the correct predictions "
            "((scores.argmax(1) == y).sum().item()); divide both by the number of examples.")
    cases = [("60 examples in batches of 16", 16), ("60 examples in one batch", 64)]

    def judge(fn, batch_size):
        model, loader = _loop_problem(batch_size=batch_size, seed=1)
        before = copy.deepcopy(model)
        model.train()
        seen, handle = _modes(model)
        try:
            got, error = call(fn, model, loader)
        finally:
            handle.remove()
        if error:
            return _device_hint(error)
        values, problem = _pair(got, "evaluate")
        if got is None:
            return problem
        if not seen:
            return "the model was never called: run each batch through it, scores = model(x)"
        if any(training for training, _ in seen):
            return ("the model was in training mode: call model.eval() first (dropout and batch norm "
                    "must behave as they do on new data)")
        if any(grad for _, grad in seen):
            return ("gradients were computed: wrap the loop in `with torch.no_grad():`, which saves the "
                    "memory and time that the graph for backward() would take")
        if not all(torch.equal(a, b) for a, b in zip(model.parameters(), before.parameters())):
            return "evaluating changed the weights: evaluate() must not call backward() or optimizer.step()"
        if problem:
            return problem
        ref = _reference_eval(before, loader)
        return _loss_and_accuracy(values, ref, len(loader), len(loader.dataset))

    with _quiet():
        return check_cases(name, fn, cases, judge, hint=hint)
