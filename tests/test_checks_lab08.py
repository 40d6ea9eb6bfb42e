"""Lab 08's exercise checks: right answers written two ways pass, the wrong answers students write
get a verdict that says what is wrong. PyTorch answers run here; Keras answers run in a child
process per backend (TensorFlow must not share a process with torchvision)."""
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from utils import checks

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional


# --------------------------------------------------------------------------- Exercise 8.1

def block_params(c_in, c_out, stride=1):
    count = 9 * c_in * c_out + 9 * c_out * c_out + 4 * c_out
    if stride != 1 or c_in != c_out:
        count += c_in * c_out + 2 * c_out
    return count


def block_params_by_building(c_in, c_out, stride=1):
    return sum(p.numel() for p in ResidualBlock(c_in, c_out, stride).parameters())


def test_block_params_right_answers_pass(capsys):
    assert checks.lab08.block_params(block_params)
    assert checks.lab08.block_params(block_params_by_building)
    assert "correct (7 cases)" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, words", [
    (lambda ci, co, s: 9 * ci * co + 9 * co * co + (ci * co if s != 1 or ci != co else 0),
     "batch normalization has trained parameters"),
    (lambda ci, co, s: 9 * ci * co + 9 * co * co + 4 * co, "the shortcut is a projection"),
    (lambda ci, co, s: block_params(ci, co, s) + 2 * co + (co if s != 1 or ci != co else 0), "no bias"),
    (lambda ci, co, s: block_params(ci, co, s) + (6 if s != 1 or ci != co else 4) * co, "running mean"),
    (lambda ci, co, s: 9 * ci * co + 9 * co * co + 4 * co + ci * co + 2 * co, "identity"),
    (lambda ci, co, s: 18 * ci * co + 4 * co + (ci * co + 2 * co if s != 1 or ci != co else 0), "c_out * c_out"),
])
def test_block_params_wrong_answers_get_hints(wrong, words, capsys):
    assert not checks.lab08.block_params(wrong)
    out = capsys.readouterr().out
    assert "expected" in out and "got" in out and words in out, out


# --------------------------------------------------------------------------- Exercise 8.2

def shortcut(c_in, c_out, stride=1):
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))


class Projection(nn.Module):      # the same, written as a class, with a (redundant) conv bias
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.bn = nn.BatchNorm2d(c_out)
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=(1, 1), stride=(stride, stride))

    def forward(self, x):
        return self.bn(self.conv(x))


def shortcut_as_class(c_in, c_out, stride=1):
    return Projection(c_in, c_out, stride) if (c_in, stride) != (c_out, 1) else nn.Sequential()


def test_shortcut_right_answers_pass(capsys):
    assert checks.lab08.shortcut(shortcut, framework="pytorch")
    assert checks.lab08.shortcut(shortcut_as_class, framework="pytorch")
    assert "correct (4 cases)" in capsys.readouterr().out


def always_identity(c_in, c_out, stride=1):
    return nn.Identity()


def always_projection(c_in, c_out, stride=1):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))


def relu_projection(c_in, c_out, stride=1):
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


def no_bn_projection(c_in, c_out, stride=1):
    return nn.Identity() if stride == 1 and c_in == c_out else nn.Conv2d(c_in, c_out, 1, stride=stride)


def three_by_three(c_in, c_out, stride=1):
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out))


def plain_function(c_in, c_out, stride=1):
    return lambda x: x


@pytest.mark.parametrize("wrong, words", [
    (always_identity, "use the projection"),
    (always_projection, "expected the identity"),
    (relu_projection, "no ReLU"),
    (no_bn_projection, "batch normalization"),
    (three_by_three, "1x1"),
    (plain_function, "expected an nn.Module"),
])
def test_shortcut_wrong_answers_get_hints(wrong, words, capsys):
    assert not checks.lab08.shortcut(wrong, framework="pytorch")
    out = capsys.readouterr().out
    assert words in out and "Traceback" not in out, out


# --------------------------------------------------------------------------- Exercise 8.3

class ResidualBlock(nn.Module):
    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = shortcut(c_in, c_out, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class OtherResidualBlock(nn.Module):
    """The same block written another way: projection first, the branch as one Sequential."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.skip = shortcut_as_class(c_in, c_out, stride)
        self.branch = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        return torch.relu(self.skip(x) + self.branch(x))


def test_residual_block_right_answers_pass(capsys):
    assert checks.lab08.residual_block(ResidualBlock)
    assert checks.lab08.residual_block(OtherResidualBlock)
    assert "correct (4 cases)" in capsys.readouterr().out


def variant(kind):
    class Wrong(ResidualBlock):
        def forward(self, x):
            f = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            s = self.shortcut(x)
            return {"relu_then_add": F.relu(f) + s, "no_last_relu": f + s, "relu_on_shortcut": F.relu(f + F.relu(s)),
                    "no_shortcut": F.relu(f), "identity_always": F.relu(f + x)}[kind]
    return Wrong


@pytest.mark.parametrize("kind, words", [
    ("relu_then_add", "added after the last ReLU"),
    ("no_last_relu", "ReLU after the addition is missing"),
    ("relu_on_shortcut", "goes through a ReLU"),
    ("no_shortcut", "plain block"),
    ("identity_always", "projection of Exercise 8.2"),
])
def test_residual_block_wrong_answers_get_hints(kind, words, capsys):
    assert not checks.lab08.residual_block(variant(kind))
    out = capsys.readouterr().out
    assert words in out and "Traceback" not in out, out


def test_residual_block_names_the_unfinished_shortcut(capsys):
    def unfinished(c_in, c_out, stride=1):
        raise NotImplementedError("Exercise 8.2 (shortcut): replace this line with your code")

    class Block(ResidualBlock):
        def __init__(self, c_in, c_out, stride=1):
            super().__init__(c_in, c_out, stride)
            self.shortcut = unfinished(c_in, c_out, stride)

    assert not checks.lab08.residual_block(Block)
    out = capsys.readouterr().out
    assert "Exercise 8.2" in out and "not done yet" in out, out


# --------------------------------------------------------------------------- Exercise 8.4

def make_net(depth, widths, block):
    n = (depth - 2) // (2 * len(widths))
    layers = [nn.Conv2d(3, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    c_in = widths[0]
    for i, c_out in enumerate(widths):
        for j in range(n):
            layers.append(block(c_in, c_out, 2 if i > 0 and j == 0 else 1))
            c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, 10)]
    return nn.Sequential(*layers)


class Net(nn.Module):             # the same network as a class, with a conv bias in the stem
    def __init__(self, depth, widths, block):
        super().__init__()
        per_stage = (depth - 2) // 2 // len(widths)
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, padding=1), nn.BatchNorm2d(widths[0]), nn.ReLU())
        blocks, c = [], widths[0]
        for stage, w in enumerate(widths):
            for k in range(per_stage):
                blocks.append(block(c, w, stride=1 if stage == 0 or k > 0 else 2))
                c = w
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(c, 10)

    def forward(self, x):
        x = self.stem(x)
        for b in self.blocks:
            x = b(x)
        return self.head(x.mean(dim=(2, 3)))


def test_make_net_right_answers_pass(capsys):
    assert checks.lab08.make_net(make_net, framework="pytorch")
    assert checks.lab08.make_net(Net, framework="pytorch")
    assert "correct (5 cases)" in capsys.readouterr().out


def six_n(depth, widths, block):
    n = (depth - 2) // 6            # right for three stages only
    layers = [nn.Conv2d(3, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    c_in = widths[0]
    for i, c_out in enumerate(widths):
        for j in range(n):
            layers.append(block(c_in, c_out, 2 if i > 0 and j == 0 else 1))
            c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, 10)]
    return nn.Sequential(*layers)


def stride_everywhere(depth, widths, block):
    n = (depth - 2) // (2 * len(widths))
    layers = [nn.Conv2d(3, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    c_in = widths[0]
    for c_out in widths:
        for j in range(n):
            layers.append(block(c_in, c_out, 2 if j == 0 else 1))
            c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, 10)]
    return nn.Sequential(*layers)


def flatten_head(depth, widths, block):
    body = make_net(depth, widths, block)[:-3]
    side = 32 // 2 ** (len(widths) - 1)
    return nn.Sequential(body, nn.Flatten(), nn.Linear(widths[-1] * side * side, 10))


def softmax_head(depth, widths, block):
    return nn.Sequential(make_net(depth, widths, block), nn.Softmax(dim=1))


@pytest.mark.parametrize("wrong, words", [
    (six_n, "expected 12 blocks, 3 per stage"),
    (stride_everywhere, "(c_in, c_out, stride)"),
    (flatten_head, "global average pooling"),
    (softmax_head, "no softmax"),
])
def test_make_net_wrong_answers_get_hints(wrong, words, capsys):
    assert not checks.lab08.make_net(wrong, framework="pytorch")
    out = capsys.readouterr().out
    assert words in out and "Traceback" not in out, out


# --------------------------------------------------------------------------- Keras, both backends

KERAS_ANSWERS = r'''
import json, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
from keras import layers
from utils import checks

def shortcut(x, filters, stride=1):
    if stride == 1 and x.shape[-1] == filters:
        return x
    x = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x)
    return layers.BatchNormalization()(x)

def shortcut_other(x, filters, stride=1):          # a bias, keyword arguments, Sequential
    if (x.shape[-1], stride) == (filters, 1):
        return layers.Identity()(x)
    return keras.Sequential([layers.Conv2D(filters, kernel_size=(1, 1), strides=(stride, stride)),
                             layers.BatchNormalization(epsilon=1e-5, momentum=0.9)])(x)

def always_identity(x, filters, stride=1):
    return x

def relu_projection(x, filters, stride=1):
    return layers.ReLU()(shortcut(x, filters, stride)) if (stride, x.shape[-1]) != (1, filters) else x

def residual_block(x, filters, stride=1):
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    return layers.ReLU()(layers.Add()([y, shortcut(x, filters, stride)]))

def residual_block_other(x, filters, stride=1):
    s = shortcut_other(x, filters, stride)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, activation=None)(x)
    y = layers.Activation("relu")(layers.BatchNormalization()(y))
    y = layers.BatchNormalization()(layers.Conv2D(filters, (3, 3), padding="same", use_bias=False)(y))
    return keras.ops.relu(y + s)

def relu_then_add(x, filters, stride=1):
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)))
    return layers.Add()([y, shortcut(x, filters, stride)])

def no_projection(x, filters, stride=1):
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same", use_bias=False)(y))
    return layers.ReLU()(layers.Add()([y, x]))

def make_net(depth, widths, block):
    n = (depth - 2) // (2 * len(widths))
    inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False)(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for i, filters in enumerate(widths):
        for j in range(n):
            x = block(x, filters, 2 if i > 0 and j == 0 else 1)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10)(x))

def make_net_softmax(depth, widths, block):
    m = make_net(depth, widths, block)
    return keras.Model(m.input, layers.Softmax()(m.output))

def make_net_flatten(depth, widths, block):
    n = (depth - 2) // (2 * len(widths))
    inputs = keras.Input((32, 32, 3))
    x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(widths[0], 3, padding="same")(inputs)))
    for i, filters in enumerate(widths):
        for j in range(n):
            x = block(x, filters, 2 if i > 0 and j == 0 else 1)
    return keras.Model(inputs, layers.Dense(10)(layers.Flatten()(x)))

def verdict(check, fn):
    v = check(fn, framework="keras")
    return {"passed": bool(v), "message": v.message}

out = {
    "backend": keras.backend.backend(),
    "shortcut": verdict(checks.lab08.shortcut, shortcut),
    "shortcut_other": verdict(checks.lab08.shortcut, shortcut_other),
    "always_identity": verdict(checks.lab08.shortcut, always_identity),
    "relu_projection": verdict(checks.lab08.shortcut, relu_projection),
    "residual_block": verdict(checks.lab08.residual_block, residual_block),
    "residual_block_other": verdict(checks.lab08.residual_block, residual_block_other),
    "relu_then_add": verdict(checks.lab08.residual_block, relu_then_add),
    "no_projection": verdict(checks.lab08.residual_block, no_projection),
    "make_net": verdict(checks.lab08.make_net, make_net),
    "make_net_softmax": verdict(checks.lab08.make_net, make_net_softmax),
    "make_net_flatten": verdict(checks.lab08.make_net, make_net_flatten),
}
print("RESULT " + json.dumps(out))
'''


@pytest.fixture(scope="module", params=["tensorflow", "torch"])
def keras_verdicts(request):
    env = {**os.environ, "KERAS_BACKEND": request.param, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", KERAS_ANSWERS], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(line[len("RESULT "):])
    assert result["backend"] == request.param
    return result


@pytest.mark.parametrize("answer", ["shortcut", "shortcut_other", "residual_block", "residual_block_other",
                                    "make_net"])
def test_keras_right_answers_pass(keras_verdicts, answer):
    assert keras_verdicts[answer]["passed"], keras_verdicts[answer]["message"]


@pytest.mark.parametrize("answer, words", [
    ("always_identity", "use the projection"),
    ("relu_projection", "no ReLU"),
    ("relu_then_add", "added after the last ReLU"),
    ("no_projection", "projection of Exercise 8.2"),
    ("make_net_softmax", "no softmax"),
    ("make_net_flatten", "global average pooling"),
])
def test_keras_wrong_answers_get_hints(keras_verdicts, answer, words):
    verdict = keras_verdicts[answer]
    assert not verdict["passed"] and words in verdict["message"], verdict["message"]
