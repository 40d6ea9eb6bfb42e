"""Checks for Lab 02, the multilayer perceptron (Keras and PyTorch versions).

Each check runs the student's answer on cases whose results are known and prints one
verdict line. ``make_mlp`` accepts a Keras model or a ``torch.nn.Module`` and judges it
by its layer sizes and by what it computes, so any way of writing it that builds the
right network passes.
"""
import re
import sys

import numpy as np

from . import call, check_cases, check_function, compare, to_numpy

ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
}


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _mlp(x, weights, biases, activation="relu"):
    """Reference forward pass: hidden layers with ``activation``, softmax output."""
    h = np.asarray(x, dtype=np.float64)
    for w, b in zip(weights[:-1], biases[:-1]):
        h = ACTIVATIONS[activation](h @ w + b)
    return _softmax(h @ weights[-1] + biases[-1])


# ----------------------------------------------------------------------------- Exercise 2.1


def _framework(model):
    """'keras', 'torch' or None. Keras is tested first: on its torch backend a Keras model
    is also a torch.nn.Module."""
    if "keras" in sys.modules:
        import keras

        if isinstance(model, keras.Model):
            return "keras"
    if "torch" in sys.modules:
        import torch

        if isinstance(model, torch.nn.Module):
            return "torch"
    return None


def _run_model(model, kind, x):
    """The model's output for images ``x`` (N, 28, 28) as float64 NumPy, and its dense layers
    as a list of (W of shape (in, out), b or None)."""
    if kind == "keras":
        import keras

        out = to_numpy(model(x[..., None], training=False))
        layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        dense = []
        for layer in layers:
            params = [to_numpy(v) for v in layer.get_weights()]
            dense.append((params[0], params[1] if len(params) > 1 else None))
        return out.astype(np.float64), dense
    import torch

    params = list(model.parameters())
    where = params[0].device if params else "cpu"
    model.eval()
    with torch.no_grad():
        out = to_numpy(model(torch.from_numpy(x[:, None]).to(where)))
    dense = [(to_numpy(m.weight).T, None if m.bias is None else to_numpy(m.bias))
             for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return out.astype(np.float64), dense


def _short_error(e):
    """The gist of an exception's message (Keras's can print whole tensors)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    gist = re.search(r"Expected shape [^\n]*", text) or re.search(r"[^\n]*shapes? [^\n]*", text)
    line = gist.group(0) if gist else (text.strip().splitlines() or [""])[0]
    return line if len(line) <= 200 else line[:200] + "..."


def _sizes(dense):
    return [dense[0][0].shape[0]] + [w.shape[1] for w, _ in dense] if dense else []


def _judge_model(model, hidden, activation):
    """None when ``model`` is the MLP 784-hidden-10 with ``activation``, else what differs."""
    kind = _framework(model)
    if kind is None:
        return f"expected a Keras model or a torch.nn.Module, got {type(model).__name__}"
    x = np.random.default_rng(2).random((4, 28, 28)).astype(np.float32)
    try:
        out, dense = _run_model(model, kind, x)
    except Exception as e:  # noqa: BLE001 - a broken model is reported, not raised
        shape = "(4, 28, 28, 1)" if kind == "keras" else "(4, 1, 28, 28)"
        return (f"running the model on a batch of 4 images {shape} raised {type(e).__name__}: "
                f"{_short_error(e)}\n   The model takes images and flattens them itself (its first layer).")
    want = [784, *hidden, 10]
    got = _sizes(dense)
    if got != want:
        return (f"expected dense layers {' -> '.join(map(str, want))}, "
                f"got {' -> '.join(map(str, got)) or 'no dense layer'}")
    if any(b is None for _, b in dense):
        return "every dense layer needs a bias"
    if out.shape != (4, 10):
        return f"expected an output of shape (4, 10) for 4 images, got {out.shape}"
    weights = [w.astype(np.float64) for w, _ in dense]
    biases = [b.astype(np.float64) for _, b in dense]
    probs = _mlp(x.reshape(4, -1), weights, biases, activation)
    if kind == "keras":
        if compare(out, probs, rtol=1e-3, atol=1e-4) is None:
            return None
        if np.allclose(_softmax(out), probs, rtol=1e-3, atol=1e-4):
            return "the output layer gives scores, not probabilities: give it activation='softmax'"
    else:                             # PyTorch: scores, the softmax is left to the loss
        if np.allclose(_softmax(out), probs, rtol=1e-3, atol=1e-4):
            return None
        if np.allclose(out, probs, rtol=1e-3, atol=1e-4):
            return ("the model ends with a softmax: leave it out (F.cross_entropy applies it to the "
                    "scores)")
    for other in ACTIVATIONS:
        if other != activation:
            alt = _mlp(x.reshape(4, -1), weights, biases, other)
            target = out if kind == "keras" else _softmax(out)
            if np.allclose(target, alt, rtol=1e-3, atol=1e-4):
                return f"the hidden layers compute {other}, expected {activation}"
    return ("the layer sizes are right but the output is not what a dense network with "
            f"{activation} hidden layers computes (an activation missing, or one too many?)")


def make_mlp(fn):
    """Exercise 2.1: ``make_mlp(hidden, activation)`` builds the MLP 784-hidden-10."""
    name = "Exercise 2.1 make_mlp"
    hint = ("one dense layer per entry of `hidden`, each followed by the activation, then a "
            "dense layer of 10 outputs")
    cases = [((64,), "tanh"), ((32, 16), "relu"), ((), "relu"), ((20, 12, 8), "sigmoid")]

    def judge(fn, case):
        hidden, activation = case
        model, error = call(fn, hidden, activation)
        return error or _judge_model(model, hidden, activation)

    return check_cases(name, fn, [(f"make_mlp({h}, {a!r})", (h, a)) for h, a in cases], judge, hint=hint)


# ----------------------------------------------------------------------------- Exercise 2.2


def count_params(fn):
    """Exercise 2.2: parameters of a dense network with the given layer sizes."""
    cases = [
        ([784, 10], 7_850),
        ([2, 3, 1], 13),
        ([784, 256, 128, 10], 235_146),
        ([784, 512, 512, 10], 669_706),
        ([100, 1], 101),
    ]
    return check_function("Exercise 2.2 count_params", fn, [((sizes,), np.int64(n)) for sizes, n in cases],
                          rtol=0, atol=0,
                          hint="a layer from n_in to n_out units has n_in * n_out weights and n_out biases")


# ----------------------------------------------------------------------------- Exercise 3.1


def _forward_cases():
    rng = np.random.default_rng(3)

    def net(sizes, scale=1.0):
        ws = [rng.normal(0, scale, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
        bs = [rng.normal(0, scale, b) for b in sizes[1:]]
        return ws, bs

    cases = []
    x = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 2.0]])
    w = [np.array([[1.0, -1.0], [0.5, 0.0], [-2.0, 1.0]])]
    b = [np.array([0.1, -0.2])]
    cases.append(((x, w, b), _mlp(x, w, b), "no hidden layer: softmax(x W + b)"))
    w = [np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0], [1.0, 1.0, 1.0]]),
         np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])]
    b = [np.array([0.0, -1.0, 0.5]), np.array([0.0, 0.1])]
    cases.append(((x, w, b), _mlp(x, w, b), "one hidden layer, some pre-activations negative"))
    x = rng.random((5, 6))
    ws, bs = net([6, 8, 4, 3])
    cases.append(((x, ws, bs), _mlp(x, ws, bs), "two hidden layers, 5 examples"))
    ws, bs = net([6, 5, 4], scale=60.0)
    cases.append(((x, ws, bs), _mlp(x, ws, bs), "huge scores: the softmax must not overflow"))
    return cases


def forward(fn):
    """Exercise 3.1: forward propagation with ReLU hidden layers and a softmax output."""
    name = "Exercise 3.1 forward"
    hint = ("for every layer but the last, h = relu(h @ W + b); the last gives scores z = h @ W + b, "
            "and softmax(z) row by row (subtract each row's max before np.exp)")
    def judge(fn, case):
        (x, ws, bs), expected = case
        got, error = call(fn, x.copy(), [w.copy() for w in ws], [b.copy() for b in bs])
        return error or compare(got, expected, rtol=1e-5, atol=1e-7)

    return check_cases(name, fn, [(d, (a, e)) for a, e, d in _forward_cases()], judge, hint=hint)


# ----------------------------------------------------------------------------- Exercise 4.1

_X = np.array([-20.0, -3.0, -1.0, -0.5, 0.0, 0.5, 2.0, 10.0])
_X2 = np.array([[-2.0, -0.1], [0.3, 4.0]])


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _elu_grad(x, alpha=1.0):
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


def elu(fn):
    """Exercise 4.1: the ELU, elementwise, with its ``alpha``."""
    nonzero = _X[_X != 0]
    cases = [((_X,), _elu(_X)), ((nonzero, 0.5), _elu(nonzero, 0.5)), ((_X2,), _elu(_X2))]
    return check_function("Exercise 4.1 elu", fn, cases,
                          hint="x for x > 0, and alpha * (exp(x) - 1) for x <= 0, elementwise")


def elu_grad(fn):
    """Exercise 4.1: the ELU's derivative, elementwise."""
    nonzero = _X[_X != 0]
    cases = [((_X,), _elu_grad(_X)), ((nonzero, 0.5), _elu_grad(nonzero, 0.5)), ((_X2,), _elu_grad(_X2))]
    return check_function("Exercise 4.1 elu_grad", fn, cases,
                          hint="the slope is 1 for x > 0 and alpha * exp(x) for x <= 0 (which is elu(x) + alpha)")
