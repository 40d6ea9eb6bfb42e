"""Lab 06's checks: right answers written two ways pass; the wrong answers students really write fail
with what was expected, what came back and what the answer seems to have done."""
import functools
import operator
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from utils.checks import lab06

# --------------------------------------------------------------------------- 6.1 inverted dropout


def dropout_mul(h, keep, rate, training):
    if not training:
        return h
    return h * keep / (1 - rate)


def dropout_where(h, keep, rate, training):
    h = np.asarray(h)
    if training:
        return np.where(np.asarray(keep, dtype=bool), h / (1.0 - rate), 0.0).astype(h.dtype)
    return h.copy()


def test_dropout_right_answers_pass(capsys):
    assert lab06.dropout(dropout_mul)
    assert lab06.dropout(dropout_where)
    assert "✅ Exercise 6.1 dropout: correct (10 cases)" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, words", [
    (lambda h, k, r, t: h * k * (1 - r) if t else h, "scaled by (1 - rate) while training"),
    (lambda h, k, r, t: h * k / r if t else h, "divided by the rate"),
    (lambda h, k, r, t: h * k / (1 - r), "dropout was applied at inference"),
    (lambda h, k, r, t: h * k / (1 - r) if t else h * (1 - r), "that is the ORIGINAL rule"),
    (lambda h, k, r, t: h * k if t else h, "nothing was scaled"),
    (lambda h, k, r, t: h * (1 - k) / (1 - r) if t else h, "the wrong way round"),
])
def test_dropout_wrong_answers_are_named(wrong, words, capsys):
    verdict = lab06.dropout(wrong)
    out = capsys.readouterr().out
    assert not verdict and "❌ Exercise 6.1 dropout" in out
    assert "expected" in out and "got" in out and words in out, out
    assert "Hint:" in out and "Traceback" not in out


def test_dropout_must_return_numpy(capsys):
    import torch

    verdict = lab06.dropout(lambda h, k, r, t: torch.as_tensor(dropout_mul(h, k, r, t)))
    assert not verdict and "return a NumPy array" in capsys.readouterr().out


def test_dropout_in_place_is_reported(capsys):
    def in_place(h, keep, rate, training):
        if training:
            h *= keep
            h /= 1 - rate
        return h

    assert not lab06.dropout(in_place)
    assert "changed its input `h` in place" in capsys.readouterr().out


def test_dropout_stub_is_not_done(capsys):
    def stub(h, keep, rate, training):
        raise NotImplementedError("Exercise 6.1 (inverted dropout): replace this line with your code")

    assert not lab06.dropout(stub)
    assert "✏️ Exercise 6.1 dropout: not done yet" in capsys.readouterr().out


# --------------------------------------------------------------------------- 6.2 the original rule


def original_a(h, keep, rate, training):
    return h * keep if training else h * (1 - rate)


def original_b(h, keep, rate, training):
    keep_prob = 1.0 - rate
    return np.where(keep, h, 0) if training else keep_prob * np.asarray(h)


def test_original_dropout_right_answers_pass(capsys):
    assert lab06.original_dropout(original_a)
    assert lab06.original_dropout(original_b)
    assert "✅ Exercise 6.2 original_dropout: correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, words", [
    (lambda h, k, r, t: h * k if t else h, "left unchanged at inference"),
    (lambda h, k, r, t: h * k if t else h * r, "scaled by the rate at inference"),
    (lambda h, k, r, t: h * k if t else h / (1 - r), "scaled by 1 / (1 - rate) at inference"),
    (lambda h, k, r, t: h * k / (1 - r) if t else h * (1 - r), "this is inverted dropout"),
    (lambda h, k, r, t: h * k if t else h * k * (1 - r), "Exercise 6.2"),
])
def test_original_dropout_wrong_answers(wrong, words, capsys):
    assert not lab06.original_dropout(wrong)
    out = capsys.readouterr().out
    assert "❌" in out and words in out, out


# --------------------------------------------------------------------------- 6.4 Monte-Carlo dropout


def mc_loop(predict, x, n_samples):
    total = 0
    for _ in range(n_samples):
        total = total + predict(x)
    return total / n_samples


def mc_stack(predict, x, n_samples):
    return np.mean([predict(x) for _ in range(n_samples)], axis=0)


def test_mc_predict_right_answers_pass(capsys):
    assert lab06.mc_predict(mc_loop)
    assert lab06.mc_predict(mc_stack)
    assert "✅ Exercise 6.4 mc_predict: correct (4 cases)" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, words", [
    (lambda p, x, n: np.mean([np.eye(p(x).shape[1])[p(x).argmax(1)] for _ in range(n)], axis=0), "called"),
    (lambda p, x, n: [p(x) for _ in range(n)][-1], "only the last pass"),
    (lambda p, x, n: np.sum([p(x) for _ in range(n)], axis=0), "summed but not divided"),
    (lambda p, x, n: np.exp(np.mean([np.log(p(x)) for _ in range(n)], axis=0)), "geometric mean"),
    (lambda p, x, n: np.mean([p(x) for _ in range(n + 1)], axis=0), "exactly n_samples times"),
    (lambda p, x, n: np.mean([p(x) for _ in range(n)], axis=0).argmax(1), "not the predicted classes"),
])
def test_mc_predict_wrong_answers(wrong, words, capsys):
    assert not lab06.mc_predict(wrong)
    out = capsys.readouterr().out
    assert "❌ Exercise 6.4 mc_predict" in out and words in out, out


def test_mc_predict_votes_are_named(capsys):
    def votes(predict, x, n):
        tables = [predict(x) for _ in range(n)]
        k = tables[0].shape[1]
        return np.mean([np.eye(k)[t.argmax(1)] for t in tables], axis=0)

    assert not lab06.mc_predict(votes)
    assert "the votes (argmax of each pass) were averaged" in capsys.readouterr().out


# --------------------------------------------------------------------------- 6.5 L2


def l2_penalty_loop(layers, lam):
    total = 0.0
    for W, _bias in layers:
        total += np.sum(W ** 2)
    return lam * total


def l2_penalty_dot(layers, lam):
    return lam * sum(float(np.vdot(W, W)) for W, _ in layers)


def test_l2_right_answers_pass(capsys):
    assert lab06.l2_penalty(l2_penalty_loop)
    assert lab06.l2_penalty(l2_penalty_dot)
    assert lab06.l2_grad(lambda W, lam: 2 * lam * W)
    assert lab06.l2_grad(lambda W, lam: np.multiply(W, 2.0 * lam))
    out = capsys.readouterr().out
    assert "✅ Exercise 6.5 l2_penalty: correct" in out and "✅ Exercise 6.5 l2_grad: correct" in out


@pytest.mark.parametrize("wrong, words", [
    (lambda layers, lam: lam * sum(np.sum(W ** 2) + np.sum(b ** 2) for W, b in layers), "biases were penalised"),
    (lambda layers, lam: lam / 2 * sum(np.sum(W ** 2) for W, _ in layers), "halved"),
    (lambda layers, lam: sum(np.sum(W ** 2) for W, _ in layers), "lambda is missing"),
    (lambda layers, lam: lam * np.sqrt(sum(np.sum(W ** 2) for W, _ in layers)), "the norm was taken"),
    (lambda layers, lam: lam * sum(np.sum(np.abs(W)) for W, _ in layers), "L1"),
])
def test_l2_penalty_wrong_answers(wrong, words, capsys):
    assert not lab06.l2_penalty(wrong)
    out = capsys.readouterr().out
    assert "❌ Exercise 6.5 l2_penalty" in out and words in out and "expected" in out, out


@pytest.mark.parametrize("wrong, words", [
    (lambda W, lam: lam * W, "factor 2 is missing"),
    (lambda W, lam: 2 * W, "lambda is missing"),
    (lambda W, lam: lam * W ** 2, "penalty itself"),
    (lambda W, lam: -2 * lam * W, "sign is flipped"),
])
def test_l2_grad_wrong_answers(wrong, words, capsys):
    assert not lab06.l2_grad(wrong)
    out = capsys.readouterr().out
    assert "❌ Exercise 6.5 l2_grad" in out and words in out, out


def test_l2_penalty_returns_a_number_not_a_list(capsys):
    assert not lab06.l2_penalty(lambda layers, lam: [lam * np.sum(W ** 2) for W, _ in layers])
    assert "expected a number" in capsys.readouterr().out


# --------------------------------------------------------------------------- 6.6 early stopping


def early_loop(val_losses, patience, improves=operator.lt):
    best, best_epoch, waited = float("inf"), 0, 0
    for epoch, loss in enumerate(val_losses, start=1):
        if improves(loss, best):
            best, best_epoch, waited = loss, epoch, 0
        else:
            waited += 1
            if waited == patience:
                return best_epoch, epoch
    return best_epoch, len(val_losses)


def early_numpy(val_losses, patience):
    losses = np.asarray(val_losses)
    running_best = np.minimum.accumulate(losses)
    improved = np.r_[True, losses[1:] < running_best[:-1]]
    last_improved = np.maximum.accumulate(np.where(improved, np.arange(len(losses)), 0))
    stale = np.arange(len(losses)) - last_improved
    stop = int(np.argmax(stale >= patience)) if np.any(stale >= patience) else len(losses) - 1
    return np.int64(last_improved[stop] + 1), np.int64(stop + 1)


def test_early_stopping_right_answers_pass(capsys):
    assert lab06.early_stopping(early_loop)
    assert lab06.early_stopping(early_numpy)
    assert "✅ Exercise 6.6 early_stopping: correct (7 cases)" in capsys.readouterr().out


def restore_last(val_losses, patience):
    _, stop = early_loop(val_losses, patience)
    return stop, stop


def zero_based(val_losses, patience):
    best, stop = early_loop(val_losses, patience)
    return best - 1, stop - 1


def global_argmin(val_losses, patience):
    _, stop = early_loop(val_losses, patience)
    return int(np.argmin(val_losses)) + 1, stop


ties_improve = functools.partial(early_loop, improves=operator.le)     # a tie counts as an improvement


def never_stops(val_losses, patience):
    return int(np.argmin(val_losses)) + 1, len(val_losses)


def one_late(val_losses, patience):
    best, stop = early_loop(val_losses, patience)
    return best, min(stop + 1, len(val_losses))


@pytest.mark.parametrize("wrong, words", [
    (restore_last, "the last epoch's weights were kept"),
    (zero_based, "counted from 0"),
    (global_argmin, "training stops before it reaches"),
    (ties_improve, "a tie counted as an improvement"),
    (never_stops, "expected (best_epoch, stop_epoch) = (3, 6), got (8, 8)"),
    (one_late, "one epoch too late"),
])
def test_early_stopping_wrong_answers(wrong, words, capsys):
    assert not lab06.early_stopping(wrong)
    out = capsys.readouterr().out
    assert "❌ Exercise 6.6 early_stopping" in out and words in out, out


def test_early_stopping_wants_a_pair(capsys):
    assert not lab06.early_stopping(lambda losses, patience: 3)
    assert "expected a pair of whole numbers" in capsys.readouterr().out


def test_reference_agrees_with_keras_rules():
    # Keras's EarlyStopping: stop at the epoch where `wait` reaches `patience`, restore the best one
    assert lab06._early_stopping([0.5, 0.4, 0.3, 0.35, 0.36, 0.37, 0.2], 3) == (3, 6)
    assert lab06._early_stopping([0.5, 0.3, 0.3, 0.3], 2) == (2, 4)
    assert lab06._early_stopping([0.9, 0.8], 5) == (2, 2)


# --------------------------------------------------------------------------- 6.3 the model (PyTorch)


def torch_mlp(rate, init=True, hidden=1024, dropout_where="after"):
    from torch import nn

    layers, n_in = [nn.Flatten()], 784
    for _ in range(2):
        layers += [nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(rate)]
        n_in = hidden
    layers.append(nn.Linear(n_in, 10))
    net = nn.Sequential(*layers)
    if init:
        for m in net.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
    return net


def test_make_mlp_torch(capsys):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F
    from torch import nn

    assert lab06.make_mlp(torch_mlp)

    class Net(nn.Module):              # written as a class, dropout as a function: passes too
        def __init__(self, rate):
            super().__init__()
            self.rate = rate
            self.fc1, self.fc2, self.out = nn.Linear(784, 1024), nn.Linear(1024, 1024), nn.Linear(1024, 10)
            self.drop1, self.drop2 = nn.Dropout(rate), nn.Dropout(rate)
            for m in (self.fc1, self.fc2, self.out):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

        def forward(self, x):
            x = torch.flatten(x, 1)
            x = self.drop1(torch.relu(self.fc1(x)))
            return self.out(self.drop2(torch.relu(self.fc2(x))))

    assert lab06.make_mlp(Net)

    class Functional(Net):             # dropout written with F.dropout in forward: passes as well
        def forward(self, x):
            x = torch.flatten(x, 1)
            x = F.dropout(torch.relu(self.fc1(x)), self.rate, self.training)
            return self.out(F.dropout(torch.relu(self.fc2(x)), self.rate, self.training))

    assert lab06.make_mlp(Functional)
    assert capsys.readouterr().out.count("✅ Exercise 6.3 make_mlp: correct (3 cases)") == 3

    class Unscaled(Net):               # the original rule's training pass: the kept units are not scaled
        def forward(self, x):
            x = torch.flatten(x, 1)
            h = torch.relu(self.fc1(x))
            if self.training:
                h = h * (torch.rand_like(h) >= self.rate)
            return self.out(self.drop2(torch.relu(self.fc2(h))))

    assert not lab06.make_mlp(Unscaled)
    out = capsys.readouterr().out
    assert "hidden layer 1's kept units are multiplied by 1 in training mode, expected 1 / (1 - rate) = 2" in out, out

    cases = [
        (lambda r: torch_mlp(r, init=False), "not Glorot-uniform"),
        (lambda r: torch_mlp(1 - r if r else 0.0), "rate of units DROPPED"),
        (lambda r: torch_mlp(r, hidden=512), "expected dense layers 784 -> 1024 -> 1024 -> 10"),
        (lambda r: nn.Sequential(*torch_mlp(r), nn.Softmax(dim=1)), "ends with a softmax"),
        (lambda r: nn.Sequential(nn.Dropout(r), *torch_mlp(r)), "changed before the first dense layer"),
        (lambda r: nn.Sequential(*[m for m in torch_mlp(r) if not isinstance(m, nn.Dropout)]),
         "no unit of hidden layer 1 is dropped"),
        (lambda r: nn.Sequential(*torch_mlp(r), nn.Dropout(r)), "changed after the output layer"),
        (lambda r: None, "forget to `return`"),
    ]
    for wrong, words in cases:
        assert not lab06.make_mlp(wrong)
        out = capsys.readouterr().out
        assert "❌ Exercise 6.3 make_mlp" in out and words in out, (words, out)

    def nonzero_bias(rate):
        net = torch_mlp(rate)
        nn.init.constant_(net[1].bias, 0.1)
        return net

    assert not lab06.make_mlp(nonzero_bias)
    assert "do not start at zero" in capsys.readouterr().out


KERAS_SCRIPT = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, ROOT)
import keras
from utils.checks import lab06

def good(rate):
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
        keras.layers.Dense(1024, activation="relu"), keras.layers.Dropout(rate),
        keras.layers.Dense(1024, activation="relu"), keras.layers.Dropout(rate),
        keras.layers.Dense(10, activation="softmax")])

def functional(rate):
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Flatten()(inputs)
    for _ in range(2):
        h = keras.layers.Dense(1024, kernel_initializer="glorot_uniform", bias_initializer="zeros")(h)
        h = keras.layers.Activation("relu")(h)
        h = keras.layers.Dropout(rate)(h)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))

def no_softmax(rate):
    m = good(rate); m.layers[-1].activation = keras.activations.linear; return m

def he_init(rate):
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
        keras.layers.Dense(1024, activation="relu", kernel_initializer="he_normal"), keras.layers.Dropout(rate),
        keras.layers.Dense(1024, activation="relu"), keras.layers.Dropout(rate),
        keras.layers.Dense(10, activation="softmax")])

assert lab06.make_mlp(good)
assert lab06.make_mlp(functional)
assert not lab06.make_mlp(no_softmax)
assert not lab06.make_mlp(he_init)
assert not lab06.make_mlp(lambda rate: good(1 - rate if rate else 0.0))
assert not lab06.make_mlp(lambda rate: good(0.0))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_make_mlp_keras(backend):
    """In a separate process: TensorFlow and the torch tests above do not share one process well."""
    env = {"KERAS_BACKEND": backend, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", f"ROOT = {str(ROOT)!r}\n" + KERAS_SCRIPT],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.count("✅ Exercise 6.3 make_mlp: correct (3 cases)") == 2, out
    assert "scores, not probabilities" in out and "not Glorot-uniform" in out, out
    assert "the rate of units DROPPED, not kept" in out and "no unit of hidden layer 1 is dropped" in out, out
