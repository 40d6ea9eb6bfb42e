"""Lab 04's checks. The NumPy exercises: right answers written two ways pass, the usual wrong ones
are named. The spec CNN (Exercise 4.5): judged by what it computes with its own weights, so a model
without ReLUs, with average pooling, strided convolutions or a softmax at the end fails with the
difference named, in PyTorch (here) and in Keras (in a subprocess: TensorFlow and torch in one
process need care, see HELPERS.md), on Keras's TensorFlow and torch backends."""
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import ROOT
from torch import nn

from utils.checks import lab04


def verdict(capsys, check, *args):
    v = check(*args)
    return bool(v), capsys.readouterr().out


# ----------------------------------------------------------------------------- 4.1 conv2d


def conv_loops(x, kernel, padding=0, stride=(1, 1)):
    x = np.pad(x, padding)
    (kh, kw), (sh, sw) = kernel.shape, stride
    out = np.zeros(((x.shape[0] - kh) // sh + 1, (x.shape[1] - kw) // sw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i * sh:i * sh + kh, j * sw:j * sw + kw] * kernel)
    return out


def conv_windows(x, kernel, padding=0, stride=(1, 1)):
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, padding), kernel.shape)
    return np.einsum("ijkl,kl->ij", windows[::stride[0], ::stride[1]], kernel)


def test_conv2d_right_answers_pass(capsys):
    for fn in (conv_loops, conv_windows):
        ok, out = verdict(capsys, lab04.conv2d, fn)
        assert ok and "✅ Exercise 4.1 conv2d: correct (7 cases)" in out, out


@pytest.mark.parametrize("wrong, words", [
    (lambda x, k, padding=0, stride=(1, 1): conv_loops(x, np.flip(k), padding, stride), "flipped the kernel"),
    (lambda x, k, padding=0, stride=(1, 1): conv_loops(x, k, padding, stride[::-1]), "strides are swapped"),
    (lambda x, k, padding=0, stride=(1, 1): conv_loops(x, k, 0, stride), "no padding"),
    (lambda x, k, padding=0, stride=(1, 1): conv_loops(x, k, padding, stride).tolist(), "NumPy array"),
    (lambda x, k, padding=0, stride=(1, 1): None, "forget to `return`"),
])
def test_conv2d_wrong_answers_are_named(capsys, wrong, words):
    ok, out = verdict(capsys, lab04.conv2d, wrong)
    assert not ok and "❌ Exercise 4.1 conv2d" in out and words in out, out


# ----------------------------------------------------------------------------- 4.2, 4.3: whole numbers


def test_sizes_and_counts_right_answers_pass(capsys):
    import math

    assert verdict(capsys, lab04.conv_output_size, lambda n, k, padding=0, stride=1:
                   (n + 2 * padding - k) // stride + 1)[0]
    assert verdict(capsys, lab04.conv_output_size, lambda n, k, padding=0, stride=1:
                   math.floor((n + 2 * padding - k) / stride) + 1)[0]
    assert verdict(capsys, lab04.conv_params, lambda kh, kw, c_in, c_out: (kh * kw * c_in + 1) * c_out)[0]
    assert verdict(capsys, lab04.conv_params,
                   lambda kh, kw, c_in, c_out: int(np.prod([kh, kw, c_in, c_out])) + c_out)[0]


def test_output_size_with_true_division(capsys):
    ok, out = verdict(capsys, lab04.conv_output_size, lambda n, k, padding=0, stride=1:
                      (n + 2 * padding - k) / stride + 1)
    assert not ok and "integer division" in out


def test_output_size_float_even_when_whole(capsys):
    ok, out = verdict(capsys, lab04.conv_output_size, lambda n, k, padding=0, stride=1:
                      float((n + 2 * padding - k) // stride + 1))
    assert not ok and "expected a whole number (an int), got the float 28.0" in out


def test_conv_params_without_bias_or_as_float(capsys):
    ok, out = verdict(capsys, lab04.conv_params, lambda kh, kw, c_in, c_out: kh * kw * c_in * c_out)
    assert not ok and "expected 140" in out
    ok, out = verdict(capsys, lab04.conv_params, lambda kh, kw, c_in, c_out: (kh * kw * c_in + 1) * c_out / 1)
    assert not ok and "whole number" in out


# ----------------------------------------------------------------------------- 4.4 max_pool2d


def pool_loops(x, size=2, stride=2):
    out = np.zeros(((x.shape[0] - size) // stride + 1, (x.shape[1] - size) // stride + 1, x.shape[2]))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = x[i * stride:i * stride + size, j * stride:j * stride + size].max(axis=(0, 1))
    return out


def pool_windows(x, size=2, stride=2):
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(0, 1))
    return windows[::stride, ::stride].max(axis=(-2, -1))


def test_max_pool_right_answers_pass(capsys):
    for fn in (pool_loops, pool_windows):
        ok, out = verdict(capsys, lab04.max_pool2d, fn)
        assert ok and "✅ Exercise 4.4 max_pool2d" in out, out


def test_max_pool_starting_from_zero(capsys):
    def from_zero(x, size=2, stride=2):
        return np.maximum(pool_loops(x, size, stride), 0)

    ok, out = verdict(capsys, lab04.max_pool2d, from_zero)
    assert not ok and "-inf" in out


def test_max_pool_over_the_channels_too(capsys):
    def all_channels(x, size=2, stride=2):
        out = pool_loops(x, size, stride)
        return np.repeat(out.max(axis=2, keepdims=True), x.shape[2], axis=2)

    ok, out = verdict(capsys, lab04.max_pool2d, all_channels)
    assert not ok and "values differ" in out


# ----------------------------------------------------------------------------- 4.5 spec CNN, PyTorch

S = nn.Sequential


def spec():
    return S(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(),
             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(576, 10))


class SpecModule(nn.Module):
    """The spec written as an nn.Module subclass: ReLU after pooling (the same for max pooling)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding="same")
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3)
        self.out = nn.Linear(16 * 6 * 6, 10)

    def forward(self, x):
        x = torch.relu(torch.max_pool2d(self.conv1(x), 2))
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.out(torch.flatten(x, 1))


RIGHT_TORCH = {
    "Sequential": spec,
    "nn.Module subclass defined in the notebook": SpecModule,
    "lazy dense layer": lambda: S(*spec()[:7], nn.LazyLinear(10)),
    "dropout (off in eval mode)": lambda: S(*spec()[:7], nn.Dropout(0.3), nn.Linear(576, 10)),
}

WRONG_TORCH = {
    "no ReLU": (lambda: S(nn.Conv2d(1, 8, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(576, 10)),
                ["no ReLU after convolution 1", "no ReLU after convolution 2"]),
    "average pooling": (lambda: S(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(8, 16, 3),
                                  nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(576, 10)),
                        ["average pooling after convolution 1"]),
    "strided convolutions": (lambda: S(nn.Conv2d(1, 8, 3, padding=1, stride=2), nn.ReLU(),
                                       nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(576, 10)),
                             ["stride 2", "max pooling halves"]),
    "softmax at the end": (lambda: S(*spec(), nn.Softmax(dim=1)), ["ends with a softmax", "F.cross_entropy"]),
    "tanh": (lambda: S(nn.Conv2d(1, 8, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(),
                       nn.MaxPool2d(2), nn.Flatten(), nn.Linear(576, 10)), ["followed by tanh"]),
    "padding on the wrong convolution": (
        lambda: S(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                  nn.MaxPool2d(2), nn.Flatten(), nn.Linear(576, 10)), ["padding is on the wrong convolution"]),
    "second convolution padded": (
        lambda: S(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                  nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(576, 10)),
        ["4x784 and 576x10", "the second convolution is padded"]),
    "batch norm": (lambda: S(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), *spec()[1:]), ["BatchNorm2d"]),
    "no bias": (lambda: S(nn.Conv2d(1, 8, 3, padding=1, bias=False), *spec()[1:]), ["has no bias"]),
    "16 filters first": (lambda: S(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 16, 3),
                                   nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(576, 10)),
                         ["convolution 1 turns 1 channels into 16"]),
    "hidden dense layer": (lambda: S(*spec()[:7], nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10)),
                           ["expected one dense layer", "576 -> 64 and 64 -> 10"]),
    "forgot to return": (lambda: None, ["forget to `return`"]),
    "returns the class": (lambda: SpecModule, ["returned the class SpecModule itself"]),
}


@pytest.mark.parametrize("name", RIGHT_TORCH)
def test_spec_cnn_right_pytorch_models_pass(capsys, name):
    ok, out = verdict(capsys, lab04.spec_cnn, RIGHT_TORCH[name])
    assert ok and out.startswith("✅ Exercise 4.5 spec CNN: correct"), out


@pytest.mark.parametrize("name", WRONG_TORCH)
def test_spec_cnn_wrong_pytorch_models_are_named(capsys, name):
    build, words = WRONG_TORCH[name]
    ok, out = verdict(capsys, lab04.spec_cnn, build)
    assert not ok and "❌ Exercise 4.5 spec CNN" in out, out
    for w in words:
        assert w in out, out


def test_spec_cnn_stub_is_not_done(capsys):
    def stub():
        raise NotImplementedError("Exercise 4.5 (a CNN built to a spec): replace this line with your code")

    ok, out = verdict(capsys, lab04.spec_cnn, stub)
    assert not ok and "✏️ Exercise 4.5 spec CNN: not done yet" in out


# ----------------------------------------------------------------------------- 4.5 spec CNN, Keras

KERAS_SCRIPT = textwrap.dedent('''
    import json, sys
    sys.path.insert(0, {root!r})
    if {torch_first}:
        import torch  # noqa: F401  (torch before keras, as the labs do)
    import keras
    from keras import layers
    from utils.checks import lab04

    def spec(*extra, first=None, pool=layers.MaxPooling2D):
        return keras.Sequential([keras.Input((28, 28, 1)),
                                 first or layers.Conv2D(8, 3, padding="same", activation="relu"),
                                 pool(2), layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(2),
                                 layers.Flatten(), layers.Dense(10), *extra])

    class SpecModel(keras.Model):
        def __init__(self):
            super().__init__()
            self.c1 = layers.Conv2D(8, 3, padding="same", activation="relu")
            self.c2 = layers.Conv2D(16, 3, activation="relu")
            self.pool, self.flat, self.out = layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(10)

        def call(self, x):
            return self.out(self.flat(self.pool(self.c2(self.pool(self.c1(x))))))

    def functional():
        x = keras.Input((28, 28, 1))
        h = layers.MaxPooling2D()(layers.ReLU()(layers.Conv2D(8, 3, padding="same")(x)))
        h = layers.MaxPooling2D()(layers.Conv2D(16, 3, activation="relu")(h))
        return keras.Model(x, layers.Dense(10)(layers.Flatten()(h)))

    builds = {{
        "right: Sequential": spec,
        "right: keras.Model subclass": SpecModel,
        "right: functional": functional,
        "no ReLU": lambda: keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(8, 3, padding="same"),
                                             layers.MaxPooling2D(2), layers.Conv2D(16, 3), layers.MaxPooling2D(2),
                                             layers.Flatten(), layers.Dense(10)]),
        "average pooling": lambda: spec(pool=layers.AveragePooling2D),
        "strided convolutions": lambda: keras.Sequential([
            keras.Input((28, 28, 1)), layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2D(16, 3, strides=2, activation="relu"), layers.Flatten(), layers.Dense(10)]),
        "softmax at the end": lambda: spec(layers.Softmax()),
        "softmax activation": lambda: keras.Sequential(spec().layers[:-1] + [layers.Dense(10, activation="softmax")]),
        "second convolution padded": lambda: keras.Sequential([
            keras.Input((28, 28, 1)), layers.Conv2D(8, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(16, 3, padding="same", activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
            layers.Dense(10)]),
        "batch norm": lambda: keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(8, 3, padding="same"),
                                                layers.BatchNormalization(), *spec().layers[1:]]),
    }}
    out = {{}}
    for name, build in builds.items():
        if {only!r} and name not in {only!r}:
            continue
        v = lab04.spec_cnn(build)
        out[name] = [bool(v), v.message]
    print("RESULTS " + json.dumps(out))
''')

KERAS_EXPECT = {
    "right: Sequential": [],
    "right: keras.Model subclass": [],
    "right: functional": [],
    "no ReLU": ["no ReLU after convolution 1", "no ReLU after convolution 2"],
    "average pooling": ["average pooling after convolution 1"],
    "strided convolutions": ["convolution 1 moves with stride 2"],
    "softmax at the end": ["ends with a softmax", "from_logits=True"],
    "softmax activation": ["ends with a softmax"],
    "second convolution padded": ["784 numbers per image", "the second convolution is padded"],
    "batch norm": ["BatchNormalization"],
}


def run_keras(backend, torch_first, only=()):
    script = KERAS_SCRIPT.format(root=str(ROOT), torch_first=torch_first, only=list(only))
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULTS ")), None)
    assert done.returncode == 0 and line, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads(line[len("RESULTS "):])


def test_spec_cnn_keras_models_tensorflow_backend():
    results = run_keras("tensorflow", torch_first=False)
    assert set(results) == set(KERAS_EXPECT)
    for name, words in KERAS_EXPECT.items():
        passed, message = results[name]
        assert passed == name.startswith("right"), (name, message)
        assert all(w in message for w in words), (name, message)


def test_spec_cnn_keras_on_the_torch_backend_is_judged_as_keras():
    """On the torch backend a Keras model is also a torch.nn.Module: it must be run as Keras
    (channels last, from_logits in the advice)."""
    only = ["right: Sequential", "softmax at the end", "average pooling"]
    results = run_keras("torch", torch_first=True, only=only)
    for name in only:
        passed, message = results[name]
        assert passed == name.startswith("right"), (name, message)
        assert all(w in message for w in KERAS_EXPECT[name]), (name, message)


# ----------------------------------------------------------------------------- the notebooks


@pytest.mark.parametrize("lab", ["04_cnn_keras", "04_cnn_pytorch"])
def test_lab04_exercises_are_numbered_4_k(lab):
    nb = json.loads((ROOT / "labs_solutions" / f"{lab}.ipynb").read_text())
    sources = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    headings = [re.match(r"### Exercise (\d+)\.(\d+): \S", s) for s in sources if re.match(r"#+ *Exercise", s)]
    assert all(headings) and [(m[1], int(m[2])) for m in headings] == [("4", k) for k in range(1, 6)]
