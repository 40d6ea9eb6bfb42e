"""EfficientNet-Lite0 in Keras, layer for layer the network of ``utils/efficientnet_torch.py``,
with the ImageNet weights ported from the PyTorch state dict.

    from utils import pretrained
    model = pretrained.keras_efficientnet_lite0()                       # 1000 ImageNet classes
    base = pretrained.keras_efficientnet_lite0(include_top=False, pooling="avg")   # 1280 features

The model is built from named parts, like the PyTorch module: ``stem`` (a Sequential),
``block0`` ... ``block15`` (one small functional model per MBConv block), ``head``, then
``pool``, ``dropout`` and ``classifier``; ``model.get_layer("block15")`` is one block.

What the port has to get right (each checked by tests/test_pretrained.py):
- convolution kernels: PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out);
- depthwise kernels: PyTorch (channels, 1, kh, kw) -> Keras (kh, kw, channels, 1);
- dense weights: PyTorch (out, in) -> Keras (in, out);
- batch norm: weight/bias/running_mean/running_var -> gamma/beta/moving_mean/moving_variance,
  epsilon 1e-3 in both, Keras momentum 0.99 = PyTorch momentum 0.01;
- padding: Keras's "same" is TensorFlow's rule (extra zero row/column at the bottom/right), the
  rule the PyTorch version implements by hand, on both Keras backends.
"""
import keras
import numpy as np
from keras import layers

from .pretrained import LITE0_HEAD as HEAD
from .pretrained import LITE0_STAGES as STAGES
from .pretrained import LITE0_STEM as STEM

BN_EPS = 1e-3
BN_MOMENTUM = 0.99     # Keras's convention: the weight of the old average


def _conv_bn(x, filters, kernel_size=1, stride=1, relu6=True, depthwise=False, name=""):
    if depthwise:
        x = layers.DepthwiseConv2D(kernel_size, strides=stride, padding="same", use_bias=False,
                                   name=f"{name}_conv")(x)
    else:
        x = layers.Conv2D(filters, kernel_size, strides=stride, padding="same", use_bias=False,
                          name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPS, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    if relu6:
        x = layers.ReLU(max_value=6.0, name=f"{name}_relu6")(x)
    return x


def mbconv(c_in, c_out, kernel_size, stride, expansion, name):
    """One MBConv block as a small functional model: expand, depthwise, project, (+ input)."""
    inputs = keras.Input((None, None, c_in))
    x = inputs
    if expansion != 1:
        x = _conv_bn(x, c_in * expansion, name="expand")
    x = _conv_bn(x, None, kernel_size, stride, depthwise=True, name="depthwise")
    x = _conv_bn(x, c_out, relu6=False, name="project")
    if stride == 1 and c_in == c_out:
        x = layers.Add(name="residual")([x, inputs])
    return keras.Model(inputs, x, name=name)


def _sequential(c_in, c_out, kernel_size, stride, name):
    inputs = keras.Input((None, None, c_in))
    return keras.Model(inputs, _conv_bn(inputs, c_out, kernel_size, stride, name="0"), name=name)


def build(input_shape=(224, 224, 3), include_top=True, pooling=None, num_classes=1000, dropout=0.2):
    """The architecture, randomly initialised. ``include_top=False`` ends after the head (a
    feature map), or with ``pooling="avg"`` after global average pooling (1280 features)."""
    inputs = keras.Input(input_shape, name="image")
    x = _sequential(3, STEM, 3, 2, "stem")(inputs)
    c_in, index = STEM, 0
    for repeats, k, stride, expansion, c_out in STAGES:
        for i in range(repeats):
            x = mbconv(c_in, c_out, k, stride if i == 0 else 1, expansion, name=f"block{index}")(x)
            c_in, index = c_out, index + 1
    x = _sequential(c_in, HEAD, 1, 1, "head")(x)
    if include_top or pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="pool")(x)
    if include_top:
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, x, name="efficientnet_lite0")


# --------------------------------------------------------------------------- the port

def _np(t):
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def _set_conv_bn(part, state, prefix, depthwise=False):
    """Copy one convolution + batch norm pair from the (course-named) state dict."""
    kernel = _np(state[f"{prefix}.0.weight"])
    # (out, in, kh, kw) -> (kh, kw, in, out); depthwise (channels, 1, kh, kw) -> (kh, kw, channels, 1)
    kernel = kernel.transpose(2, 3, 0, 1) if depthwise else kernel.transpose(2, 3, 1, 0)
    part["conv"].set_weights([kernel])
    part["bn"].set_weights([_np(state[f"{prefix}.1.{k}"])
                            for k in ("weight", "bias", "running_mean", "running_var")])


def _parts(model, names):
    return {name: {"conv": model.get_layer(f"{name}_conv"), "bn": model.get_layer(f"{name}_bn")}
            for name in names}


def port(model, state):
    """Copy the PyTorch state dict (course names, see ``efficientnet_torch.rename``) into ``model``
    built by :func:`build`. Refuses tensors whose shapes do not match."""
    stem = model.get_layer("stem")
    _set_conv_bn(_parts(stem, ["0"])["0"], state, "stem")
    for index in range(sum(s[0] for s in STAGES)):
        block = model.get_layer(f"block{index}")
        names = [layer.name[:-len("_conv")] for layer in block.layers if layer.name.endswith("_conv")]
        parts = _parts(block, names)
        for name in names:
            _set_conv_bn(parts[name], state, f"blocks.{index}.{name}", depthwise=name == "depthwise")
    _set_conv_bn(_parts(model.get_layer("head"), ["0"])["0"], state, "head")
    if "classifier" in [layer.name for layer in model.layers]:      # (out, in) -> (in, out)
        model.get_layer("classifier").set_weights([_np(state["classifier.weight"]).T,
                                                   _np(state["classifier.bias"])])
    return model
