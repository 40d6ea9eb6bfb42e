"""Checks for Lab 08 (residual networks), shared by the Keras and PyTorch notebooks.

    checks.lab08.block_params(block_params)    # Exercise 8.1: a basic block's parameters, by hand
    checks.lab08.shortcut(shortcut)            # Exercise 8.2: identity or projection shortcut
    checks.lab08.residual_block(ResidualBlock) # Exercise 8.3: the residual block (Keras function or nn.Module)
    checks.lab08.make_net(make_net)            # Exercise 8.4: the CIFAR network of depth 2 + 2n per stage

The framework is told apart by what the answer is or returns (a Keras model or tensor is tested for
first: on Keras's torch backend it is also a torch object) or, for Keras's functional answers
(a function of a tensor), by Keras being imported; ``framework="keras"`` or ``"pytorch"`` says it
outright. Each check runs the student's block on random inputs, with random batch-norm statistics,
and compares the output with the same layers (the student's own weights) put together the way the
paper does: out = ReLU(F(x) + shortcut(x)), F(x) = BN(conv(ReLU(BN(conv(x))))).
"""
import itertools
import sys

import numpy as np

from . import _finish, _one_line, call, to_numpy

# --------------------------------------------------------------------------- Exercise 8.1


def _block_params(c_in, c_out, stride=1):
    """Trained parameters of the basic block: two 3x3 convolutions without bias, each followed by
    batch norm (a scale and a shift per channel), and a 1x1 projection with batch norm when the
    shape changes."""
    count = 9 * c_in * c_out + 2 * c_out + 9 * c_out * c_out + 2 * c_out
    if stride != 1 or c_in != c_out:
        count += c_in * c_out + 2 * c_out
    return count


def block_params(fn):
    """``fn(c_in, c_out, stride)``: the number of trained parameters of a basic residual block."""
    name = "Exercise 8.1 block_params"
    cases = [(16, 16, 1), (16, 32, 2), (32, 32, 2), (64, 128, 1), (64, 64, 1), (3, 8, 1), (128, 256, 2)]

    def variants(ci, co, s):
        """Wrong counts students get, with what each one means."""
        shape_changes = s != 1 or ci != co
        convs = 9 * ci * co + 9 * co * co
        proj = ci * co if shape_changes else 0
        bns = (6 if shape_changes else 4) * co          # gamma and beta of every batch norm
        return [
            (convs + proj, "batch normalization has trained parameters too: a scale (gamma) and a shift "
                           "(beta) per channel, 2 * c_out for each of its layers."),
            (convs + proj + 2 * bns, "batch norm's running mean and variance are not trained: they are "
                                     "statistics (Keras lists them as non-trainable). Count gamma and beta only."),
            (convs + 4 * co if shape_changes else -1,
             "when the shape changes (c_in != c_out or stride != 1), the shortcut is a projection: a 1x1 "
             "convolution (c_in * c_out weights) followed by batch norm (2 * c_out)."),
            (_block_params(ci, co, s) + 2 * co + (co if shape_changes else 0),
             "the convolutions have no bias: batch norm right after them adds its own shift (beta)."),
            (_block_params(ci, co, s) + ci * co + 2 * co if not shape_changes else -1,
             "when the shapes match, the shortcut is the identity, x itself, with no parameters."),
            (_block_params(ci, co, s) + 8 * ci * co if shape_changes else -1,
             "the projection is a 1x1 convolution: c_in * c_out weights, not 9 * c_in * c_out."),
            (9 * ci * co + 9 * ci * co + 4 * co + (ci * co + 2 * co if shape_changes else 0),
             "the second convolution maps c_out channels to c_out channels: 9 * c_out * c_out weights."),
        ]

    for ci, co, s in cases:
        got, error = call(fn, ci, co, s)
        if error:
            return _finish(name, error)
        expected = _block_params(ci, co, s)
        if got is None:
            return _finish(name, "got None: did the function forget to `return` its result?")
        try:
            value = float(to_numpy(got))
        except (TypeError, ValueError):
            return _finish(name, f"expected a whole number, got {type(got).__name__}")
        if value != expected:
            hint = next((h for v, h in variants(ci, co, s) if h and v == value), None)
            return _finish(
                name, f"for c_in={ci}, c_out={co}, stride={s}: expected {expected:,} parameters, got {value:,.0f}",
                hint=hint or "3x3 conv c_in -> c_out (9 * c_in * c_out, no bias), batch norm (2 * c_out), 3x3 conv "
                             "c_out -> c_out (9 * c_out * c_out), batch norm (2 * c_out); plus, when the shape "
                             "changes, a 1x1 projection (c_in * c_out) with its batch norm (2 * c_out).")
    return _finish(name, None, n_cases=len(cases))


# --------------------------------------------------------------------------- frameworks


def _framework_of_function(framework):
    """'keras' or 'pytorch' for an answer that is a plain function: Keras when it is imported
    (the PyTorch notebook never imports it)."""
    if framework:
        return framework
    return "keras" if "keras" in sys.modules else "pytorch"


def _is_keras(obj):
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(obj, (keras.Model, keras.layers.Layer, keras.KerasTensor))


def _is_torch_module(obj):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


class _Layers:
    """The convolutions and batch norms of a student's block, in either framework, with what the
    reference needs: each layer callable on a batch, kernel sizes, channels, strides."""

    def __init__(self, kind, model):
        self.kind = kind
        if kind == "pytorch":
            from torch import nn

            mods = list(model.modules())
            self.convs = [m for m in mods if isinstance(m, nn.Conv2d)]
            self.bns = [m for m in mods if isinstance(m, nn.BatchNorm2d)]
        else:
            from keras import layers

            found = model._flatten_layers(include_self=False)
            self.convs = [m for m in found if isinstance(m, layers.Conv2D)]
            self.bns = [m for m in found if isinstance(m, layers.BatchNormalization)]

    def kernel(self, conv):
        return tuple(conv.kernel_size)

    def stride(self, conv):
        return tuple(conv.stride if self.kind == "pytorch" else conv.strides)

    def c_in(self, conv):
        return conv.in_channels if self.kind == "pytorch" else int(conv.kernel.shape[-2])

    def randomize_bns(self, rng):
        """Give every batch norm its own scale, shift and running statistics, so that a block whose
        layers are put together in another order cannot give the same output by chance."""
        for bn in self.bns:
            c = bn.num_features if self.kind == "pytorch" else int(bn.gamma.shape[0])
            values = [rng.uniform(0.5, 1.5, c), rng.normal(0, 0.5, c), rng.normal(0, 0.5, c), rng.uniform(0.5, 2, c)]
            if self.kind == "pytorch":
                import torch

                with torch.no_grad():
                    for t, v in zip((bn.weight, bn.bias, bn.running_mean, bn.running_var), values):
                        if t is not None:
                            t.copy_(torch.as_tensor(v, dtype=t.dtype))
            else:
                weights = bn.get_weights()
                order = {"gamma": 0, "beta": 1, "moving_mean": 2, "moving_variance": 3}
                names = [w.path.split("/")[-1] for w in bn.weights]
                bn.set_weights([values[order[n]].astype(w.dtype) for n, w in zip(names, weights)])

    def apply(self, layer, x):
        if self.kind == "pytorch":
            return layer(x)
        import keras

        # NumPy out: on Keras's torch backend a layer's output tracks gradients, and NumPy cannot add it
        out = layer(x, training=False) if layer in self.bns else layer(x)
        return keras.ops.convert_to_numpy(out)

    def relu(self, x):
        if self.kind == "pytorch":
            import torch

            return torch.relu(x)
        return np.maximum(x, 0)


def _close(got, expected):
    g, e = to_numpy(got).astype(float), to_numpy(expected).astype(float)
    return g.shape == e.shape and np.allclose(g, e, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(e).max())))


def _param_count(kind, model):
    if kind == "pytorch":
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _input(kind, n, c, size, rng):
    """A random batch, channels first for PyTorch and last for Keras, and its NumPy copy."""
    x = rng.normal(size=(n, c, size, size) if kind == "pytorch" else (n, size, size, c)).astype(np.float32)
    if kind == "pytorch":
        import torch

        return torch.from_numpy(x.copy()), x
    return x.copy(), x


def _expected_shape(kind, n, c, size):
    return (n, c, size, size) if kind == "pytorch" else (n, size, size, c)


def _build_keras(fn, c_in, size, *args):
    """Run a functional answer ``fn(x, *args)`` on a symbolic input: (model, None) or (None, problem)."""
    import keras

    inputs = keras.Input((size, size, c_in))
    out, error = call(fn, inputs, *args)
    if error:
        return None, error
    if out is None:
        return None, "got None: did the function forget to `return` the output tensor?"
    if not isinstance(out, keras.KerasTensor):
        return None, (f"expected the output tensor of the layers (a KerasTensor), got {type(out).__name__}: "
                      "call each layer on a tensor, y = layers.Conv2D(...)(x), and return the last one")
    if out is inputs:                  # the identity: Keras before 3.15 (Colab's 3.13) refuses Model(x, x)
        return keras.Sequential([keras.Input((size, size, c_in)), keras.layers.Identity()]), None
    try:
        return keras.Model(inputs, out), None
    except Exception as e:  # noqa: BLE001 - reported, not raised
        return None, f"the layers could not be made into a model: {type(e).__name__}: {_one_line(e)}"


def _run(kind, model, x):
    """The model's output on ``x`` in inference mode (batch norm uses its running statistics)."""
    if kind == "pytorch":
        import torch

        model.eval()
        with torch.no_grad():
            return model(x)
    return model(x, training=False)


# --------------------------------------------------------------------------- Exercise 8.2

SHORTCUT_HINT = ("the shortcut is x itself when the shape does not change (same channels, stride 1), and a "
                 "projection W_s x otherwise: a 1x1 convolution with c_out filters and the block's stride (no "
                 "bias), then batch normalization. No ReLU: the ReLU comes after the addition, in the block.")


def shortcut(fn, framework=None):
    """``fn`` builds the shortcut: PyTorch ``shortcut(c_in, c_out, stride)`` returns an ``nn.Module``;
    Keras ``shortcut(x, filters, stride)`` returns the tensor."""
    name = "Exercise 8.2 shortcut"
    if not callable(fn):
        return _finish(name, f"expected a function, got {type(fn).__name__}")
    kind = _framework_of_function(framework)
    rng = np.random.default_rng(8)
    cases = [(16, 16, 1), (16, 32, 2), (8, 8, 2), (8, 24, 1)]
    size = 8
    for ci, co, s in cases:
        where = f"c_in={ci}, c_out={co}, stride={s}"
        if kind == "pytorch":
            model, error = call(fn, ci, co, s)
            if error:
                return _finish(name, f"{where}: {error}" if not error.startswith("TODO") else error)
            if model is None:
                return _finish(name, "got None: did the function forget to `return` the module?")
            if not _is_torch_module(model):
                return _finish(name, f"{where}: expected an nn.Module, got {type(model).__name__}",
                               hint="return nn.Identity() for the identity and nn.Sequential(conv, batch norm) for "
                                    "the projection: a module, so that the block that holds it registers (and "
                                    "trains) its parameters.")
        else:
            model, error = _build_keras(fn, ci, size, co, s)
            if error:
                return _finish(name, error if error.startswith("TODO") else f"{where}: {error}", hint=SHORTCUT_HINT)
        found = _Layers(kind, model)
        found.randomize_bns(rng)
        x, x_np = _input(kind, 2, ci, size, rng)
        try:
            out = _run(kind, model, x)
        except Exception as e:  # noqa: BLE001
            return _finish(name, f"{where}: running it on a batch of shape {tuple(x_np.shape)} raised "
                                 f"{type(e).__name__}: {_one_line(e)}", hint=SHORTCUT_HINT)
        want_shape = _expected_shape(kind, 2, co, size // s)
        got_shape = tuple(to_numpy(out).shape)
        if got_shape != want_shape:
            extra = (" The shape changes here, so x cannot be added to F(x) as it is: use the projection."
                     if got_shape == tuple(x_np.shape) else "")
            return _finish(name, f"{where}: expected an output of shape {want_shape} (it is added to F(x)), "
                                 f"got {got_shape}.{extra}", hint=SHORTCUT_HINT)
        n_params = _param_count(kind, model)
        if ci == co and s == 1:
            if n_params or not np.allclose(to_numpy(out), x_np):
                return _finish(name, f"{where}: expected the identity (x itself, no parameters), got "
                                     f"{n_params:,} parameters",
                               hint="when the shapes match, ResNet adds x itself: the identity shortcut costs "
                                    "nothing. Projections are used only where the shape changes.")
            continue
        convs, bns = found.convs, found.bns
        if len(convs) != 1 or found.kernel(convs[0]) != (1, 1):
            kernels = ", ".join("x".join(map(str, found.kernel(c))) for c in convs) or "none"
            return _finish(name, f"{where}: expected one 1x1 convolution in the projection, found convolutions "
                                 f"with kernels: {kernels}", hint=SHORTCUT_HINT)
        if len(bns) != 1:
            return _finish(name, f"{where}: expected one batch normalization after the 1x1 convolution, found "
                                 f"{len(bns)}", hint=SHORTCUT_HINT)
        expected_params = ci * co + 2 * co
        if n_params not in (expected_params, expected_params + co):
            return _finish(name, f"{where}: expected {expected_params:,} parameters (1x1 conv {ci * co:,}, batch "
                                 f"norm {2 * co}), got {n_params:,}", hint=SHORTCUT_HINT)
        reference = found.apply(bns[0], found.apply(convs[0], x))
        if _close(out, reference):
            continue
        if _close(out, found.relu(reference)):
            return _finish(name, f"{where}: the output matches ReLU(BN(conv(x))): the shortcut has no ReLU",
                           hint="the ReLU comes once, after the addition F(x) + W_s x, in the block; a ReLU on "
                                "the shortcut would cut the negative part of what it carries.")
        if _close(out, found.apply(convs[0], x)):
            return _finish(name, f"{where}: the output matches conv(x) without its batch normalization",
                           hint="apply the batch norm layer to the 1x1 convolution's output.")
        return _finish(name, f"{where}: the output differs from BN(conv1x1(x)) computed with your own layers",
                       hint=SHORTCUT_HINT)
    return _finish(name, None, n_cases=len(cases))


# --------------------------------------------------------------------------- Exercise 8.3

BLOCK_HINT = ("out = ReLU(F(x) + shortcut(x)) with F(x) = BN(conv3x3(ReLU(BN(conv3x3(x, stride))))): the "
              "first convolution carries the stride and maps c_in to c_out channels, the second keeps c_out; "
              "the shortcut is Exercise 8.2's; the addition comes before the last ReLU.")


def _block_candidates(found, c_in, c_out, stride):
    """Every way of reading the student's layers as (conv1, bn1, conv2, bn2, projection, bn3)."""
    threes = [c for c in found.convs if found.kernel(c) == (3, 3)]
    ones = [c for c in found.convs if found.kernel(c) == (1, 1)]
    needs_projection = stride != 1 or c_in != c_out
    for conv1, conv2 in itertools.permutations(threes, 2):
        if found.c_in(conv1) != c_in or found.c_in(conv2) != c_out:
            continue
        for bns in itertools.permutations(found.bns, 3 if needs_projection else 2):
            if needs_projection:
                for proj in ones:
                    yield conv1, bns[0], conv2, bns[1], proj, bns[2]
            else:
                yield conv1, bns[0], conv2, bns[1], None, None


def _compose(found, x, parts):
    """Outputs of the right block and of the usual wrong ones, all from the same layers."""
    conv1, bn1, conv2, bn2, proj, bn3 = parts
    relu, apply = found.relu, found.apply
    f = apply(bn2, apply(conv2, relu(apply(bn1, apply(conv1, x)))))
    sc = x if proj is None else apply(bn3, apply(proj, x))
    return {
        "right": relu(f + sc),
        "relu_then_add": relu(f) + sc,
        "no_last_relu": f + sc,
        "relu_on_shortcut": relu(f + relu(sc)),
        "no_shortcut": relu(f),
    }


WRONG_BLOCKS = {
    "relu_then_add": ("the output matches ReLU(F(x)) + shortcut(x): the shortcut is added after the last ReLU",
                      "add first, then apply the ReLU: out = ReLU(F(x) + shortcut(x)), as in He et al. (2016), "
                      "Fig. 2. Adding after the ReLU lets the output only grow with depth and leaves the sum "
                      "without a non-linearity."),
    "no_last_relu": ("the output matches F(x) + shortcut(x): the ReLU after the addition is missing",
                     "apply a ReLU to the sum: out = ReLU(F(x) + shortcut(x))."),
    "relu_on_shortcut": ("the output matches ReLU(F(x) + ReLU(shortcut(x))): the shortcut goes through a ReLU",
                         "the shortcut carries x (or W_s x) unchanged to the addition; the only ReLU after the "
                         "second batch norm is the one applied to the sum."),
    "no_shortcut": ("the output matches ReLU(F(x)) with no shortcut: this is the plain block",
                    "add the shortcut, shortcut(x), to F(x) before the last ReLU."),
}


def _new_block(kind, fn, c_in, c_out, stride, size):
    """Build the student's block: (model, None) or (None, problem)."""
    if kind == "pytorch":
        block, error = call(fn, c_in, c_out, stride)
        if error:
            return None, error
        if not _is_torch_module(block):
            return None, (f"ResidualBlock({c_in}, {c_out}, {stride}) gave {type(block).__name__}, not an nn.Module: "
                          "write a class that subclasses nn.Module")
        return block, None
    return _build_keras(fn, c_in, size, c_out, stride)


def _shape_hint(text):
    """The hint for an error that says F(x) and x could not be added (their shapes differ), else None."""
    if "size of tensor" in text or "must match" in text or "shape" in text.lower():
        return ("F(x) and x have different shapes here: when the channels or the stride change, the "
                "shortcut must be the projection of Exercise 8.2 (1x1 convolution with the stride, "
                "then batch norm).")
    return None


def residual_block(fn, framework=None):
    """PyTorch: ``fn`` is a class, ``fn(c_in, c_out, stride)`` an nn.Module; Keras: ``fn(x, filters,
    stride)`` returns the block's output tensor (functional API)."""
    name = "Exercise 8.3 residual block"
    if not callable(fn):
        return _finish(name, f"expected a class or a function, got {type(fn).__name__}")
    if framework is None and isinstance(fn, type):
        framework = "pytorch" if "torch" in sys.modules and issubclass(fn, sys.modules["torch"].nn.Module) \
            else None
    kind = _framework_of_function(framework)
    rng = np.random.default_rng(83)
    cases = [(16, 16, 1), (16, 32, 2), (8, 8, 2), (8, 16, 1)]
    size = 8
    for ci, co, s in cases:
        where = f"c_in={ci}, c_out={co}, stride={s}"
        model, error = _new_block(kind, fn, ci, co, s, size)
        if error:
            return _finish(name, error if error.startswith("TODO") else f"{where}: {error}",
                           hint=_shape_hint(error) or BLOCK_HINT)
        found = _Layers(kind, model)
        found.randomize_bns(rng)
        x, x_np = _input(kind, 2, ci, size, rng)
        try:
            out = _run(kind, model, x)
        except NotImplementedError as e:
            return _finish(name, f"TODO<{e}> " + str(e))
        except Exception as e:  # noqa: BLE001
            text = _one_line(e)
            hint = _shape_hint(text) or BLOCK_HINT
            return _finish(name, f"{where}: running the block on a batch of shape {tuple(x_np.shape)} raised "
                                 f"{type(e).__name__}: {text}", hint=hint)
        want_shape = _expected_shape(kind, 2, co, size // s)
        if tuple(to_numpy(out).shape) != want_shape:
            return _finish(name, f"{where}: expected an output of shape {want_shape}, got "
                                 f"{tuple(to_numpy(out).shape)}", hint=BLOCK_HINT)
        n_params, want = _param_count(kind, model), _block_params(ci, co, s)
        if (n_params - want) not in range(0, co * len(found.convs) + 1, co):     # conv biases are allowed
            return _finish(name, f"{where}: expected {want:,} trained parameters (Exercise 8.1's count), got "
                                 f"{n_params:,}", hint=BLOCK_HINT)
        candidates = list(_block_candidates(found, ci, co, s))
        if not candidates:
            shapes = ", ".join(f"{'x'.join(map(str, found.kernel(c)))} from {found.c_in(c)} channels"
                               for c in found.convs)
            return _finish(name, f"{where}: expected two 3x3 convolutions ({ci} -> {co}, then {co} -> {co}), "
                                 f"{'a 1x1 projection and three' if s != 1 or ci != co else 'two'} batch norms; "
                                 f"found convolutions {shapes or 'none'} and {len(found.bns)} batch norm(s)",
                           hint=BLOCK_HINT)
        matched = None
        for parts in candidates:
            outs = _compose(found, x, parts)
            if _close(out, outs["right"]):
                matched = "right"
                break
            matched = matched or next((k for k in WRONG_BLOCKS if _close(out, outs[k])), None)
        if matched == "right":
            continue
        if matched:
            problem, hint = WRONG_BLOCKS[matched]
            return _finish(name, f"{where}: {problem}", hint=hint)
        return _finish(name, f"{where}: the output differs from ReLU(F(x) + shortcut(x)) computed with your own "
                             "layers (run in inference mode)", hint=BLOCK_HINT)
    return _finish(name, None, n_cases=len(cases))


# --------------------------------------------------------------------------- Exercise 8.4


def _reference_block_torch(c_in, c_out, stride=1):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))

    return Block()


def _reference_block_keras(x, filters, stride=1):
    from keras import layers

    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same", use_bias=False)(y))
    if stride != 1 or x.shape[-1] != filters:
        x = layers.BatchNormalization()(layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x))
    return layers.ReLU()(layers.Add()([y, x]))


def _expected_blocks(depth, widths):
    n = (depth - 2) // (2 * len(widths))
    calls, c_in = [], widths[0]
    for i, c_out in enumerate(widths):
        for j in range(n):
            calls.append((c_in, c_out, 2 if i > 0 and j == 0 else 1))
            c_in = c_out
    return calls


def _net_params(depth, widths, classes=10):
    stem = 27 * widths[0] + 2 * widths[0]
    blocks = sum(_block_params(*b) for b in _expected_blocks(depth, widths))
    return stem + blocks + widths[-1] * classes + classes


NET_HINT = ("a 3x3 convolution from 3 to widths[0] channels with batch norm and ReLU; then one stage per width, "
            "each of n = (depth - 2) / (2 * len(widths)) blocks, the first block of every stage but the first "
            "with stride 2; then global average pooling and a dense layer to 10 class scores (no softmax).")


def make_net(fn, framework=None):
    """``fn(depth, widths, block)`` builds the network; ``block`` is called as ``block(c_in, c_out,
    stride)`` (PyTorch) or ``block(x, filters, stride)`` (Keras)."""
    name = "Exercise 8.4 make_net"
    if not callable(fn):
        return _finish(name, f"expected a function, got {type(fn).__name__}")
    kind = _framework_of_function(framework)
    cases = [(8, (16, 32, 64)), (14, (8, 16, 32)), (18, (8, 16, 24, 32)), (26, (4, 8, 8, 16)), (20, (4, 8, 16))]
    rng = np.random.default_rng(84)
    for depth, widths in cases:
        where = f"make_net({depth}, {widths}, block)"
        calls = []
        if kind == "pytorch":
            def block(c_in, c_out, stride=1, _calls=calls):
                _calls.append((int(c_in), int(c_out), int(stride)))
                return _reference_block_torch(c_in, c_out, stride)
        else:
            def block(x, filters, stride=1, _calls=calls):
                _calls.append((int(x.shape[-1]), int(filters), int(stride)))
                return _reference_block_keras(x, filters, stride)
        model, error = call(fn, depth, widths, block)
        if error:
            return _finish(name, error if error.startswith("TODO") else f"{where}: {error}", hint=NET_HINT)
        if model is None:
            return _finish(name, "got None: did the function forget to `return` the model?")
        if _is_keras(model):
            kind_of_model = "keras"
        elif _is_torch_module(model):
            kind_of_model = "pytorch"
        else:
            return _finish(name, f"{where} returned {type(model).__name__}, not a Keras or PyTorch model")
        if kind_of_model != kind:
            return _finish(name, f"{where} returned a {kind_of_model} model in the {kind} notebook")
        want = _expected_blocks(depth, widths)
        if calls != want:
            n = (depth - 2) // (2 * len(widths))
            return _finish(name, f"{where}: expected {len(want)} blocks, {n} per stage, as (c_in, c_out, stride): "
                                 f"{want}\n   got {len(calls)}: {calls}", hint=NET_HINT)
        x, _ = _input(kind, 2, 3, 32, rng)
        try:
            out = to_numpy(_run(kind, model, x))
        except Exception as e:  # noqa: BLE001
            return _finish(name, f"{where}: running it on two 32x32 colour images raised {type(e).__name__}: "
                                 f"{_one_line(e)}", hint=NET_HINT)
        if out.shape != (2, 10):
            return _finish(name, f"{where}: expected class scores of shape (2, 10) for two images, got "
                                 f"{out.shape}", hint=NET_HINT)
        if np.all(out >= 0) and np.allclose(out.sum(axis=1), 1, atol=1e-4):
            return _finish(name, f"{where}: the outputs are probabilities (each row sums to 1)",
                           hint="return class scores (logits): no softmax at the end; the loss applies it.")
        n_params, expected = _param_count(kind, model), _net_params(depth, widths)
        if n_params not in (expected, expected + widths[0]):
            hint = NET_HINT
            if n_params > expected + 10 * widths[-1]:
                hint = ("the dense layer has too many inputs: average each of the last stage's feature maps to "
                        "one number first (global average pooling), so it sees widths[-1] numbers.")
            return _finish(name, f"{where}: expected {expected:,} trained parameters, got {n_params:,}", hint=hint)
    return _finish(name, None, n_cases=len(cases))
