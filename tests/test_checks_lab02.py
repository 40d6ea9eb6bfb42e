"""Lab 02's checks: correct answers written different ways pass (Sequential or a subclass,
Keras or PyTorch); the wrong answers students really write get a verdict that names the slip."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils.checks import lab02

ROOT = Path(__file__).resolve().parent.parent


def verdict(check, answer, capsys):
    passed = bool(check(answer))
    out = capsys.readouterr().out
    assert "Traceback" not in out
    return passed, out


def passes(check, answer, capsys):
    passed, out = verdict(check, answer, capsys)
    assert passed, out


def fails(check, answer, capsys, *expected):
    passed, out = verdict(check, answer, capsys)
    assert not passed, out
    for text in expected:
        assert text in out, out
    return out


# --------------------------------------------------------------------------- 2.1 make_mlp, PyTorch

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU}


def make_mlp(hidden=(256, 128), activation="relu"):
    layers, n_in = [nn.Flatten()], 784
    for units in hidden:
        layers += [nn.Linear(n_in, units), ACTIVATIONS[activation]()]
        n_in = units
    return nn.Sequential(*layers, nn.Linear(n_in, 10))


class MLP(nn.Module):
    """A subclass written in the notebook, its output layer created first."""

    def __init__(self, hidden, activation):
        super().__init__()
        self.out = nn.Linear(hidden[-1] if hidden else 784, 10)
        sizes = [784, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = {"relu": F.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "elu": F.elu}[activation]

    def forward(self, x):
        x = x.flatten(1)
        for layer in self.hidden:
            x = self.act(layer(x))
        return self.out(x)


class ListMLP(nn.Module):
    """Layers in a plain Python list: PyTorch does not see them."""

    def __init__(self, hidden, activation):
        super().__init__()
        sizes = [784, *hidden, 10]
        self.layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self.activation = activation

    def forward(self, x):
        x = x.flatten(1)
        for layer in self.layers[:-1]:
            x = torch.tanh(layer(x)) if self.activation == "tanh" else torch.relu(layer(x))
        return self.layers[-1](x)


def test_make_mlp_torch_right_three_ways(capsys):
    passes(lab02.make_mlp, make_mlp, capsys)
    passes(lab02.make_mlp, MLP, capsys)
    # log-probabilities are scores too: F.cross_entropy of them trains the same network
    passes(lab02.make_mlp, lambda h, a: nn.Sequential(make_mlp(h, a), nn.LogSoftmax(dim=1)), capsys)


def test_make_mlp_torch_softmax_where_scores_are_expected(capsys):
    fails(lab02.make_mlp, lambda h, a: nn.Sequential(make_mlp(h, a), nn.Softmax(dim=1)), capsys,
          "ends with a softmax: leave it out")


def test_make_mlp_torch_activation_after_the_output(capsys):
    fails(lab02.make_mlp, lambda h, a: nn.Sequential(make_mlp(h, a), nn.ReLU()), capsys,
          "output layer is followed by an activation")


def test_make_mlp_torch_missing_or_wrong_activation(capsys):
    def linear_only(hidden, activation):
        kinds = tuple(ACTIVATIONS.values())
        return nn.Sequential(*[m for m in make_mlp(hidden, activation) if not isinstance(m, kinds)])
    fails(lab02.make_mlp, linear_only, capsys, "no activation")
    fails(lab02.make_mlp, lambda h, a: make_mlp(h, "relu"), capsys, "compute relu, expected tanh")


def test_make_mlp_torch_wrong_sizes_or_no_flatten(capsys):
    fails(lab02.make_mlp, lambda h, a: make_mlp(h[:1], a), capsys, "expected dense layers")
    fails(lab02.make_mlp, lambda h, a: nn.Sequential(*list(make_mlp(h, a))[1:]), capsys,
          "flattens them itself")


def test_make_mlp_torch_plain_list_class_or_no_return(capsys):
    fails(lab02.make_mlp, ListMLP, capsys, "plain Python list", "nn.ModuleList")

    def uncalled_class(hidden, activation):
        layers, n_in = [nn.Flatten()], 784
        for units in hidden:
            layers += [nn.Linear(n_in, units), ACTIVATIONS[activation]]      # the class, not a layer
            n_in = units
        return nn.Sequential(*layers, nn.Linear(n_in, 10))
    fails(lab02.make_mlp, uncalled_class, capsys, "ACTIVATIONS[activation]()")

    def no_return(hidden, activation):
        make_mlp(hidden, activation)
    fails(lab02.make_mlp, no_return, capsys, "forget to `return` the model")
    fails(lab02.make_mlp, lambda h, a: list(make_mlp(h, a)), capsys, "nn.Sequential(*layers)")


# --------------------------------------------------------------------------- 2.1 make_mlp, Keras (own process)

KERAS_SCRIPT = textwrap.dedent('''
    import json, sys
    import keras
    from utils.checks import lab02

    def make_mlp(hidden=(256, 128), activation="relu", last="softmax", hidden_activation=True):
        layers = [keras.Input((28, 28, 1)), keras.layers.Flatten()]
        for units in hidden:
            layers.append(keras.layers.Dense(units, activation=activation if hidden_activation else None))
        layers.append(keras.layers.Dense(10, activation=last))
        return keras.Sequential(layers)

    class MLP(keras.Model):
        def __init__(self, hidden, activation):
            super().__init__()
            self.out = keras.layers.Dense(10, activation="softmax")
            self.flatten = keras.layers.Flatten()
            self.hidden = [keras.layers.Dense(u, activation=activation) for u in hidden]

        def call(self, x):
            x = self.flatten(x)
            for layer in self.hidden:
                x = layer(x)
            return self.out(x)

    def functional(hidden, activation):
        inputs = keras.Input((28, 28, 1))
        x = keras.layers.Flatten()(inputs)
        for units in hidden:
            x = keras.layers.Activation(activation)(keras.layers.Dense(units)(x))
        return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))

    def no_return(hidden, activation):
        make_mlp(hidden, activation)

    answers = {
        "sequential": make_mlp,
        "subclass": MLP,
        "functional": functional,
        "scores": lambda h, a: make_mlp(h, a, last=None),
        "no activation": lambda h, a: make_mlp(h, a, hidden_activation=False),
        "always relu": lambda h, a: make_mlp(h, "relu"),
        "wrong sizes": lambda h, a: make_mlp(tuple(2 * u for u in h), a),
        "no flatten": lambda h, a: keras.Sequential([keras.Input((784,))] + [keras.layers.Dense(u, activation=a)
                                                    for u in h] + [keras.layers.Dense(10, activation="softmax")]),
        "no return": no_return,
        "list": lambda h, a: [keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")],
    }
    import contextlib, io
    report = {}
    for name, answer in answers.items():
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            passed = bool(lab02.make_mlp(answer))
        report[name] = [passed, buffer.getvalue()]
    print("REPORT" + json.dumps(report))
''')


@pytest.fixture(scope="module", params=["tensorflow", "torch"])
def keras_report(request):
    env = {**os.environ, "KERAS_BACKEND": request.param, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", KERAS_SCRIPT], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT")]
    assert lines, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(lines[-1][len("REPORT"):])


def test_make_mlp_keras_right_three_ways(keras_report):
    for name in ("sequential", "subclass", "functional"):
        passed, out = keras_report[name]
        assert passed, out


@pytest.mark.parametrize("name, expected", [
    ("scores", "gives scores, not probabilities: give it activation='softmax'"),
    ("no activation", "the hidden layers have no activation"),
    ("always relu", "compute relu, expected tanh"),
    ("wrong sizes", "expected dense layers 784 -> 64 -> 10, got 784 -> 128 -> 10"),
    ("no flatten", "flattens them itself"),
    ("no return", "forget to `return` the model"),
    ("list", "keras.Sequential([...])"),
])
def test_make_mlp_keras_wrong(keras_report, name, expected):
    passed, out = keras_report[name]
    assert not passed and expected in out and "Traceback" not in out, out


# --------------------------------------------------------------------------- 2.2 count_params


def test_count_params_right_two_ways(capsys):
    passes(lab02.count_params, lambda s: sum(a * b + b for a, b in zip(s[:-1], s[1:])), capsys)

    def by_index(sizes):
        total = 0
        for k in range(1, len(sizes)):
            total += (sizes[k - 1] + 1) * sizes[k]
        return float(total)
    passes(lab02.count_params, by_index, capsys)


def test_count_params_wrong(capsys):
    fails(lab02.count_params, lambda s: sum(a * b for a, b in zip(s[:-1], s[1:])), capsys, "only the weights")
    fails(lab02.count_params, lambda s: sum(a * b + a for a, b in zip(s[:-1], s[1:])), capsys,
          "not its inputs")
    fails(lab02.count_params, lambda s: [a * b + b for a, b in zip(s[:-1], s[1:])], capsys,
          "each layer's count: return their sum")


# --------------------------------------------------------------------------- 2.3 forward


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def forward(x, weights, biases):
    h = x
    for W, b in zip(weights[:-1], biases[:-1]):
        h = np.maximum(h @ W + b, 0)
    return _softmax(h @ weights[-1] + biases[-1])


def test_forward_right_two_ways(capsys):
    passes(lab02.forward, forward, capsys)

    def with_scipy_and_where(x, weights, biases):
        import scipy.special
        h = x
        for k, (W, b) in enumerate(zip(weights, biases)):
            z = h @ W + b
            h = z if k == len(weights) - 1 else np.where(z > 0, z, 0.0)
        return scipy.special.softmax(h, axis=1)
    passes(lab02.forward, with_scipy_and_where, capsys)


def test_forward_global_max(capsys):
    def global_max(x, weights, biases):
        h = x
        for W, b in zip(weights[:-1], biases[:-1]):
            h = np.maximum(h @ W + b, 0)
        z = h @ weights[-1] + biases[-1]
        e = np.exp(z - z.max())
        return e / e.sum(axis=-1, keepdims=True)
    fails(lab02.forward, global_max, capsys, "rows far apart", "each row's own max")


def test_forward_relu_on_the_output_or_no_softmax(capsys):
    def relu_everywhere(x, weights, biases):
        h = x
        for W, b in zip(weights, biases):
            h = np.maximum(h @ W + b, 0)
        return _softmax(h)
    fails(lab02.forward, relu_everywhere, capsys, "the output layer got a ReLU too")

    def scores(x, weights, biases):
        h = x
        for W, b in zip(weights[:-1], biases[:-1]):
            h = np.maximum(h @ W + b, 0)
        return h @ weights[-1] + biases[-1]
    fails(lab02.forward, scores, capsys, "returns the scores")


def test_forward_in_place_or_tensor(capsys):
    def relu_in_place(x, weights, biases):
        np.maximum(x, 0, out=x)            # "the input is non-negative anyway"
        return forward(x, weights, biases)
    fails(lab02.forward, relu_in_place, capsys, "changed its input `x` in place")
    fails(lab02.forward, lambda x, w, b: torch.from_numpy(forward(x, w, b)), capsys, "got a torch.Tensor")


# --------------------------------------------------------------------------- 2.4 elu, elu_grad


def test_elu_right_and_wrong(capsys):
    passes(lab02.elu, lambda z, alpha=1.0: np.where(z > 0, z, alpha * (np.exp(np.minimum(z, 0)) - 1)), capsys)
    passes(lab02.elu, lambda z, alpha=1.0: np.maximum(z, 0) + alpha * np.expm1(np.minimum(z, 0)), capsys)
    fails(lab02.elu, lambda z, alpha=1.0: np.where(z > 0, z, np.exp(np.minimum(z, 0)) - 1), capsys,
          "ignores alpha")

    def in_place(z, alpha=1.0):
        neg = z <= 0
        z[neg] = alpha * (np.exp(z[neg]) - 1)
        return z
    fails(lab02.elu, in_place, capsys, "changed its input `z` in place")


def test_elu_grad_right_and_wrong(capsys):
    passes(lab02.elu_grad, lambda z, alpha=1.0: np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0))), capsys)
    passes(lab02.elu_grad, lambda z, alpha=1.0: np.where(z >= 0, 1.0, alpha * np.exp(np.minimum(z, 0))), capsys)
    fails(lab02.elu_grad, lambda z, alpha=1.0: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0))), capsys,
          "ignores alpha")
    fails(lab02.elu_grad, lambda z, alpha=1.0: np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0))), capsys,
          "that is the ELU itself")
