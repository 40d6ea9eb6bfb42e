"""Lab 09's checks: right answers written two ways pass; the wrong answers students write get told why.

The NumPy and PyTorch checks run here; the Keras ones run in a subprocess per backend (TensorFlow
imported into the test process would crash a later torchvision import).
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT

from utils.checks import lab09


def verdict(check, fn, capsys, **kw):
    ok = bool(check(fn, **kw))
    return ok, capsys.readouterr().out


# --------------------------------------------------------------------------- 9.1 preprocess

@pytest.mark.parametrize("fn", [
    lambda x: (x.astype(np.float32) - 127) / 128,
    lambda x: ((np.asarray(x, dtype=np.float32) - 127.0) * (1 / 128)).astype(np.float32),
])
def test_preprocess_right(fn, capsys):
    ok, out = verdict(lab09.preprocess, fn, capsys)
    assert ok and "✅ Exercise 9.1 preprocess" in out


@pytest.mark.parametrize("fn, says", [
    (lambda x: (x - 127) / 128, "wraps around"),
    (lambda x: x / 255.0, "0-1 scaling"),
    (lambda x: x.astype(np.float32) / 127.5 - 1, "x / 127.5 - 1"),
    (lambda x: (x.astype(np.float64) - 127) / 128, "dtype float64"),
    (lambda x: ((x.astype(np.float32) - 127) / 128).tolist(), "NumPy array"),
    (lambda x: None, "forget to `return`"),
])
def test_preprocess_wrong(fn, says, capsys):
    with np.errstate(all="ignore"):
        ok, out = verdict(lab09.preprocess, fn, capsys)
    assert not ok and says in out and "Exercise 9.1" in out


def test_preprocess_in_place_is_reported(capsys):
    def in_place(x):
        x -= 127
        return (x.astype(np.float32)) / 128
    ok, out = verdict(lab09.preprocess, in_place, capsys)
    assert not ok and "in place" in out


# --------------------------------------------------------------------------- 9.2 top_k

@pytest.mark.parametrize("fn", [
    lambda p, k: np.argsort(-p, axis=1)[:, :k],
    lambda p, k: np.argsort(p, axis=-1)[:, ::-1][:, :k],
])
def test_top_k_right(fn, capsys):
    ok, out = verdict(lab09.top_k, fn, capsys)
    assert ok and "✅ Exercise 9.2 top_k" in out


def test_top_k_with_torch_passes(capsys):
    import torch
    ok, _ = verdict(lab09.top_k, lambda p, k: torch.topk(torch.from_numpy(p), k, dim=1).indices, capsys)
    assert ok


@pytest.mark.parametrize("fn, says", [
    (lambda p, k: np.argsort(p, axis=1)[:, :k], "values differ"),           # the smallest
    (lambda p, k: np.argsort(p, axis=1)[:, -k:], "values differ"),          # largest, wrong order
    (lambda p, k: np.sort(p, axis=1)[:, ::-1][:, :k], "whole numbers"),     # probabilities, not indices
    (lambda p, k: np.argsort(-p, axis=0)[:k], "shape"),                     # wrong axis
])
def test_top_k_wrong(fn, says, capsys):
    ok, out = verdict(lab09.top_k, fn, capsys)
    assert not ok and says in out and "np.argsort sorts from smallest" in out


# --------------------------------------------------------------------------- PyTorch model exercises

torch = pytest.importorskip("torch")
nn = torch.nn


def fe_right_a(n_classes):
    from utils import pretrained
    model = pretrained.efficientnet_lite0()
    for p in model.parameters():
        p.requires_grad = False
    model.classifier = nn.Linear(1280, n_classes)
    return model


def fe_right_b(n_classes):
    from utils import pretrained
    model = pretrained.efficientnet_lite0().requires_grad_(False)
    model.classifier = nn.Linear(model.classifier.in_features, n_classes)
    return model


def fe_not_frozen(n_classes):
    from utils import pretrained
    model = pretrained.efficientnet_lite0()
    model.classifier = nn.Linear(1280, n_classes)
    return model


def fe_frozen_after(n_classes):
    from utils import pretrained
    model = pretrained.efficientnet_lite0()
    model.classifier = nn.Linear(1280, n_classes)
    return model.requires_grad_(False)


def fe_ten(n_classes):
    return fe_right_a(10)


def fe_random_backbone(n_classes):
    from utils import pretrained
    model = pretrained.efficientnet_lite0(weights=False).requires_grad_(False)
    model.classifier = nn.Linear(1280, n_classes)
    return model


@pytest.mark.parametrize("fn", [fe_right_a, fe_right_b])
def test_torch_feature_extractor_right(fn, capsys):
    ok, out = verdict(lab09.feature_extractor, fn, capsys)
    assert ok, out


@pytest.mark.parametrize("fn, says", [
    (fe_not_frozen, "the backbone is not frozen"),
    (fe_frozen_after, "no parameter is trainable"),
    (fe_ten, "expected 8,967 trainable parameters"),
    (fe_random_backbone, "not the new layer applied to the pretrained network's features"),
    (lambda n: None, "did the function forget to `return`"),
])
def test_torch_feature_extractor_wrong(fn, says, capsys):
    ok, out = verdict(lab09.feature_extractor, fn, capsys)
    assert not ok and says in out, out


@pytest.mark.parametrize("fn", [
    lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad),
    lambda m: int(sum(np.prod(p.shape) for p in m.parameters() if p.requires_grad)),
])
def test_torch_count_trainable_right(fn, capsys):
    ok, out = verdict(lab09.count_trainable, fn, capsys, framework="pytorch")
    assert ok, out


@pytest.mark.parametrize("fn, says", [
    (lambda m: sum(p.numel() for p in m.parameters()), "counts every parameter"),
    (lambda m: len([p for p in m.parameters() if p.requires_grad]), "counts weight tensors"),
    (lambda m: sum(p.numel() for c in m.children() for p in c.parameters(recurse=False) if p.requires_grad),
     "values differ"),
])
def test_torch_count_trainable_wrong(fn, says, capsys):
    ok, out = verdict(lab09.count_trainable, fn, capsys, framework="pytorch")
    assert not ok and says in out, out


def freeze_bn_a(model):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
            m.requires_grad_(False)


def freeze_bn_b(model):
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.train(False)
        for p in m.parameters():
            p.requires_grad = False
    return model


def bn_grad_only(model):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.requires_grad_(False)


def bn_top_level_only(model):
    for m in model.children():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
            m.requires_grad_(False)


def bn_whole_eval(model):
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.requires_grad_(False)


def bn_eval_only(model):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def bn_freeze_all(model):
    model.requires_grad_(False)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


@pytest.mark.parametrize("fn", [freeze_bn_a, freeze_bn_b])
def test_torch_freeze_batchnorm_right(fn, capsys):
    ok, out = verdict(lab09.freeze_batchnorm, fn, capsys, framework="pytorch")
    assert ok, out


@pytest.mark.parametrize("fn, says", [
    (bn_grad_only, "still in training mode"),
    (bn_top_level_only, "model.modules() sees all"),
    (bn_whole_eval, "dropout is no longer in training mode"),
    (bn_eval_only, "scale and shift (weight, bias) are still trainable"),
    (bn_freeze_all, "convolution or dense weights were frozen too"),
])
def test_torch_freeze_batchnorm_wrong(fn, says, capsys):
    ok, out = verdict(lab09.freeze_batchnorm, fn, capsys, framework="pytorch")
    assert not ok and says in out, out


# --------------------------------------------------------------------------- Keras model exercises

KERAS_CASES = '''
import json, sys
import numpy as np
import keras
from keras import layers
from utils import pretrained
from utils.checks import lab09

def fe_right_a(n_classes):
    base = pretrained.keras_efficientnet_lite0(input_shape=(64, 64, 3), include_top=False, pooling="avg")
    base.trainable = False
    inputs = keras.Input((64, 64, 3))
    return keras.Model(inputs, layers.Dense(n_classes)(base(inputs, training=False)))

def fe_right_b(n_classes):
    base = pretrained.keras_efficientnet_lite0(input_shape=(None, None, 3), include_top=False, pooling="avg")
    for layer in base.layers:
        layer.trainable = False
    return keras.Sequential([base, layers.Dense(n_classes)])

def fe_not_frozen(n_classes):
    base = pretrained.keras_efficientnet_lite0(input_shape=(64, 64, 3), include_top=False, pooling="avg")
    return keras.Sequential([base, layers.Dense(n_classes)])

def fe_random(n_classes):
    base = pretrained.keras_efficientnet_lite0(input_shape=(64, 64, 3), include_top=False, pooling="avg",
                                               weights=False)
    base.trainable = False
    return keras.Sequential([base, layers.Dense(n_classes)])

def fe_ten(n_classes):
    return fe_right_a(10)

def count_a(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)

def count_b(model):
    return int(sum(keras.ops.size(w) for w in model.trainable_variables))

def count_all(model):
    return model.count_params()

def count_tensors(model):
    return len(model.trainable_weights)

def freeze_a(model):
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
        elif hasattr(layer, "layers"):
            freeze_a(layer)

def freeze_b(model):
    stack = [model]
    while stack:
        layer = stack.pop()
        stack.extend(getattr(layer, "layers", []))
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    return model

def freeze_top_level(model):
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False

def freeze_everything(model):
    model.trainable = False

cases = {
    "fe_right_a": (lab09.feature_extractor, fe_right_a, {}),
    "fe_right_b": (lab09.feature_extractor, fe_right_b, {}),
    "fe_not_frozen": (lab09.feature_extractor, fe_not_frozen, {}),
    "fe_random": (lab09.feature_extractor, fe_random, {}),
    "fe_ten": (lab09.feature_extractor, fe_ten, {}),
    "count_a": (lab09.count_trainable, count_a, {"framework": "keras"}),
    "count_b": (lab09.count_trainable, count_b, {"framework": "keras"}),
    "count_all": (lab09.count_trainable, count_all, {"framework": "keras"}),
    "count_tensors": (lab09.count_trainable, count_tensors, {"framework": "keras"}),
    "freeze_a": (lab09.freeze_batchnorm, freeze_a, {"framework": "keras"}),
    "freeze_b": (lab09.freeze_batchnorm, freeze_b, {"framework": "keras"}),
    "freeze_top_level": (lab09.freeze_batchnorm, freeze_top_level, {"framework": "keras"}),
    "freeze_everything": (lab09.freeze_batchnorm, freeze_everything, {"framework": "keras"}),
}
out = {}
for name, (check, fn, kw) in cases.items():
    v = check(fn, **kw)
    out[name] = [bool(v), v.message]
print("JSON" + json.dumps(out))
'''

KERAS_EXPECT = {
    "fe_right_a": (True, "✅"), "fe_right_b": (True, "✅"),
    "fe_not_frozen": (False, "the backbone is not frozen"),
    "fe_random": (False, "not the new Dense layer applied to the pretrained network's pooled features"),
    "fe_ten": (False, "expected 8,967 trainable parameters"),
    "count_a": (True, "✅"), "count_b": (True, "✅"),
    "count_all": (False, "counts every parameter"), "count_tensors": (False, "counts weight tensors"),
    "freeze_a": (True, "✅"), "freeze_b": (True, "✅"),
    "freeze_top_level": (False, "look inside layers that have layers of their own"),
    "freeze_everything": (False, "convolution or dense weights were frozen too"),
}


@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_keras_model_exercises(backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(KERAS_CASES)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.split("JSON", 1)[1])
    for name, (passed, says) in KERAS_EXPECT.items():
        assert got[name][0] == passed and says in got[name][1], (name, got[name][1])
