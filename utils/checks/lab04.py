"""Checks for Lab 04 (convolutional networks), shared by the Keras and PyTorch notebooks.

    checks.lab04.conv2d(conv2d)                        # Exercise 4.1
    checks.lab04.conv_output_size(conv_output_size)    # Exercise 4.2
    checks.lab04.conv_params(conv_params)              # Exercise 4.3
    checks.lab04.max_pool2d(max_pool2d)                # Exercise 4.4
    checks.lab04.spec_cnn(build_spec_cnn)              # Exercise 4.5 (a Keras or a PyTorch model)
"""
import numpy as np

from . import _finish, call, check_function

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
    ]
    return check_function(
        "Exercise 4.1 conv2d", fn, cases,
        hint="slide the kernel without flipping it (deep learning's 'convolution' is a cross-correlation), "
             "pad with `padding` zeros on all four sides first, move `stride[0]` rows and `stride[1]` "
             "columns at a time, and size the output floor((n + 2p - k) / s) + 1 along each axis.")


# --------------------------------------------------------------------------- Exercise 4.2

def conv_output_size(fn):
    """``fn(n, k, padding, stride)``: the output length of a convolution along one axis."""
    cases = [
        ((28, 3, 1, 1), 28), ((28, 3, 0, 1), 26), ((32, 5, 0, 1), 28), ((9, 3, 0, 1), 7),
        ((3, 2, 1, 3), 2), ((7, 3, 0, 2), 3), ((8, 3, 0, 2), 3), ((224, 7, 3, 2), 112),
        ((227, 11, 0, 4), 55), ((5, 5, 0, 1), 1), ((10, 4, 1, 3), 3),
    ]
    return check_function(
        "Exercise 4.2 conv_output_size", fn, cases, atol=0,
        hint="(n + 2 * padding - k) // stride + 1: integer division, because a window that would run "
             "past the (padded) edge is not computed.")


# --------------------------------------------------------------------------- Exercise 4.3

def conv_params(fn):
    """``fn(kh, kw, c_in, c_out)``: weights and biases of a Conv2D layer."""
    cases = [
        ((3, 3, 3, 5), 140), ((3, 3, 1, 32), 320), ((3, 3, 32, 64), 18_496), ((5, 5, 3, 16), 1_216),
        ((1, 1, 64, 128), 8_320), ((3, 5, 2, 4), 124), ((11, 11, 3, 96), 34_944),
    ]
    return check_function(
        "Exercise 4.3 conv_params", fn, cases, atol=0,
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
        "Exercise 4.4 max_pool2d", fn, cases,
        hint="the output is floor((n - size) / stride) + 1 along each axis (windows that would run past "
             "the edge are dropped); take the maximum over the two spatial axes of each window and keep "
             "the channel axis: window.max(axis=(0, 1)). Start a maximum from -inf, not from 0.")


# --------------------------------------------------------------------------- Exercise 4.5

SPEC_PARAMS = 80 + 1_168 + 5_770        # conv 1->8, conv 8->16, dense 576->10


def _framework(model):
    module = type(model).__module__
    if module.startswith("torch"):
        return "pytorch"
    if module.startswith(("keras", "tf_keras", "tensorflow")):
        return "keras"
    return None


def _run_model(model):
    """(output shape, parameter count) of a Keras or PyTorch model on two blank 28x28 images."""
    kind = _framework(model)
    if kind == "pytorch":
        import torch

        model.eval()
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else "cpu"
        with torch.no_grad():   # run first: lazy layers get their weights on the first call
            out = model(torch.zeros(2, 1, 28, 28, device=device))
        return tuple(out.shape), sum(p.numel() for p in model.parameters())
    out = model(np.zeros((2, 28, 28, 1), dtype="float32"))
    return tuple(int(d) for d in out.shape), int(model.count_params())


def spec_cnn(build):
    """``build()`` returns the CNN of the spec, in Keras or in PyTorch."""
    name = "Exercise 4.5 spec CNN"
    if not callable(build):
        return _finish(name, f"expected a function that builds the model, got {type(build).__name__}")
    model, error = call(build)
    if error:
        return _finish(name, error)
    if _framework(model) is None:
        return _finish(name, f"build() returned {type(model).__name__}, not a Keras or a PyTorch model; "
                             "did it forget to `return` the model?")
    try:
        shape, n_params = _run_model(model)
    except Exception as e:  # noqa: BLE001 - a wrong model must not end in a traceback
        return _finish(name, f"the model failed on a batch of two 28x28x1 images: {type(e).__name__}: "
                             f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}",
                       hint="check the layer sizes: after the second pooling each image is 6x6x16, "
                            "576 numbers once flattened.")
    if shape != (2, 10):
        return _finish(name, f"for a batch of 2 images the output should have shape (2, 10), got {shape}")
    if n_params != SPEC_PARAMS:
        return _finish(name, f"expected {SPEC_PARAMS:,} parameters, got {n_params:,}",
                       hint="conv 1: 3x3, 8 filters, 'same' padding (80 parameters); conv 2: 3x3, 16 "
                            "filters, no padding (1,168); dense: 576 -> 10 (5,770). 9,098 means the "
                            "second conv was padded.")
    return _finish(name, None)
