"""The course's batch augmentation for training images: a random horizontal flip and a random
crop after zero padding, drawn for each image of a batch on its own, with no Python loop over
the images (Lab 05 writes both by hand; Lab 08 trains its ResNet with them).

PyTorch, on a batch (N, C, H, W) on any device:

    g = torch.Generator().manual_seed(0)
    x = augment.flip_crop(x, padding=4, generator=g)         # a new random view of each image
    loader = augment.Augmented(train_loader, augment.flip_crop, padding=4, generator=g)

Keras, preprocessing layers that do the same inside a model (active only in training):

    model = keras.Sequential([keras.Input((32, 32, 3)), augment.keras_flip_crop(32, 32, padding=4, seed=0),
                              ...])

Importing this module imports neither framework; each function imports its own when called.
"""

__all__ = ["flip_crop", "Augmented", "keras_flip_crop"]


def _random(shape, kind, generator, device, high=None):
    """Random numbers drawn with ``generator`` (on its own device), then moved to ``device``."""
    import torch

    where = generator.device if generator is not None else device
    if kind == "uniform":
        values = torch.rand(shape, generator=generator, device=where)
    else:
        values = torch.randint(0, high, shape, generator=generator, device=where)
    return values.to(device)


def flip_crop(x, padding=4, flip=True, generator=None, p_flip=0.5):
    """A random horizontal flip (probability ``p_flip``) and a random crop of the zero-padded
    image, for each image of the batch ``x`` (N, C, H, W) on its own; returns a new batch of the
    same shape, dtype and device. ``padding`` zeros are added on each side, then an H x W window
    is cut at an offset drawn uniformly from 0..2*padding along each axis, so an image's content
    moves by at most ``padding`` pixels. ``generator`` (a ``torch.Generator`` on any device) makes
    the draws repeatable. Everything is a few tensor operations: one gather for the whole batch.
    """
    import torch

    if x.ndim != 4:
        raise ValueError(f"flip_crop expects a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    n, c, h, w = x.shape
    dev = x.device
    if padding:
        x_pad = torch.nn.functional.pad(x, (padding, padding, padding, padding))   # zeros
        offsets = _random((2, n), "int", generator, dev, high=2 * padding + 1)
    else:
        x_pad = x
        offsets = torch.zeros((2, n), dtype=torch.long, device=dev)
    rows = offsets[0][:, None] + torch.arange(h, device=dev)                     # (N, H)
    cols = torch.arange(w, device=dev).expand(n, w)                              # (N, W)
    if flip:
        flipped = _random((n,), "uniform", generator, dev) < p_flip
        cols = torch.where(flipped[:, None], w - 1 - cols, cols)                 # read each row backwards
    cols = offsets[1][:, None] + cols
    # one gather for the whole batch: the position of each output pixel in the padded image
    width = x_pad.shape[-1]
    index = (rows[:, :, None] * width + cols[:, None, :]).reshape(n, 1, h * w).expand(n, c, h * w)
    out = x_pad.reshape(n, c, -1).gather(2, index).reshape(n, c, h, w)
    return out.contiguous(memory_format=torch.channels_last) if x.is_contiguous(
        memory_format=torch.channels_last) and not x.is_contiguous() else out

class Augmented:
    """A loader whose input batches pass through ``fn(x, **kwargs)`` (labels unchanged): wraps
    any iterable of ``(x, y)`` batches, such as ``data.as_torch_loader``'s, so the augmentation
    runs on the batch where it already is (the GPU, when training there)."""

    def __init__(self, loader, fn=flip_crop, **kwargs):
        self.loader, self.fn, self.kwargs = loader, fn, kwargs

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for x, y in self.loader:
            yield self.fn(x, **self.kwargs), y


def keras_flip_crop(height, width, padding=4, seed=None, name="flip_crop"):
    """Keras preprocessing layers doing what :func:`flip_crop` does, for ``height`` x ``width``
    images (channels last): ``RandomFlip("horizontal")`` and a ``RandomTranslation`` of at most
    ``padding`` pixels with zero fill and nearest-pixel sampling (a shift by whole pixels with
    zeros coming in is a crop of the zero-padded image). Both draw their numbers for each image of
    the batch; Keras's ``RandomCrop`` would not do: it cuts every image of a batch at the same
    place. The shift is drawn from a continuous range and rounded, so the largest shifts (exactly
    ``padding`` pixels) come up half as often as the others. Active only when the model trains.
    """
    import keras
    from keras import layers

    seeds = (None, None) if seed is None else (seed, seed + 1)
    return keras.Sequential([
        layers.RandomFlip("horizontal", seed=seeds[0]),
        layers.RandomTranslation(padding / height, padding / width, fill_mode="constant", fill_value=0.0,
                                 interpolation="nearest", seed=seeds[1]),
    ], name=name)
