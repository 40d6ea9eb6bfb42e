"""Checks for Lab 04 (convolutional networks), shared by the Keras and PyTorch notebooks.

    checks.lab04.conv2d(conv2d)                        # Exercise 4.1
    checks.lab04.conv_output_size(conv_output_size)    # Exercise 4.2
    checks.lab04.conv_params(conv_params)              # Exercise 4.3
    checks.lab04.max_pool2d(max_pool2d)                # Exercise 4.4
    checks.lab04.spec_cnn(build_spec_cnn)              # Exercise 4.5 (a Keras or a PyTorch model)

The NumPy exercises must return NumPy arrays (or whole numbers for the sizes and counts); the
spec CNN is judged by what it computes: its output on random images is compared with the spec's
computation done here in NumPy with the model's own weights, and when they differ the check
names the difference (no ReLU, average pooling, strided convolutions, a softmax at the end...).
"""
import re
import sys
from itertools import product

import numpy as np

from . import _finish, call, call_on_copies, check_cases, check_function, compare, to_numpy

# --------------------------------------------------------------------------- reference answers


def _conv2d(x, kernel, padding=0, stride=(1, 1)):
    """Cross-correlation of one 2-D array with one kernel, zero padding on all four sides."""
    x = np.pad(np.asarray(x, dtype=float), padding)
    kernel = np.asarray(kernel, dtype=float)
    (kh, kw), (sh, sw) = kernel.shape, stride
    out_h = (x.shape[0] - kh) // sh + 1
    out_w = (x.shape[1] - kw) // sw + 1
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            out[i, j] = np.sum(x[i * sh:i * sh + kh, j * sw:j * sw + kw] * kernel)
    return out


def _max_pool2d(x, size, stride):
    """Max pooling of an (H, W, C) array; windows that would run past the edge are dropped."""
    x = np.asarray(x, dtype=float)
    out_h = (x.shape[0] - size) // stride + 1
    out_w = (x.shape[1] - size) // stride + 1
    out = np.zeros((out_h, out_w, x.shape[2]))
    for i in range(out_h):
        for j in range(out_w):
            window = x[i * stride:i * stride + size, j * stride:j * stride + size]
            out[i, j] = window.max(axis=(0, 1))
    return out


# --------------------------------------------------------------------------- Exercise 4.1

def conv2d(fn):
    """``fn(x, kernel, padding, stride)``: 2-D cross-correlation with zero padding and a stride."""
    name = "Exercise 4.1 conv2d"
    hint = ("slide the kernel without flipping it (deep learning's 'convolution' is a cross-correlation), "
            "pad with `padding` zeros on all four sides first, move `stride[0]` rows and `stride[1]` "
            "columns at a time, and size the output floor((n + 2p - k) / s) + 1 along each axis.")
    rng = np.random.default_rng(4)
    x3 = np.arange(9.0).reshape(3, 3)
    k2 = np.array([[0.0, 1.0], [2.0, 3.0]])
    x_odd = rng.integers(-3, 4, size=(6, 7)).astype(float)
    k_odd = rng.integers(-2, 3, size=(3, 2)).astype(float)
    x_big = rng.normal(size=(9, 8))
    k_big = rng.normal(size=(3, 3))
    cases = [
        ((x3, k2, 0, (1, 1)), np.array([[19.0, 25.0], [37.0, 43.0]])),
        ((x3, k2, 1, (1, 1)), _conv2d(x3, k2, 1, (1, 1))),
        ((x3, k2, 1, (3, 2)), np.array([[0.0, 8.0], [6.0, 8.0]])),
        ((x_odd, k_odd, 0, (1, 1)), _conv2d(x_odd, k_odd, 0, (1, 1))),
        ((x_odd, k_odd, 2, (2, 3)), _conv2d(x_odd, k_odd, 2, (2, 3))),
        ((x_big, k_big, 1, (2, 2)), _conv2d(x_big, k_big, 1, (2, 2))),
        ((x_big.astype(np.float32), k_big.astype(np.float32), 0, (1, 1)), _conv2d(x_big, k_big)),
    ]

    def judge(fn, case):
        (x, kernel, padding, stride), expected = case
        got, error = call_on_copies(fn, x, kernel, padding, stride)
        problem = error or compare(got, expected, rtol=1e-4, atol=1e-4, numpy=True)
        if problem and problem.startswith("values differ"):
            if _close(got, _conv2d(x, np.flip(kernel), padding, stride)):
                return ("you flipped the kernel (the convolution of signal processing); deep-learning "
                        "layers slide it as it is (a cross-correlation)")
            if stride != (1, 1) and _close(got, _conv2d(x, kernel, padding, stride[::-1])):
                return "the strides are swapped: stride[0] moves down the rows, stride[1] across the columns"
        elif problem and problem.startswith("expected shape") and padding and \
                _close(got, _conv2d(x, kernel, 0, stride)):
            return "the result has no padding: pad x with `padding` zeros on all four sides first (np.pad)"
        return problem

    labelled = [(f"x of shape {a[0].shape}, kernel {a[1].shape}, padding {a[2]}, stride {a[3]}"
                 + (" (float32)" if a[0].dtype == np.float32 else ""), (a, e)) for a, e in cases]
    return check_cases(name, fn, labelled, judge, hint=hint)


def _close(got, want, rtol=1e-4, atol=1e-4):
    try:
        g = to_numpy(got).astype(float)
    except Exception:  # noqa: BLE001
        return False
    w = np.asarray(want, dtype=float)
    return g.shape == w.shape and np.allclose(g, w, rtol=rtol, atol=atol)


def _whole_number(got):
    """A problem when ``got`` is not an integer (Python or NumPy), else None."""
    if isinstance(got, (bool, np.bool_)):
        return f"expected a whole number, got {got!r}"
    if isinstance(got, (int, np.integer)):
        return None
    if isinstance(got, (float, np.floating)):
        return (f"expected a whole number (an int), got the float {got!r}: use integer division `//` "
                "(and no `/`), so that the result can size an array")
    return None if got is None else f"expected a whole number, got {type(got).__name__}"


def _integer_cases(name, fn, cases, hint):
    def judge(fn, case):
        args, expected = case
        got, error = call_on_copies(fn, *args)
        return error or compare(got, expected, rtol=0, atol=0) or _whole_number(got)

    labelled = [(f"input {', '.join(map(str, a))}", (a, e)) for a, e in cases]
    return check_cases(name, fn, labelled, judge, hint=hint)


# --------------------------------------------------------------------------- Exercise 4.2

def conv_output_size(fn):
    """``fn(n, k, padding, stride)``: the output length of a convolution along one axis."""
    cases = [
        ((28, 3, 1, 1), 28), ((28, 3, 0, 1), 26), ((32, 5, 0, 1), 28), ((9, 3, 0, 1), 7),
        ((3, 2, 1, 3), 2), ((7, 3, 0, 2), 3), ((8, 3, 0, 2), 3), ((224, 7, 3, 2), 112),
        ((227, 11, 0, 4), 55), ((5, 5, 0, 1), 1), ((10, 4, 1, 3), 3),
    ]
    return _integer_cases(
        "Exercise 4.2 conv_output_size", fn, cases,
        hint="(n + 2 * padding - k) // stride + 1: integer division, because a window that would run "
             "past the (padded) edge is not computed.")


# --------------------------------------------------------------------------- Exercise 4.3

def conv_params(fn):
    """``fn(kh, kw, c_in, c_out)``: weights and biases of a Conv2D layer."""
    cases = [
        ((3, 3, 3, 5), 140), ((3, 3, 1, 32), 320), ((3, 3, 32, 64), 18_496), ((5, 5, 3, 16), 1_216),
        ((1, 1, 64, 128), 8_320), ((3, 5, 2, 4), 124), ((11, 11, 3, 96), 34_944),
    ]
    return _integer_cases(
        "Exercise 4.3 conv_params", fn, cases,
        hint="each of the c_out filters has kh * kw * c_in weights (it spans every input channel) "
             "and one bias; the parameter count does not depend on the image size.")


# --------------------------------------------------------------------------- Exercise 4.4

def max_pool2d(fn):
    """``fn(x, size, stride)``: max pooling of an (H, W, C) array, each channel on its own."""
    rng = np.random.default_rng(42)
    x4 = np.array([[1, 3, 2, 1], [4, 2, 0, 1], [5, 1, 7, 3], [0, 6, 2, 8]], dtype=float)[..., None]
    x7 = rng.normal(size=(7, 7, 2))
    x6 = rng.integers(-9, 10, size=(6, 5, 3)).astype(float)
    cases = [
        ((x4, 2, 2), np.array([[4.0, 2.0], [6.0, 8.0]])[..., None]),
        ((x7, 2, 2), _max_pool2d(x7, 2, 2)),
        ((x7, 2, 1), _max_pool2d(x7, 2, 1)),
        ((x7, 3, 2), _max_pool2d(x7, 3, 2)),
        ((x6, 2, 2), _max_pool2d(x6, 2, 2)),
        ((-np.abs(x6) - 1, 3, 3), _max_pool2d(-np.abs(x6) - 1, 3, 3)),
    ]
    return check_function(
        "Exercise 4.4 max_pool2d", fn, cases, numpy=True,
        hint="the output is floor((n - size) / stride) + 1 along each axis (windows that would run past "
             "the edge are dropped); take the maximum over the two spatial axes of each window and keep "
             "the channel axis: window.max(axis=(0, 1)). Start a maximum from -inf, not from 0.")


# --------------------------------------------------------------------------- Exercise 4.5

SPEC_PARAMS = 80 + 1_168 + 5_770        # conv 1->8, conv 8->16, dense 576->10
SPEC = ("conv 3x3, 8 filters, padding 1 ('same'), ReLU; max pool 2x2; conv 3x3, 16 filters, no padding, "
        "ReLU; max pool 2x2; flatten; dense 576 -> 10 class scores")
_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "none": lambda z: z,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
}


def _framework(obj):
    """'keras' or 'torch' for a model, 'keras class' / 'torch class' for a model class, else None.
    Keras is tested first: on its torch backend a Keras model is also a torch.nn.Module. Neither
    framework is imported here unless the notebook already did."""
    if "keras" in sys.modules:
        import keras

        if isinstance(obj, keras.Model):
            return "keras"
        if isinstance(obj, type) and issubclass(obj, keras.Model):
            return "keras class"
    if "torch" in sys.modules:
        import torch

        if isinstance(obj, torch.nn.Module):
            return "torch"
        if isinstance(obj, type) and issubclass(obj, torch.nn.Module):
            return "torch class"
    return None


def _sizes():
    """Flattened size -> what a model with that size got wrong (padding or pooling left out)."""
    out = {}
    for pad1, pad2, pool1, pool2 in product((1, 0), (0, 1), (True, False), (True, False)):
        n = 28 + 2 * pad1 - 2
        n = n // 2 if pool1 else n
        n = n + 2 * pad2 - 2
        n = n // 2 if pool2 else n
        wrong = ([] if pad1 else ["the first convolution has no padding (it needs padding 1, 'same')"]) + \
                (["the second convolution is padded (it needs none, 'valid')"] if pad2 else []) + \
                ([] if pool1 else ["the first max pooling is missing"]) + \
                ([] if pool2 else ["the second max pooling is missing"])
        out.setdefault(n * n * 16, []).append(" and ".join(wrong) or "as the spec")
    return {size: " - or - ".join(ways) for size, ways in out.items()}


def _flat_size_hint(size):
    what = _sizes().get(size)
    base = (f"the dense layer gets {size:,} numbers per image, expected 576 = 6 x 6 x 16 "
            "(28 -> conv 'same' 28 -> pool 14 -> conv 'valid' 12 -> pool 6)")
    return base + (f": {what}" if what and what != "as the spec" else "")


def _layers(model, kind):
    """The model's convolutions, dense layers and other layers with weights, as NumPy:
    convs [(kernel (kh, kw, in, out), bias or None, stride, dilation, groups)], dense [(W (in, out), b)],
    others [layer type names]."""
    convs, dense, others = [], [], []
    if kind == "keras":
        import keras

        def walk(layer):
            subs = getattr(layer, "layers", None)
            if subs is not None and layer is not model and isinstance(layer, keras.Model):
                for sub in subs:
                    walk(sub)
            elif layer is model:
                for sub in model.layers:
                    walk(sub)
            elif isinstance(layer, keras.layers.Conv2D):
                convs.append((to_numpy(layer.kernel), None if layer.bias is None else to_numpy(layer.bias),
                              tuple(layer.strides), tuple(layer.dilation_rate), getattr(layer, "groups", 1)))
            elif isinstance(layer, keras.layers.Dense):
                dense.append((to_numpy(layer.kernel), None if layer.bias is None else to_numpy(layer.bias)))
            elif layer.weights:
                others.append(type(layer).__name__)

        walk(model)
        return convs, dense, others
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            convs.append((to_numpy(m.weight).transpose(2, 3, 1, 0), None if m.bias is None else to_numpy(m.bias),
                          tuple(m.stride), tuple(m.dilation), m.groups))
        elif isinstance(m, torch.nn.Linear):
            dense.append((to_numpy(m.weight).T, None if m.bias is None else to_numpy(m.bias)))
        elif any(True for _ in m.parameters(recurse=False)):
            others.append(type(m).__name__)
    return convs, dense, others


def _run(model, kind, x):
    """The model's output for the (N, 28, 28) images ``x``, in inference mode, as NumPy."""
    if kind == "keras":
        return to_numpy(model(x[..., None], training=False)).astype(np.float64)
    import torch

    model.eval()
    first = next(iter(model.parameters()), None)
    where = first.device if first is not None else "cpu"
    with torch.no_grad():
        return to_numpy(model(torch.from_numpy(x[:, None]).to(where))).astype(np.float64)


def _conv(h, kernel, bias, pad):
    """'Valid' cross-correlation of (N, H, W, C) maps after ``pad`` zeros on each side, stride 1."""
    if pad:
        h = np.pad(h, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(h, kernel.shape[:2], axis=(1, 2))
    return np.einsum("nhwcij,ijco->nhwo", windows, kernel) + bias


def _pool(h, kind):
    n, height, width, c = h.shape
    h = h[:, :height // 2 * 2, :width // 2 * 2].reshape(n, height // 2, 2, width // 2, 2, c)
    return h.max(axis=(2, 4)) if kind == "max" else h.mean(axis=(2, 4))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _variants(x, convs, dense, kind):
    """(differences from the spec, output) for the spec and the usual ways to get it wrong, the
    spec first: each conv's activation, max or average pooling, where the padding is, the flatten
    order, and what follows the dense layer."""
    (k1, b1, *_), (k2, b2, *_) = convs
    w, b = dense[0]
    h0 = x[..., None].astype(np.float64)
    first = {}
    for pad1 in (1, 0):
        for act1, pool1 in product(_ACTIVATIONS, ("max", "avg")):
            first[pad1, act1, pool1] = _pool(_ACTIVATIONS[act1](_conv(h0, k1, b1, pad1)), pool1)
    for (pad1, pad2), act1, pool1, act2, pool2 in product(((1, 0), (0, 1)), _ACTIVATIONS, ("max", "avg"),
                                                           _ACTIVATIONS, ("max", "avg")):
        h = _pool(_ACTIVATIONS[act2](_conv(first[pad1, act1, pool1], k2, b2, pad2)), pool2)
        if h.shape[1:] != (6, 6, 16):
            continue
        for order in ("usual", "other"):
            hwc = (kind == "keras") == (order == "usual")
            flat = (h if hwc else h.transpose(0, 3, 1, 2)).reshape(len(h), -1)
            scores = flat @ w + b
            ends = (("scores", scores), ("softmax", _softmax(scores)), ("relu", np.maximum(scores, 0)),
                    ("log-softmax", np.log(_softmax(scores))))
            for end, out in ends:
                differences = []
                if (pad1, pad2) != (1, 0):
                    differences.append("the padding is on the wrong convolution: the first needs padding 1 "
                                       "('same'), the second none ('valid')")
                for i, (act, pool) in enumerate(((act1, pool1), (act2, pool2)), 1):
                    if act == "none":
                        differences.append(f"no ReLU after convolution {i}")
                    elif act != "relu":
                        differences.append(f"convolution {i} is followed by {act}, not ReLU")
                    if pool == "avg":
                        differences.append(f"average pooling after convolution {i}, where the spec has max "
                                           "pooling")
                if order == "other":
                    differences.append("the dense layer reads the feature maps in another order than "
                                       "Flatten does (a permute or transpose before flattening?)")
                if end == "softmax":
                    differences.append("the model ends with a softmax: the spec's last layer gives class "
                                       "scores (logits), and the loss applies the softmax itself "
                                       + ("(from_logits=True)" if kind == "keras" else "(F.cross_entropy)"))
                elif end == "log-softmax":
                    differences.append("the model ends with a log-softmax: the spec's last layer gives class "
                                       "scores (logits), and the loss applies the (log-)softmax itself")
                elif end == "relu":
                    differences.append("the dense layer has a ReLU: class scores must be free to be "
                                       "negative, so the last layer has no activation")
                yield differences, out


def _judge_spec(model, kind):
    """None when ``model`` computes the spec CNN, else what differs."""
    x = np.random.default_rng(45).random((4, 28, 28)).astype(np.float32)
    out, error = call(_run, model, kind, x)
    if error:
        shapes = re.search(r"\(4x(\d+) and (\d+)x", error) or re.search(r"shape \(4, (\d+)\)", error)
        problem = "running the model on a batch of 4 images " + \
            ("(4, 28, 28, 1)" if kind == "keras" else "(4, 1, 28, 28)") + " failed: " + \
            error.removeprefix("calling it raised ")
        if shapes:
            problem += "\n   " + _flat_size_hint(int(shapes.group(1)))
        return problem
    convs, dense, others = _layers(model, kind)
    if others:
        return (f"the spec has two convolutions and one dense layer, nothing else with weights; this model "
                f"also has {', '.join(others)}")
    if len(convs) != 2:
        return f"expected 2 convolution layers, found {len(convs)}"
    if len(dense) != 1:
        sizes = " and ".join(f"{w.shape[0]} -> {w.shape[1]}" for w, _ in dense) or "none"
        return f"expected one dense layer (576 -> 10), found {len(dense)}: {sizes}"
    for i, ((kernel, bias, stride, dilation, groups), want) in enumerate(zip(convs, ((1, 8), (8, 16))), 1):
        kh, kw, c_in, c_out = kernel.shape
        if (kh, kw) != (3, 3):
            return f"convolution {i} has {kh}x{kw} filters, expected 3x3"
        if (c_in * groups, c_out) != want:
            return (f"convolution {i} turns {c_in * groups} channels into {c_out}, expected "
                    f"{want[0]} into {want[1]} ({want[1]} filters)")
        if bias is None:
            return f"convolution {i} has no bias; the spec's layers have one (use_bias / bias left on)"
        if any(s != 1 for s in stride):
            return (f"convolution {i} moves with stride {stride[0] if len(set(stride)) == 1 else stride}: "
                    "the spec's convolutions have stride 1, and max pooling halves the size")
        if any(d != 1 for d in dilation) or groups != 1:
            return f"convolution {i} is dilated or grouped; the spec's is a plain 3x3 convolution"
    w, b = dense[0]
    if b is None:
        return "the dense layer has no bias"
    if w.shape != (576, 10):
        return (_flat_size_hint(w.shape[0]) if w.shape[1] == 10 else
                f"the dense layer maps {w.shape[0]} -> {w.shape[1]}, expected 576 -> 10")
    if out.shape != (4, 10):
        return f"for a batch of 4 images the output should have shape (4, 10), got {out.shape}"
    if not np.isfinite(out).all():
        return "the output holds NaN or infinity"
    scale = max(1.0, float(np.abs(out).max()))
    for differences, reference in _variants(x, convs, dense, kind):
        if np.allclose(out, reference, rtol=1e-3, atol=1e-4 * scale):
            if not differences:
                return None
            return "it computes something other than the spec:\n   - " + "\n   - ".join(differences)
    return ("the layers have the spec's sizes, but the output is not what they compute in the spec's "
            f"order ({SPEC}). Is there an extra operation, or the pooling before the ReLU with average pooling?")


def spec_cnn(build):
    """``build()`` returns the CNN of the spec, in Keras or in PyTorch. The check runs it on random
    images and compares its output with the spec's forward pass computed in NumPy from the model's
    own weights."""
    name = "Exercise 4.5 spec CNN"
    hint = ("the spec, in order: " + SPEC + ". Its parameters: 80 + 1,168 + 5,770 = "
            f"{SPEC_PARAMS:,}.")
    if not callable(build):
        return _finish(name, f"expected a function that builds the model, got {type(build).__name__}")
    model, error = call(build)
    if error:
        return _finish(name, error, hint=hint)
    if model is None:
        return _finish(name, "build_spec_cnn() returned None: did it forget to `return` the model?")
    kind = _framework(model)
    if kind is None:
        return _finish(name, f"build_spec_cnn() returned {type(model).__name__}, not a Keras model or a "
                             "torch.nn.Module", hint=hint)
    if kind.endswith("class"):
        return _finish(name, f"build_spec_cnn() returned the class {model.__name__} itself: return a model, "
                             f"{model.__name__}()")
    problem = _judge_spec(model, kind)
    return _finish(name, problem, hint=None if problem and problem.startswith("it computes") else hint)
