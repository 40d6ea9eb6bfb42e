"""Lab 03's checks: right answers written two ways pass, the wrong answers students write get a
verdict that names the mistake, and no right answer is refused (a numerical gradient that
perturbs and restores x)."""
import json
import re

import numpy as np
import pytest
from conftest import ROOT

from utils import checks
from utils.checks import lab03


def verdict(capsys, check, *args):
    v = check(*args)
    return bool(v), capsys.readouterr().out


# ----------------------------------------------------------------------------- 3.1


def xyz_steps(x, y, z):
    q = x + y
    return q * z, z, z, q


def xyz_calculus(x, y, z):            # expanded: f = xz + yz
    return x * z + y * z, z, z, x + y


def test_xyz_right_answers_pass(capsys):
    for fn in (xyz_steps, xyz_calculus):
        ok, out = verdict(capsys, lab03.xyz_gradients, fn)
        assert ok and out.startswith("✅ Exercise 3.1 xyz_forward_backward: correct"), out


def test_xyz_multiply_not_swapped(capsys):
    ok, out = verdict(capsys, lab03.xyz_gradients, lambda x, y, z: ((x + y) * z, x + y, x + y, z))
    assert not ok and "❌ Exercise 3.1" in out and "wrong way round" in out


def test_xyz_three_values(capsys):
    ok, out = verdict(capsys, lab03.xyz_gradients, lambda x, y, z: (z, z, x + y))
    assert not ok and "expected 4 values" in out


# ----------------------------------------------------------------------------- 3.2


def gate_shortcut(w, x):
    z = w[0] * x[0] + w[1] * x[1] + w[2]
    f = 1 / (1 + np.exp(-z))
    return f, f * (1 - f) * np.array([x[0], x[1], 1.0]), f * (1 - f) * w[:2]


def gate_vectorised(w, x):
    f = 1 / (1 + np.exp(-(w @ np.append(x, 1.0))))
    dz = f * (1 - f)
    return f, dz * np.append(x, 1.0), dz * w[:-1]


def test_sigmoid_gate_right_answers_pass(capsys):
    for fn in (gate_shortcut, gate_vectorised):
        ok, out = verdict(capsys, lab03.sigmoid_gate, fn)
        assert ok and "✅ Exercise 3.2 sigmoid_gate" in out, out


def test_sigmoid_gate_local_gradient_f_instead_of_f_one_minus_f(capsys):
    def wrong(w, x):
        f, _, _ = gate_shortcut(w, x)
        return f, f * np.array([x[0], x[1], 1.0]), f * w[:2]

    ok, out = verdict(capsys, lab03.sigmoid_gate, wrong)
    assert not ok and "f (1 - f), not f" in out


def test_sigmoid_gate_forgets_the_bias_entry(capsys):
    def wrong(w, x):
        f, dw, dx = gate_shortcut(w, x)
        return f, dw[:2], dx

    ok, out = verdict(capsys, lab03.sigmoid_gate, wrong)
    assert not ok and "dw has 2 entries, expected 3" in out


def test_sigmoid_gate_lists_are_refused(capsys):
    ok, out = verdict(capsys, lab03.sigmoid_gate, lambda w, x: (lambda f, dw, dx: (f, list(dw), list(dx)))(
        *gate_shortcut(w, x)))
    assert not ok and "expected a NumPy array, got a Python list" in out


# ----------------------------------------------------------------------------- 3.3


def norm_outer(W, x):
    q = W @ x
    return np.sum(q ** 2), 2 * np.outer(q, x), 2 * W.T @ q


def norm_broadcast(W, x):
    q = W.dot(x)
    return q @ q, 2 * q[:, None] * x[None, :], 2 * (q @ W)


def test_norm_sq_right_answers_pass(capsys):
    for fn in (norm_outer, norm_broadcast):
        ok, out = verdict(capsys, lab03.norm_sq_grads, fn)
        assert ok and "✅ Exercise 3.3 norm_sq_grads" in out, out


@pytest.mark.parametrize("wrong, words", [
    (lambda W, x: (np.sum((W @ x) ** 2), 2 * np.outer(x, W @ x), 2 * W.T @ (W @ x)), "dW is transposed"),
    (lambda W, x: (np.sum((W @ x) ** 2), np.outer(W @ x, x), W.T @ (W @ x)), "the factor 2 is missing"),
    (lambda W, x: (np.linalg.norm(W @ x), 2 * np.outer(W @ x, x), 2 * W.T @ (W @ x)), "its square"),
])
def test_norm_sq_wrong_answers_are_named(capsys, wrong, words):
    ok, out = verdict(capsys, lab03.norm_sq_grads, wrong)
    assert not ok and words in out, out


def test_norm_sq_dx_without_transpose(capsys):
    ok, out = verdict(capsys, lab03.norm_sq_grads,
                      lambda W, x: (np.sum((W @ x) ** 2), 2 * np.outer(W @ x, x), 2 * W @ x))
    assert not ok and "❌ Exercise 3.3" in out and "shape" in out


# ----------------------------------------------------------------------------- 3.4


def numgrad_restore(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = f(x)
        x[i] = old - h
        minus = f(x)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def numgrad_plus_minus(f, x, h=1e-5):
    """Perturb and undo with += / -=: x ends within about 1e-16 of where it started (no false fail)."""
    grad = np.zeros(x.shape)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        i = it.multi_index
        x[i] += h
        plus = f(x)
        x[i] -= 2 * h
        minus = f(x)
        x[i] += h
        grad[i] = (plus - minus) / (2 * h)
        it.iternext()
    return grad


def numgrad_copies(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x, dtype=float)
        step[i] = h
        grad[i] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


def test_perturbing_and_restoring_x_leaves_it_changed_by_rounding_only():
    x = np.array([0.1, 0.7, -2.3])
    before = x.copy()
    numgrad_plus_minus(lambda v: np.sum(v ** 2), x)
    assert np.allclose(x, before, rtol=1e-12, atol=0)    # at most the last bits differ


@pytest.mark.parametrize("fn", [numgrad_restore, numgrad_plus_minus, numgrad_copies])
def test_numerical_gradient_right_answers_pass(capsys, fn):
    ok, out = verdict(capsys, lab03.numerical_gradient, fn)
    assert ok and "✅ Exercise 3.4 numerical_gradient: correct (3 cases)" in out, out


def test_numerical_gradient_that_does_not_restore_x(capsys):
    def forgets(f, x, h=1e-5):
        grad = np.zeros_like(x, dtype=float)
        for i in np.ndindex(x.shape):
            x[i] += h
            plus = f(x)
            x[i] -= 2 * h
            minus = f(x)
            grad[i] = (plus - minus) / (2 * h)
        return grad

    ok, out = verdict(capsys, lab03.numerical_gradient, forgets)
    assert not ok and "changed its input `x` in place" in out and "save each old value" in out


@pytest.mark.parametrize("wrong, words", [
    (lambda f, x, h=1e-5: np.array([(f(x + h * e) - f(x)) / h for e in np.eye(x.size)]).reshape(x.shape),
     "one-sided"),
    (lambda f, x, h=1e-5: np.array([(f(x + h * e) - f(x - h * e)) / h
                                    for e in np.eye(x.size)]).reshape(x.shape), "divides by 2 h"),
    (lambda f, x, h=1e-5: np.full(x.shape, (f(x + h) - f(x - h)) / (2 * h)), "one entry at a time"),
    (lambda f, x, h=1e-5: numgrad_restore(f, x, h).tolist(), "expected a NumPy array, got a Python list"),
])
def test_numerical_gradient_wrong_answers_are_named(capsys, wrong, words):
    ok, out = verdict(capsys, lab03.numerical_gradient, wrong)
    assert not ok and words in out, out


def test_numerical_gradient_endless_loop_is_stopped(capsys):
    def spins(f, x, h=1e-5):
        i = 0
        while i < x.size:           # i += 1 forgotten
            pass
        return x

    with checks.time_limit(0.3):
        ok, out = verdict(capsys, lab03.numerical_gradient, spins)
    assert not ok and "took more than 0.3 s" in out


# ----------------------------------------------------------------------------- 3.5


class Multiply:
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, dout):
        return dout * self.b, dout * self.a


class MultiplyNumpy:
    def forward(self, a, b):
        self.cache = (np.copy(a), np.copy(b))
        return np.multiply(a, b)

    def backward(self, dout):
        a, b = self.cache
        return [np.multiply(dout, b), np.multiply(dout, a)]


def test_multiply_right_answers_pass(capsys):
    for cls in (Multiply, MultiplyNumpy):
        ok, out = verdict(capsys, lab03.multiply_node, cls)
        assert ok and "✅ Exercise 3.5 Multiply" in out, out


def test_multiply_not_swapped(capsys):
    class Wrong(Multiply):
        def backward(self, dout):
            return dout * self.a, dout * self.b

    ok, out = verdict(capsys, lab03.multiply_node, Wrong)
    assert not ok and "wrong way round" in out


def test_multiply_ignores_dout(capsys):
    class Wrong(Multiply):
        def backward(self, dout):
            return self.b, self.a

    ok, out = verdict(capsys, lab03.multiply_node, Wrong)
    assert not ok and "ignore dout" in out


def test_multiply_instance_instead_of_class(capsys):
    ok, out = verdict(capsys, lab03.multiply_node, Multiply())
    assert not ok and "pass the class" in out


# ----------------------------------------------------------------------------- 3.6


def forward(params, X):
    z1 = X @ params["W1"] + params["b1"]
    h = np.maximum(z1, 0)
    s = h @ params["W2"] + params["b2"]
    e = np.exp(s - s.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    return probs, {"X": X, "z1": z1, "h": h, "probs": probs}


def backward_steps(params, cache, y):
    X, z1, h, probs = cache["X"], cache["z1"], cache["h"], cache["probs"]
    ds = probs.copy()
    ds[np.arange(len(y)), y] -= 1
    ds /= len(y)
    dz1 = ds @ params["W2"].T * (z1 > 0)
    return {"W2": h.T @ ds, "b2": ds.sum(0), "W1": X.T @ dz1, "b1": dz1.sum(0)}


def backward_one_hot(params, cache, y):
    n, k = cache["probs"].shape
    ds = (cache["probs"] - np.eye(k)[y]) / n
    dh = ds @ params["W2"].T
    dh[cache["h"] <= 0] = 0
    return {"W1": cache["X"].T @ dh, "b1": np.sum(dh, axis=0),
            "W2": cache["h"].T @ ds, "b2": np.sum(ds, axis=0)}


def test_backward_right_answers_pass(capsys):
    for fn in (backward_steps, backward_one_hot):
        ok, out = verdict(capsys, lab03.two_layer_backward, forward, fn)
        assert ok and "✅ Exercise 3.6 backward" in out, out


def test_backward_that_changes_probs_in_place(capsys):
    """ds = probs; ds[...] -= 1 changes cache["probs"], which the training loop reads afterwards."""
    def in_place(params, cache, y):
        ds = cache["probs"]
        ds[np.arange(len(y)), y] -= 1
        ds /= len(y)
        dz1 = ds @ params["W2"].T * (cache["z1"] > 0)
        return {"W2": cache["h"].T @ ds, "b2": ds.sum(0), "W1": cache["X"].T @ dz1, "b1": dz1.sum(0)}

    ok, out = verdict(capsys, lab03.two_layer_backward, forward, in_place)
    assert not ok and "changed its input `cache` in place" in out and "probs.copy()" in out


@pytest.mark.parametrize("change, words", [
    (lambda g, p, c, y: dict(g, W2=g["W2"] * len(y), b2=g["b2"] * len(y)), "divide dscores by N"),
    (lambda g, p, c, y: dict(g, b2=g["b2"][None].repeat(len(y), 0) / len(y)), "sum over the batch"),
    (lambda g, p, c, y: {k: v for k, v in g.items() if k != "b1"}, "has no b1"),
    (lambda g, p, c, y: dict(g, W1=list(g["W1"])), "expected a NumPy array"),
    (lambda g, p, c, y: None, "forget to `return`"),
])
def test_backward_wrong_answers_are_named(capsys, change, words):
    def wrong(params, cache, y):
        return change(backward_steps(params, cache, y), params, cache, y)

    ok, out = verdict(capsys, lab03.two_layer_backward, forward, wrong)
    assert not ok and words in out, out


def test_backward_without_the_relu_mask(capsys):
    def no_mask(params, cache, y):
        ds = cache["probs"].copy()
        ds[np.arange(len(y)), y] -= 1
        ds /= len(y)
        dz1 = ds @ params["W2"].T
        return {"W2": cache["h"].T @ ds, "b2": ds.sum(0), "W1": cache["X"].T @ dz1, "b1": dz1.sum(0)}

    ok, out = verdict(capsys, lab03.two_layer_backward, forward, no_mask)
    assert not ok and "ignores the ReLU" in out


def test_backward_stub_is_not_done(capsys):
    def stub(params, cache, y):
        raise NotImplementedError("Exercise 3.6 (backward): replace this line with your code")

    ok, out = verdict(capsys, lab03.two_layer_backward, forward, stub)
    assert not ok and "✏️ Exercise 3.6 backward: not done yet" in out


# ----------------------------------------------------------------------------- the notebook


def test_lab03_exercises_are_numbered_3_k_and_their_checks_name_them():
    nb = json.loads((ROOT / "labs_solutions" / "03_backprop_numpy.ipynb").read_text())
    headings = [re.match(r"### Exercise (\d+)\.(\d+): \S", "".join(c["source"]))
                for c in nb["cells"] if c["cell_type"] == "markdown" and "Exercise" in "".join(c["source"])[:30]]
    assert all(headings) and [(m[1], int(m[2])) for m in headings] == [("3", k) for k in range(1, 7)]
    verdicts = [line for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
                for line in "".join(o.get("text", "")).splitlines() if line.startswith(("✅", "❌", "✏️"))]
    numbered = [v for v in verdicts if "Exercise" in v]
    assert [re.search(r"Exercise (\d\.\d)", v)[1] for v in numbered] == [f"3.{k}" for k in range(1, 7)]
