"""Lab 05's exercise checks: right answers written two ways pass; the mistakes students make get
"expected ... got ..." and the name of the mistake."""
import numpy as np
import pytest

from utils.checks import lab05

# --------------------------------------------------------------------------- Exercise 5.1 hflip


def hflip_slice(images):
    return images[:, :, ::-1, :]


def hflip_np(images):
    return np.flip(images, axis=2)


def hflip_loop(images):
    out = np.empty_like(images)
    for j in range(images.shape[2]):
        out[:, :, j] = images[:, :, images.shape[2] - 1 - j]
    return out


@pytest.mark.parametrize("fn", [hflip_slice, hflip_np, hflip_loop])
def test_hflip_right(fn, capsys):
    assert lab05.hflip(fn)
    assert "✅ Exercise 5.1 hflip: correct" in capsys.readouterr().out


@pytest.mark.parametrize("fn, words", [
    (lambda x: np.fliplr(x), "vertical flip"),
    (lambda x: x[:, ::-1], "vertical flip"),
    (lambda x: x[..., ::-1], "colour channels"),
    (lambda x: x[::-1], "order of the images"),
    (lambda x: np.flip(x, axis=(1, 2)), "180-degree"),
])
def test_hflip_wrong_axis_is_named(fn, words, capsys):
    assert not lab05.hflip(fn)
    out = capsys.readouterr().out
    assert "❌ Exercise 5.1 hflip" in out and "expected" in out and words in out and "Hint" in out


def test_hflip_list_is_refused(capsys):
    assert not lab05.hflip(lambda x: x[:, :, ::-1].tolist())
    assert "expected a NumPy array, got a Python list" in capsys.readouterr().out


def test_hflip_torch_tensor_is_refused(capsys):
    torch = pytest.importorskip("torch")
    assert not lab05.hflip(lambda x: torch.from_numpy(x[:, :, ::-1].copy()))
    assert "expected a NumPy array, got a torch.Tensor" in capsys.readouterr().out


def test_hflip_in_place_is_reported(capsys):
    def in_place(x):
        x[:] = x[:, :, ::-1]
        return x
    assert not lab05.hflip(in_place)
    assert "changed its input" in capsys.readouterr().out


# --------------------------------------------------------------------------- Exercise 5.2 pad_crop


def pad_crop_loop(images, padding, offsets):
    n, h, w, _ = images.shape
    p = padding
    padded = np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)))
    return np.stack([padded[i, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets)])


def pad_crop_vectorised(images, padding, offsets):
    n, h, w, c = images.shape
    padded = np.zeros((n, h + 2 * padding, w + 2 * padding, c), dtype=images.dtype)
    padded[:, padding:padding + h, padding:padding + w] = images
    rows = offsets[:, :1] + np.arange(h)              # (N, H)
    cols = offsets[:, 1:] + np.arange(w)              # (N, W)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


@pytest.mark.parametrize("fn", [pad_crop_loop, pad_crop_vectorised])
def test_pad_crop_right(fn, capsys):
    assert lab05.pad_crop(fn)
    assert "✅ Exercise 5.2 pad_crop: correct (5 cases)" in capsys.readouterr().out


def _crop(images, padding, offsets, mode="constant", shift=0, same=False, swap=False):
    n, h, w, _ = images.shape
    p = padding
    padded = np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)), mode=mode)
    out = []
    for i, (dy, dx) in enumerate(offsets):
        if same:
            dy, dx = offsets[0]
        if swap:
            dy, dx = dx, dy
        out.append(padded[i, dy + shift:dy + shift + h, dx + shift:dx + shift + w])
    return np.stack(out)


def no_padding(images, padding, offsets):
    n, h, w, _ = images.shape
    return np.stack([images[i, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets)])


def pad_every_axis(images, padding, offsets):
    n, h, w, _ = images.shape
    return np.stack([np.pad(images[i], padding)[dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets)])


@pytest.mark.parametrize("fn, words", [
    (lambda x, p, o: _crop(x, p, o, swap=True), "row first"),
    (lambda x, p, o: _crop(x, p, o, shift=1), "off by one"),
    (lambda x, p, o: _crop(x, p, o, same=True), "first image's offsets"),
    (lambda x, p, o: _crop(x, p, o, mode="edge"), "edge pixels"),
    (lambda x, p, o: _crop(x, p, o, mode="reflect"), "reflection"),
    (pad_every_axis, "pads every axis"),
    (no_padding, "expected shape"),
])
def test_pad_crop_mistakes_are_named(fn, words, capsys):
    assert not lab05.pad_crop(fn)
    out = capsys.readouterr().out
    assert "❌ Exercise 5.2 pad_crop" in out and words in out and "Hint" in out


# --------------------------------------------------------------------------- Exercise 5.3 rgb_pca


def pca_cov(images):
    vals, vecs = np.linalg.eigh(np.cov(images.reshape(-1, 3), rowvar=False))
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order]


def pca_by_hand(images):
    pixels = images.reshape(-1, 3).astype(np.float64)
    centred = pixels - pixels.mean(axis=0)
    cov = centred.T @ centred / len(pixels)                  # divides by M, not M - 1: also fine
    vals, vecs = np.linalg.eig(cov)                          # eig, not eigh: unordered, other signs
    order = np.argsort(-vals)
    return vals[order].real, -vecs[:, order].real            # the opposite signs: still eigenvectors


def pca_svd(images):
    pixels = images.reshape(-1, 3).astype(np.float64)
    centred = pixels - pixels.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    return s ** 2 / (len(pixels) - 1), vt.T


@pytest.mark.parametrize("fn", [pca_cov, pca_by_hand, pca_svd])
def test_rgb_pca_right(fn, capsys):
    assert lab05.rgb_pca(fn)
    assert "✅ Exercise 5.3 rgb_pca: correct" in capsys.readouterr().out


def pca_rows(images):
    vals, vecs = pca_cov(images)
    return vals, vecs.T


def pca_ascending(images):
    return np.linalg.eigh(np.cov(images.reshape(-1, 3), rowvar=False))


def pca_uncentred(images):
    pixels = images.reshape(-1, 3).astype(np.float64)
    vals, vecs = np.linalg.eigh(pixels.T @ pixels / len(pixels))
    return vals[::-1], vecs[:, ::-1]


@pytest.mark.parametrize("fn, words", [
    (pca_rows, "ROWS"),
    (pca_ascending, "largest first"),
    (pca_uncentred, "subtract the mean colour"),
    (lambda x: pca_cov(x)[0], "expected a pair"),
    (lambda x: (list(pca_cov(x)[0]), pca_cov(x)[1]), "expected a NumPy array"),
])
def test_rgb_pca_mistakes_are_named(fn, words, capsys):
    assert not lab05.rgb_pca(fn)
    out = capsys.readouterr().out
    assert "❌ Exercise 5.3 rgb_pca" in out and words in out


def test_rgb_pca_of_3072_dimensional_vectors_fails(capsys):
    def per_image_vectors(images):
        vals, vecs = np.linalg.eigh(np.cov(images.reshape(len(images), -1), rowvar=False))
        return vals[::-1], vecs[:, ::-1]
    assert not lab05.rgb_pca(per_image_vectors)
    assert "expected shape (3,)" in capsys.readouterr().out


# --------------------------------------------------------------------------- Exercise 5.4 pca_colour_shift


def shift_matmul(images, eigvals, eigvecs, alphas):
    return images + ((alphas * eigvals) @ eigvecs.T)[:, None, None, :]


def shift_sum(images, eigvals, eigvecs, alphas):
    out = images.astype(np.float64).copy()
    for n in range(len(images)):
        shift = sum(alphas[n, i] * eigvals[i] * eigvecs[:, i] for i in range(3))
        out[n] = out[n] + shift
    return out


@pytest.mark.parametrize("fn", [shift_matmul, shift_sum])
def test_pca_colour_shift_right(fn, capsys):
    assert lab05.pca_colour_shift(fn)
    assert "✅ Exercise 5.4 pca_colour_shift: correct (4 cases)" in capsys.readouterr().out


@pytest.mark.parametrize("fn, words", [
    (lambda x, v, p, a: shift_matmul(x, v, p.T, a), "eigenvectors as rows"),
    (lambda x, v, p, a: shift_matmul(x, np.ones(3), p, a), "leaving out the eigenvalues"),
    (lambda x, v, p, a: shift_matmul(x, np.sqrt(v), p, a), "square roots"),
    (lambda x, v, p, a: x + (p @ (a[0] * v))[None, None, None, :], "first image's alphas"),
    (lambda x, v, p, a: np.clip(shift_matmul(x, v, p, a), 0, 1), "do not clip"),
])
def test_pca_colour_shift_mistakes_are_named(fn, words, capsys):
    assert not lab05.pca_colour_shift(fn)
    out = capsys.readouterr().out
    assert "❌ Exercise 5.4 pca_colour_shift" in out and words in out and "expected" in out


# --------------------------------------------------------------------------- Exercise 5.5 standardize


def standardize_axes(x_train, x):
    return (x - x_train.mean(axis=(0, 1, 2))) / x_train.std(axis=(0, 1, 2))


def standardize_reshape(x_train, x):
    pixels = x_train.reshape(-1, x_train.shape[-1]).astype(np.float64)
    return (x.astype(np.float64) - pixels.mean(0)) / np.sqrt(((pixels - pixels.mean(0)) ** 2).mean(0))


@pytest.mark.parametrize("fn", [standardize_axes, standardize_reshape])
def test_standardize_right(fn, capsys):
    assert lab05.standardize(fn)
    assert "✅ Exercise 5.5 standardize: correct (3 cases)" in capsys.readouterr().out


@pytest.mark.parametrize("fn, words", [
    (lambda t, x: (x - x.mean(axis=(0, 1, 2))) / x.std(axis=(0, 1, 2)), "only the training set"),
    (lambda t, x: (x - x.mean(axis=(1, 2), keepdims=True)) / x.std(axis=(1, 2), keepdims=True), "samplewise"),
    (lambda t, x: (x - t.mean()) / t.std(), "one per channel"),
    (lambda t, x: (x - t.mean(axis=0)) / t.std(axis=0), "per pixel position"),
    (lambda t, x: x - t.mean(axis=(0, 1, 2)), "without dividing"),
    (lambda t, x: (x - t.mean(axis=(0, 1, 2))) / t.var(axis=(0, 1, 2)), "variance"),
])
def test_standardize_mistakes_are_named(fn, words, capsys):
    assert not lab05.standardize(fn)
    out = capsys.readouterr().out
    assert "❌ Exercise 5.5 standardize" in out and words in out


# --------------------------------------------------------------------------- Exercise 5.6 tta_predict


def tta_mean(predict, images):
    return (predict(images) + predict(images[:, :, ::-1])) / 2


def tta_stack(predict, images):
    return np.mean(np.stack([predict(v) for v in (images, np.flip(images, 2))]), axis=0)


@pytest.mark.parametrize("fn", [tta_mean, tta_stack])
def test_tta_predict_right(fn, capsys):
    assert lab05.tta_predict(fn)
    assert "✅ Exercise 5.6 tta_predict: correct (2 cases)" in capsys.readouterr().out


@pytest.mark.parametrize("fn, words", [
    (lambda f, x: f(x), "add the mirrored view"),
    (lambda f, x: f(x) + f(x[:, :, ::-1]), "divide by 2"),
    (lambda f, x: (f(x) + f(x[:, ::-1])) / 2, "vertical flip"),
    (lambda f, x: (f(x) + f(x[..., ::-1])) / 2, "colour channels"),
    (lambda f, x: np.argmax(f(x) + f(x[:, :, ::-1]), axis=1), "predicted classes"),
])
def test_tta_predict_mistakes_are_named(fn, words, capsys):
    assert not lab05.tta_predict(fn)
    out = capsys.readouterr().out
    assert "❌ Exercise 5.6 tta_predict" in out and words in out


def test_tta_predict_names_the_unfinished_hflip(capsys):
    def hflip(images):
        raise NotImplementedError("Exercise 5.1 (hflip): replace this line with your code")

    def tta(predict, images):
        return (predict(images) + predict(hflip(images))) / 2

    assert not lab05.tta_predict(tta)
    out = capsys.readouterr().out
    assert "✏️ Exercise 5.6 tta_predict: not done yet" in out and "Exercise 5.1 (hflip)" in out


@pytest.mark.parametrize("check", [lab05.hflip, lab05.pad_crop, lab05.rgb_pca, lab05.pca_colour_shift,
                                   lab05.standardize, lab05.tta_predict])
def test_stub_is_not_done_yet(check, capsys):
    def stub(*args):
        raise NotImplementedError("Exercise 5.9 (stub): replace this line with your code")
    assert not check(stub)
    out = capsys.readouterr().out
    assert "not done yet" in out and "Traceback" not in out
