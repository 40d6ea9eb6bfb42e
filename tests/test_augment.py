"""utils.augment: the course's batch augmentation (random horizontal flip + padded random crop, per
image, vectorized), in PyTorch and as Keras preprocessing layers on both Keras backends."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from utils import augment

torch = pytest.importorskip("torch")


def test_importing_augment_imports_no_framework():
    code = ("import sys\nfrom utils import augment\n"
            "bad = [m for m in ('torch', 'tensorflow', 'keras', 'torchvision') if m in sys.modules]\n"
            "assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def reference(x, padding, dy, dx, flip):
    """One image (C, H, W) cut at (dy, dx) of the zero-padded image, mirrored when ``flip``."""
    _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    out = padded[:, dy:dy + h, dx:dx + w]
    return out[:, :, ::-1] if flip else out


def distinct_images(batch):
    return len(torch.unique(batch.reshape(len(batch), -1), dim=0))


def test_shape_dtype_and_device_are_kept():
    x = torch.rand(5, 3, 8, 6)
    out = augment.flip_crop(x, padding=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    x8 = (torch.rand(4, 1, 7, 7) * 255).to(torch.uint8)
    assert augment.flip_crop(x8, padding=3).dtype == torch.uint8


def test_every_output_is_a_flip_of_a_padded_crop_moved_by_at_most_the_padding():
    p = 3
    x = torch.arange(6 * 2 * 9 * 7, dtype=torch.float32).reshape(6, 2, 9, 7) + 1   # every pixel different, none 0
    out = augment.flip_crop(x, padding=p, generator=torch.Generator().manual_seed(1)).numpy()
    for i in range(len(x)):
        matches = [(dy, dx, f) for dy in range(2 * p + 1) for dx in range(2 * p + 1) for f in (False, True)
                   if np.array_equal(out[i], reference(x[i].numpy(), p, dy, dx, f))]
        assert len(matches) == 1, f"image {i} is not one padded crop (matches: {matches})"
        dy, dx, _ = matches[0]
        assert abs(dy - p) <= p and abs(dx - p) <= p


def test_content_moves_by_at_most_the_padding():
    p = 4
    x = torch.zeros(200, 1, 32, 32)
    x[:, 0, 16, 10] = 1.0                                   # one bright pixel
    out = augment.flip_crop(x, padding=p, flip=False, generator=torch.Generator().manual_seed(2))
    where = torch.nonzero(out[:, 0] == 1.0)                 # (image, row, col) of the bright pixel if still in
    assert len(where) == 200                                # at 10 pixels from the edge it never leaves
    moves = where[:, 1:] - torch.tensor([16, 10])
    assert moves.abs().max() <= p and moves.abs().max() == p
    assert len({tuple(m) for m in moves.tolist()}) > 40     # many of the 81 possible shifts occur


def test_each_image_gets_its_own_draw():
    copies = torch.rand(1, 3, 16, 16).repeat(64, 1, 1, 1)
    out = augment.flip_crop(copies, padding=4, generator=torch.Generator().manual_seed(3))
    assert distinct_images(out) > 40
    flips = augment.flip_crop(copies, padding=0, generator=torch.Generator().manual_seed(3))
    assert distinct_images(flips) == 2                      # padding 0: only the flip varies


def test_flip_probability():
    x = torch.arange(16.0).reshape(1, 1, 1, 16).repeat(4000, 1, 1, 1)
    out = augment.flip_crop(x, padding=0, generator=torch.Generator().manual_seed(4))
    flipped = (out[:, 0, 0, 0] == 15).float().mean().item()
    assert abs(flipped - 0.5) < 0.04                        # 4000 coins: standard deviation 0.008
    assert torch.equal(augment.flip_crop(x[:10], padding=0, p_flip=0.0), x[:10])
    assert torch.equal(augment.flip_crop(x[:10], padding=0, p_flip=1.0), x[:10].flip(-1))
    assert torch.equal(augment.flip_crop(x[:10], padding=0, flip=False), x[:10])


def test_same_generator_seed_same_result_and_input_untouched():
    x = torch.rand(8, 3, 12, 12)
    before = x.clone()
    a = augment.flip_crop(x, generator=torch.Generator().manual_seed(5))
    b = augment.flip_crop(x, generator=torch.Generator().manual_seed(5))
    c = augment.flip_crop(x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c) and torch.equal(x, before)


def test_channels_last_batch_stays_channels_last():
    x = torch.rand(4, 3, 8, 8).to(memory_format=torch.channels_last)
    out = augment.flip_crop(x, padding=2)
    assert out.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_on_the_gpu_with_a_cpu_or_a_gpu_generator():
    x = torch.rand(8, 3, 16, 16, device="cuda")
    for g in (torch.Generator().manual_seed(0), torch.Generator("cuda").manual_seed(0), None):
        out = augment.flip_crop(x, padding=4, generator=g)
        assert out.device == x.device and out.shape == x.shape


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="N, C, H, W"):
        augment.flip_crop(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="padding"):
        augment.flip_crop(torch.rand(1, 3, 8, 8), padding=-1)


def test_augmented_loader_keeps_labels_and_length():
    batches = [(torch.rand(4, 3, 8, 8), torch.arange(4)), (torch.rand(2, 3, 8, 8), torch.arange(2))]
    loader = augment.Augmented(batches, augment.flip_crop, padding=2, generator=torch.Generator().manual_seed(0))
    assert len(loader) == 2
    out = list(loader)
    assert [tuple(x.shape) for x, _ in out] == [(4, 3, 8, 8), (2, 3, 8, 8)]
    assert all(torch.equal(y, y0) for (_, y), (_, y0) in zip(out, batches))


KERAS_CHECK = r"""
import json
import numpy as np
import keras
from utils import augment

keras.utils.set_random_seed(0)
layer = augment.keras_flip_crop(32, 32, padding=4, seed=0)
x = np.zeros((200, 32, 32, 3), dtype="float32")
x[:, 16, 10, :] = 1.0                                   # one bright pixel, 10 from the left edge
out = keras.ops.convert_to_numpy(layer(x, training=True))
moves, flipped = [], []
for img in out:
    r, c = np.argwhere(img[..., 0] == 1.0)[0]
    mirrored = bool(c > 16)                              # a flip first takes column 10 to column 21
    flipped.append(mirrored)
    moves.append((int(r) - 16, int(c) - (21 if mirrored else 10)))
copies = np.repeat(np.random.default_rng(0).random((1, 32, 32, 3)).astype("float32"), 64, axis=0)
views = keras.ops.convert_to_numpy(layer(copies, training=True))
print(json.dumps({
    "backend": keras.backend.backend(),
    "shape": list(out.shape),
    "max_move": int(np.abs(np.array(moves)).max()),
    "shifts": len(set(moves)),
    "flipped": float(np.mean(flipped)),
    "distinct": int(len(np.unique(views.reshape(64, -1).round(5), axis=0))),
    "inference_is_identity": bool(np.array_equal(keras.ops.convert_to_numpy(layer(copies, training=False)), copies)),
    "whole_pixels": bool(np.all(np.isin(out, [0.0, 1.0]))),
}))
"""


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
def test_keras_flip_crop_is_per_image_on_both_backends(backend):
    if backend == "tensorflow":
        pytest.importorskip("tensorflow")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", KERAS_CHECK], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["backend"] == backend and got["shape"] == [200, 32, 32, 3]
    assert got["max_move"] <= 4 and got["shifts"] > 30            # shifts by whole pixels, at most the padding
    assert 0.35 < got["flipped"] < 0.65                            # about half mirrored
    assert got["distinct"] > 40                                    # a draw per image, not per batch
    assert got["inference_is_identity"] and got["whole_pixels"]    # nearest-pixel: no blending
