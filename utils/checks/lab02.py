"""Checks for Lab 02, the multilayer perceptron (Keras and PyTorch versions).

    checks.lab02.make_mlp(make_mlp)           # Exercise 2.1
    checks.lab02.count_params(count_params)   # Exercise 2.2
    checks.lab02.forward(forward)             # Exercise 2.3
    checks.lab02.elu(elu)                     # Exercise 2.4
    checks.lab02.elu_grad(elu_grad)           # Exercise 2.4

Each check runs the student's answer on cases whose results are known and prints one
verdict. ``make_mlp`` accepts any Keras model or ``torch.nn.Module`` (a ``Sequential``, or
a subclass written in the notebook) and judges it by its dense layers' sizes and by what
it computes with its own weights against a reference forward pass, so any way of writing
it that builds the right network passes, and a missing activation, a softmax where scores
are expected or a wrong size does not.
"""
import re
import sys

import numpy as np

from . import call, call_on_copies, check_cases, compare, framework_of, to_numpy
from .lab01 import _numpy_check, _quiet, _same

ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
}


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _scores(x, weights, biases, activation="relu"):
    """Reference forward pass up to the output scores: hidden layers with ``activation``."""
    h = np.asarray(x, dtype=np.float64)
    act = ACTIVATIONS.get(activation, activation)
    for w, b in zip(weights[:-1], biases[:-1]):
        h = act(h @ w + b)
    return h @ weights[-1] + biases[-1]


def _mlp(x, weights, biases, activation="relu"):
    """Reference forward pass: hidden layers with ``activation``, softmax output."""
    return _softmax(_scores(x, weights, biases, activation))


# ----------------------------------------------------------------------------- Exercise 2.1


def _keras_dense(layer):
    """The Dense layers inside a Keras layer or model, nested models included, in order."""
    import keras

    if isinstance(layer, keras.layers.Dense):
        return [layer]
    return [d for sub in getattr(layer, "layers", []) for d in _keras_dense(sub)]


def _chain(dense, n_in=784):
    """The dense layers in the order the data flows through them, found by matching each layer's
    input size with the previous one's output (a subclass may create them in another order);
    the order they were found in when that is ambiguous."""
    remaining, ordered = list(range(len(dense))), []
    while remaining:
        following = [i for i in remaining if dense[i][0].shape[0] == n_in]
        if len(following) != 1:
            return dense
        ordered.append(dense[following[0]])
        remaining.remove(following[0])
        n_in = dense[following[0]][0].shape[1]
    return ordered


def _run_model(model, kind, x):
    """The model's output for images ``x`` (N, 28, 28) as float64 NumPy, and its dense layers
    as a list of (W of shape (in, out), b or None)."""
    if kind == "keras":
        out = to_numpy(model(x[..., None], training=False))
        dense = []
        for layer in _keras_dense(model):
            params = [to_numpy(v) for v in layer.get_weights()]
            dense.append((params[0], params[1] if len(params) > 1 else None))
        return out.astype(np.float64), _chain(dense)
    import torch

    params = list(model.parameters())
    where = params[0].device if params else "cpu"
    model.eval()
    with torch.no_grad():
        out = to_numpy(model(torch.from_numpy(x[:, None]).to(where)))
    dense = [(to_numpy(m.weight).T, None if m.bias is None else to_numpy(m.bias))
             for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return out.astype(np.float64), _chain(dense)


def _short_error(e):
    """The gist of an exception's message (Keras's can print whole tensors)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    gist = re.search(r"Expected shape [^\n]*", text) or re.search(r"[^\n]*shapes? [^\n]*", text)
    line = gist.group(0) if gist else (text.strip().splitlines() or [""])[0]
    return line if len(line) <= 200 else line[:200] + "..."


def _sizes(dense):
    return [dense[0][0].shape[0]] + [w.shape[1] for w, _ in dense] if dense else []


def _close(a, b):
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-3, atol=1e-4))


def _judge_model(model, hidden, activation):
    """None when ``model`` is the MLP 784-hidden-10 with ``activation``, else what differs."""
    if model is None:
        return "got None: did make_mlp forget to `return` the model?"
    kind = framework_of(model)
    if kind is None:
        if isinstance(model, (list, tuple)):
            kinds = {framework_of(layer, layer=True) for layer in model} - {None}    # the layers tell the framework
            keras_layers = kinds == {"keras"} or (not kinds and "keras" in sys.modules and "torch" not in sys.modules)
            return (f"expected a model, got a Python {type(model).__name__} of layers: wrap them in "
                    + ("keras.Sequential([...])" if keras_layers else "nn.Sequential(*layers)"))
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
    if not dense and kind == "torch" and out.shape == (4, 10):
        return ("the model computes something but PyTorch finds no nn.Linear in it: layers kept in a plain "
                "Python list are invisible to PyTorch (and to the optimizer); use nn.Sequential or nn.ModuleList")
    if got != want:
        return (f"expected dense layers {' -> '.join(map(str, want))}, "
                f"got {' -> '.join(map(str, got)) or 'no dense layer'}")
    if any(b is None for _, b in dense):
        return "every dense layer needs a bias"
    if out.shape != (4, 10):
        return f"expected an output of shape (4, 10) for 4 images, got {out.shape}"
    weights = [w.astype(np.float64) for w, _ in dense]
    biases = [b.astype(np.float64) for _, b in dense]
    flat = x.reshape(4, -1)
    scores = _scores(flat, weights, biases, activation)
    probs = _softmax(scores)
    if kind == "keras":
        if _close(out, probs):
            return None
        if _close(_softmax(out), probs):
            return "the output layer gives scores, not probabilities: give it activation='softmax'"
        target = out
    else:                             # PyTorch: scores, the softmax is left to the loss
        if _close(_softmax(out), probs):
            return None
        if _close(out, probs):
            return ("the model ends with a softmax: leave it out (F.cross_entropy applies it to the "
                    "scores)")
        if _close(_softmax(out), _softmax(np.maximum(scores, 0))):
            return ("the output layer is followed by an activation: the last nn.Linear gives the scores "
                    "as they are (an activation there would clip or squash them)")
        target = _softmax(out)
    alternatives = {**{k: f for k, f in ACTIVATIONS.items() if k != activation}, "no activation": lambda z: z}
    for other, function in alternatives.items():
        if _close(target, _mlp(flat, weights, biases, function)):
            if other == "no activation":
                return (f"the hidden layers have no activation: each needs {activation} (without one, "
                        "the layers collapse into a single linear layer)")
            return f"the hidden layers compute {other}, expected {activation} (the `activation` argument)"
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
        if error and "is not a Module subclass" in error:
            return (error + "\n   ACTIVATIONS[activation] is a class: call it, ACTIVATIONS[activation](), "
                    "to make the layer")
        if error:
            return error
        with _quiet():
            return _judge_model(model, hidden, activation)

    return check_cases(name, fn, [(f"make_mlp({h}, {a!r})", (h, a)) for h, a in cases], judge, hint=hint)


# ----------------------------------------------------------------------------- Exercise 2.2


def _count(sizes):
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def count_params(fn):
    """Exercise 2.2: parameters of a dense network with the given layer sizes."""
    cases = [[784, 10], [2, 3, 1], [784, 256, 128, 10], [784, 512, 512, 10], [100, 1], (3, 4, 2)]

    def diagnose(got, args):
        sizes = list(args[0])
        pairs = list(zip(sizes[:-1], sizes[1:]))
        try:
            g = to_numpy(got)
        except Exception:  # noqa: BLE001
            return None
        if g.ndim == 1 and len(g) == len(pairs) and g.sum() == _count(sizes):
            return "that is each layer's count: return their sum, one number"
        if g.size != 1:
            return None
        g = float(g.ravel()[0])
        for wrong, message in [
                (sum(a * b for a, b in pairs), "only the weights: each layer also has one bias per output unit"),
                (sum(a * b for a, b in pairs) + sum(sizes),
                 "the input layer has no biases: a layer from n_in to n_out units has n_out biases"),
                (sum(a * b + a for a, b in pairs), "a layer's biases number its outputs n_out, not its inputs")]:
            if wrong != _count(sizes) and g == wrong:
                return message
        return None

    return _numpy_check("Exercise 2.2 count_params", fn, [((sizes,), np.int64(_count(sizes))) for sizes in cases],
                        diagnose=diagnose, rtol=0, atol=0,
                        hint="a layer from n_in to n_out units has n_in * n_out weights and n_out biases")


# ----------------------------------------------------------------------------- Exercise 2.3


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
    cases.append(((x, w, b), "no hidden layer: softmax(x W + b)"))
    w = [np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0], [1.0, 1.0, 1.0]]),
         np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])]
    b = [np.array([0.0, -1.0, 0.5]), np.array([0.0, -3.0])]
    cases.append(((x, w, b), "one hidden layer, some pre-activations and scores negative"))
    x5 = rng.random((5, 6))
    ws, bs = net([6, 8, 4, 3])
    cases.append(((x5, ws, bs), "two hidden layers, 5 examples"))
    far = np.array([[1.0, 0.0], [300.0, 0.0]])              # two rows whose scores are far apart
    w = [np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]]), np.array([[3.0, 0.0], [0.0, 1.0], [1.0, -2.0]])]
    b = [np.zeros(3), np.zeros(2)]
    cases.append(((far, w, b), "rows far apart: each row's own max"))
    ws, bs = net([6, 5, 4], scale=60.0)
    cases.append(((x5, ws, bs), "huge scores: the softmax must not overflow"))
    ws, bs = net([6, 5, 3])
    cases.append(((x5.astype(np.float32), [v.astype(np.float32) for v in ws], [v.astype(np.float32) for v in bs]),
                  "float32 inputs and weights"))
    return [(args, _mlp(*args), label) for args, label in cases]


def forward(fn):
    """Exercise 2.3: forward propagation with ReLU hidden layers and a softmax output."""
    name = "Exercise 2.3 forward"
    hint = ("for every layer but the last, h = relu(h @ W + b); the last gives scores z = h @ W + b, "
            "and softmax(z) row by row (subtract each row's max before np.exp)")

    def diagnose(got, args):
        x, ws, bs = args
        scores = _scores(x, ws, bs)
        relu_all = _softmax(np.maximum(scores, 0))
        slips = [(scores, "that returns the scores: turn them into probabilities with the softmax"),
                 (relu_all, "the output layer got a ReLU too: only the hidden layers have one, the last "
                            "layer's scores go straight into the softmax"),
                 (_softmax(scores, axis=0), "the softmax normalises each row (axis=-1), not each column"),
                 (_mlp(x, ws, bs, "sigmoid"), "the hidden layers use a sigmoid: this network's are ReLUs"),
                 (_mlp(x, ws, bs, lambda z: z), "the hidden layers need their ReLU, np.maximum(h @ W + b, 0)")]
        e = np.exp(scores - scores.max())
        slips.append((e / e.sum(axis=-1, keepdims=True),
                      "subtracting the largest score of the whole batch (z.max()) leaves rows far below it "
                      "at e^-300 = 0, and 0 / 0 = NaN: subtract each row's own max, z.max(axis=-1, keepdims=True)"))
        expected = _mlp(x, ws, bs)
        for wrong, message in slips:
            if not _same(wrong, expected) and _same(got, wrong):
                return message
        g = to_numpy(got).astype(float)
        if np.isnan(g).any() or np.isinf(g).any():
            return ("np.exp overflowed (inf / inf is NaN): subtract each row's largest score before np.exp")
        return None

    cases = _forward_cases()

    def judge(fn, case):
        args, expected = case
        with _quiet():
            got, error = call_on_copies(fn, *args)
        if error:
            return error
        f32 = args[0].dtype == np.float32
        problem = compare(got, expected, rtol=1e-4 if f32 else 1e-5, atol=1e-6 if f32 else 1e-7, numpy=True)
        if problem and not problem.startswith("expected a NumPy"):
            with _quiet():
                slip = diagnose(got, args)
            if slip:
                return f"{slip}\n   {problem}"
        return problem

    return check_cases(name, fn, [(label, (args, expected)) for args, expected, label in cases], judge, hint=hint)


# ----------------------------------------------------------------------------- Exercise 2.4

_X = np.array([-20.0, -3.0, -1.0, -0.5, 0.0, 0.5, 2.0, 10.0])
_X2 = np.array([[-2.0, -0.1], [0.3, 4.0]])
_X32 = np.array([-1.5, 0.25, 3.0], dtype=np.float32)


def _elu(x, alpha=1.0):
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _elu_grad(x, alpha=1.0):
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


def _elu_cases(reference):
    nonzero = _X[_X != 0]          # at 0 either side's slope is accepted
    return [((_X,), reference(_X)), ((nonzero, 0.5), reference(nonzero, 0.5)), ((_X2,), reference(_X2)),
            ((_X32, 2.0), reference(_X32, 2.0))]


def elu(fn):
    """Exercise 2.4: the ELU, elementwise, with its ``alpha``."""
    def diagnose(got, args):
        x, alpha = args[0], (args[1] if len(args) > 1 else 1.0)
        if alpha != 1.0 and _same(got, _elu(x)):
            return f"the answer ignores alpha (here {alpha}): multiply the negative side by alpha"
        if _same(got, np.where(x > 0, x, alpha * np.exp(np.minimum(x, 0)))):
            return "for x <= 0 the ELU is alpha * (exp(x) - 1): the - 1 makes it 0 at x = 0"
        return None

    return _numpy_check("Exercise 2.4 elu", fn, _elu_cases(_elu), diagnose=diagnose,
                        hint="x for x > 0, and alpha * (exp(x) - 1) for x <= 0, elementwise")


def elu_grad(fn):
    """Exercise 2.4: the ELU's derivative, elementwise."""
    def diagnose(got, args):
        x, alpha = args[0], (args[1] if len(args) > 1 else 1.0)
        if alpha != 1.0 and _same(got, _elu_grad(x)):
            return f"the answer ignores alpha (here {alpha}): the slope for x <= 0 is alpha * exp(x)"
        if _same(got, _elu(x, alpha)):
            return "that is the ELU itself: its derivative is 1 for x > 0 and alpha * exp(x) for x <= 0"
        return None

    return _numpy_check("Exercise 2.4 elu_grad", fn, _elu_cases(_elu_grad), diagnose=diagnose,
                        hint="the slope is 1 for x > 0 and alpha * exp(x) for x <= 0 (which is elu(x) + alpha)")

