"""Checks for Lab 05 (data augmentation), shared by the Keras and PyTorch notebooks. Images are
NumPy batches (N, H, W, C), channels last, in both notebooks.

    checks.lab05.hflip(hflip)                          # Exercise 5.1
    checks.lab05.pad_crop(pad_crop)                    # Exercise 5.2
    checks.lab05.rgb_pca(rgb_pca)                      # Exercise 5.3
    checks.lab05.pca_colour_shift(pca_colour_shift)    # Exercise 5.4
    checks.lab05.standardize(standardize)              # Exercise 5.5
    checks.lab05.tta_predict(tta_predict)              # Exercise 5.6

Each check runs the answer on batches whose right answer is known, and when the result is wrong
it also tries the mistakes students make (the wrong axis, no padding, offsets off by one,
eigenvectors as rows, the test set's statistics, ...) and names the one that matches.
"""
import numpy as np

from . import _numpy_problem, call_on_copies, check_cases, compare

# --------------------------------------------------------------------------- helpers


def _same(got, expected, rtol=1e-5, atol=1e-6):
    """True when ``got`` has ``expected``'s shape and values (no messages)."""
    try:
        g = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return False
    e = np.asarray(expected, dtype=float)
    return g.shape == e.shape and np.allclose(g, e, rtol=rtol, atol=atol)


def _diagnose(got, mistakes, rtol=1e-5, atol=1e-6):
    """The explanation of the first known mistake whose result ``got`` matches, else None."""
    for expected_if_wrong, explanation in mistakes:
        try:
            if _same(got, expected_if_wrong(), rtol, atol):
                return explanation
        except Exception:  # noqa: BLE001 - a mistake that cannot be built for this case is skipped
            continue
    return None


def _judge_with(expected, mistakes, got, rtol=1e-5, atol=1e-6):
    """compare() with NumPy demanded, and the known mistake named when one matches."""
    problem = compare(got, expected, rtol=rtol, atol=atol, numpy=True)
    if problem is None:
        return None
    reason = _diagnose(got, mistakes, rtol, atol)
    return f"{problem}\n   This is what {reason}." if reason else problem


def _batch(shape, seed, integer=True):
    rng = np.random.default_rng(seed)
    if integer:
        return rng.integers(1, 250, size=shape).astype(np.uint8)
    return rng.random(shape).astype(np.float32)


# --------------------------------------------------------------------------- Exercise 5.1

def _hflip(x):
    return x[:, :, ::-1, :]


def hflip(fn):
    """``fn(images)``: each image of an (N, H, W, C) batch mirrored left to right."""
    cases = [("a 2x3x4x2 batch of whole numbers", _batch((2, 3, 4, 2), 1)),
             ("three 5x6 colour images, uint8", _batch((3, 5, 6, 3), 2)),
             ("one 4x4 colour image, float32", _batch((1, 4, 4, 3), 3, integer=False)),
             ("a batch of 4 images 8x8x3", _batch((4, 8, 8, 3), 4, integer=False))]

    def judge(fn, x):
        got, error = call_on_copies(fn, x)
        if error:
            return error
        mistakes = [
            (lambda: x[:, ::-1], "a flip of axis 1 gives: the height, so the images were turned upside "
                                 "down (a vertical flip; np.fliplr and np.flip(x, 1) flip axis 1, which "
                                 "in a batch (N, H, W, C) is the height)"),
            (lambda: x[..., ::-1], "a flip of the last axis gives: the colour channels (RGB became BGR)"),
            (lambda: x[::-1], "a flip of axis 0 gives: the order of the images in the batch"),
            (lambda: x[:, ::-1, ::-1], "flipping both height and width gives (a 180-degree rotation)"),
        ]
        return _judge_with(_hflip(x), mistakes, got)

    return check_cases("Exercise 5.1 hflip", fn, cases, judge,
                       hint="a batch is (N, H, W, C): the width is axis 2, so reverse axis 2 only: "
                            "images[:, :, ::-1, :] or np.flip(images, axis=2).")


# --------------------------------------------------------------------------- Exercise 5.2

def _pad_crop(x, padding, offsets, mode="constant"):
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)), mode=mode)
    return np.stack([padded[i, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets)])


def pad_crop(fn):
    """``fn(images, padding, offsets)``: pad each (H, W) with ``padding`` zeros on every side and cut
    the H x W window whose top-left corner is at ``offsets[i] = (row, column)`` of image i."""
    x1 = _batch((3, 5, 6, 2), 11)
    x2 = _batch((4, 8, 8, 3), 12, integer=False)
    x3 = _batch((2, 6, 4, 3), 13)
    cases = [
        ("offsets (p, p): the image itself", (x1, 2, np.array([[2, 2], [2, 2], [2, 2]]))),
        ("offsets (0, 0) and (2p, 2p): zeros come in at one corner", (x1, 2, np.array([[0, 0], [4, 4], [0, 4]]))),
        ("a different offset for each image", (x2, 3, np.array([[0, 6], [5, 1], [3, 3], [6, 0]]))),
        ("rows and columns moved by different amounts", (x3, 1, np.array([[0, 2], [2, 1]]))),
        ("padding 4, as in training", (x2, 4, np.array([[1, 7], [8, 0], [4, 4], [2, 5]]))),
    ]

    def judge(fn, case):
        x, p, offsets = case
        got, error = call_on_copies(fn, x, p, offsets)
        if error:
            return error
        n, h, w, c = x.shape
        mistakes = [
            (lambda: _pad_crop(x, p, offsets[:, ::-1]), "swapping the offsets gives: offsets[i] is "
                                                        "(row, column), row first"),
            (lambda: _pad_crop(x, p, offsets + 1), "offsets one too large give (off by one)"),
            (lambda: _pad_crop(x, p, offsets - 1), "offsets one too small give (off by one)"),
            (lambda: _pad_crop(x, p, np.repeat(offsets[:1], n, axis=0)),
             "using the first image's offsets for every image gives"),
            (lambda: _pad_crop(x, p, offsets, mode="edge"), "padding with the edge pixels gives, not zeros"),
            (lambda: _pad_crop(x, p, offsets, mode="reflect"), "padding with a reflection gives, not zeros"),
            (lambda: np.stack([np.pad(x[i], p)[dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets)]),
             "np.pad(image, padding) gives: it pads every axis, the channels too; pad only the height and "
             "width: np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))"),
        ]
        problem = _judge_with(_pad_crop(x, p, offsets), mistakes, got)
        if problem and np.shape(got) != x.shape:
            problem += f"\n   The crop must have the input's shape {x.shape}."
        return problem

    return check_cases("Exercise 5.2 pad_crop", fn, cases, judge,
                       hint="pad the height and width only, with zeros: np.pad(images, ((0, 0), (p, p), (p, p), "
                            "(0, 0))); then image i is padded[i, dy:dy + H, dx:dx + W] with (dy, dx) = "
                            "offsets[i]. Offsets (p, p) give the image back unchanged.")


# --------------------------------------------------------------------------- Exercise 5.3

def _pca(images, ddof=1):
    pixels = np.asarray(images, dtype=np.float64).reshape(-1, 3)
    cov = np.cov(pixels, rowvar=False, ddof=ddof)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order]


def _signs_aligned(got, expected):
    """``got``'s columns with their signs flipped to point the way ``expected``'s do (an eigenvector
    is only defined up to its sign)."""
    signs = np.sign(np.sum(got * expected, axis=0))
    signs[signs == 0] = 1
    return got * signs


def _pca_images(seed, n, size, mean):
    """Colour images whose pixels have a known, non-degenerate colour covariance."""
    rng = np.random.default_rng(seed)
    mix = np.array([[0.20, 0.18, 0.15], [0.05, -0.02, -0.06], [0.01, -0.03, 0.02]])
    z = rng.normal(size=(n * size * size, 3))
    pixels = np.asarray(mean) + z @ mix
    return pixels.reshape(n, size, size, 3).astype(np.float32)


def rgb_pca(fn):
    """``fn(images)``: (eigenvalues, eigenvectors) of the 3x3 covariance of the RGB values of all the
    pixels of ``images`` (N, H, W, 3); eigenvalues largest first, eigenvectors as the COLUMNS."""
    cases = [("20 images 8x8, mean colour (0.5, 0.4, 0.3)", _pca_images(1, 20, 8, [0.5, 0.4, 0.3])),
             ("50 images 6x6, pixels far from 0", _pca_images(2, 50, 6, [120.0, 110.0, 90.0])),
             ("5 images 16x16", _pca_images(3, 5, 16, [0.45, 0.48, 0.42]))]

    def judge(fn, x):
        got, error = call_on_copies(fn, x)
        if error:
            return error
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return (f"expected a pair (eigenvalues, eigenvectors), got {type(got).__name__}"
                    + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""))
        vals, vecs = got
        for what, value, shape in (("eigenvalues", vals, (3,)), ("eigenvectors", vecs, (3, 3))):
            problem = _numpy_problem(value, np.zeros(shape))
            if problem is None and np.shape(value) != shape:
                problem = f"expected shape {shape}, got shape {np.shape(value)}"
            if problem:
                return f"the {what}: {problem}"
        vals, vecs = np.asarray(vals, dtype=float), np.asarray(vecs, dtype=float)
        for ddof in (1, 0):            # np.cov divides by M - 1, X.T @ X / M by M: both are fine
            e_vals, e_vecs = _pca(x, ddof)
            if _same(vals, e_vals, rtol=1e-4) and _same(_signs_aligned(vecs, e_vecs), e_vecs, atol=1e-4):
                return None
        e_vals, e_vecs = _pca(x)
        if _same(np.sort(vals), np.sort(e_vals), rtol=1e-3) and not _same(vals, e_vals, rtol=1e-3):
            return (f"eigenvalues in the wrong order: expected the largest first {np.round(e_vals, 6)}, "
                    f"got {np.round(vals, 6)} (np.linalg.eigh returns them smallest first; reorder the "
                    "eigenvectors' columns with the same index)")
        if not _same(vals, e_vals, rtol=1e-3):
            raw = np.asarray(x, dtype=float).reshape(-1, 3)
            uncentred = np.sort(np.linalg.eigvalsh(raw.T @ raw / len(raw)))[::-1]
            why = ("\n   These are the eigenvalues of the pixels' second moments: subtract the mean colour "
                   "first (np.cov does it for you)." if _same(vals, uncentred, rtol=1e-3) else "")
            return (f"eigenvalues differ: expected {np.round(e_vals, 6)}, got {np.round(vals, 6)}{why}")
        if _same(_signs_aligned(vecs.T, e_vecs), e_vecs, atol=1e-3):
            return ("the eigenvectors are the ROWS of your matrix; return them as its columns, "
                    "eigenvectors[:, i] for eigenvalue i (np.linalg.eigh returns them as columns)")
        return (f"eigenvectors differ (up to their sign, which does not matter): expected the columns\n"
                f"     {np.round(e_vecs, 4).tolist()}\n     got {np.round(vecs, 4).tolist()}")

    return check_cases("Exercise 5.3 rgb_pca", fn, cases, judge,
                       hint="pixels = images.reshape(-1, 3); cov = np.cov(pixels, rowvar=False) (3x3); "
                            "vals, vecs = np.linalg.eigh(cov); then order both by decreasing eigenvalue: "
                            "order = np.argsort(vals)[::-1]; vals[order], vecs[:, order].")


# --------------------------------------------------------------------------- Exercise 5.4

def _shift(images, vals, vecs, alphas):
    shifts = (alphas * vals) @ vecs.T          # row n: sum_i alpha_ni * lambda_i * p_i
    return images + shifts[:, None, None, :]


def pca_colour_shift(fn):
    """``fn(images, eigvals, eigvecs, alphas)``: image n plus sum_i alphas[n, i] * eigvals[i] * eigvecs[:, i]
    added to every one of its pixels (no clipping)."""
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    vals = np.array([0.9, 0.25, 0.05])
    x1 = _batch((2, 3, 4, 3), 21, integer=False)
    x2 = _batch((4, 5, 5, 3), 22, integer=False)
    cases = [
        ("the identity as eigenvectors", (x1, vals, np.eye(3), np.array([[0.1, 0.0, 0.0], [0.0, -0.2, 0.3]]))),
        ("rotated eigenvectors, one alpha per image and component",
         (x1, vals, q, np.array([[0.1, -0.3, 0.5], [-0.2, 0.4, 0.1]]))),
        ("four images", (x2, np.array([2.0, 0.5, 0.1]), q, rng.normal(0, 0.5, size=(4, 3)))),
        ("alphas zero: nothing changes", (x2, vals, q, np.zeros((4, 3)))),
    ]

    def judge(fn, case):
        x, vals, vecs, alphas = case
        got, error = call_on_copies(fn, x, vals, vecs, alphas)
        if error:
            return error
        mistakes = [
            (lambda: _shift(x, vals, vecs.T, alphas), "using the eigenvectors as rows gives "
                                                      "(eigvecs[i] instead of eigvecs[:, i])"),
            (lambda: _shift(x, np.ones(3), vecs, alphas), "leaving out the eigenvalues gives"),
            (lambda: _shift(x, np.sqrt(vals), vecs, alphas), "the square roots of the eigenvalues give: "
                                                             "this exercise uses the paper's formula, "
                                                             "alpha_i * lambda_i"),
            (lambda: _shift(x, vals, vecs, np.repeat(alphas[:1], len(x), axis=0)),
             "using the first image's alphas for every image gives"),
            (lambda: np.clip(_shift(x, vals, vecs, alphas), 0, 1), "clipping to [0, 1] gives: do not clip here"),
        ]
        return _judge_with(_shift(x, vals, vecs, alphas), mistakes, got)

    return check_cases("Exercise 5.4 pca_colour_shift", fn, cases, judge,
                       hint="the shift of image n is a colour (3 numbers): eigvecs @ (alphas[n] * eigvals), "
                            "i.e. the columns p_i weighted by alpha_i * lambda_i; for all images at once "
                            "(alphas * eigvals) @ eigvecs.T, shape (N, 3); add it to every pixel with "
                            "shifts[:, None, None, :].")


# --------------------------------------------------------------------------- Exercise 5.5

def _standardize(x_train, x):
    x_train = np.asarray(x_train, dtype=np.float64)
    mean = x_train.mean(axis=(0, 1, 2))
    std = x_train.std(axis=(0, 1, 2))
    return (np.asarray(x, dtype=np.float64) - mean) / std


def standardize(fn):
    """``fn(x_train, x)``: ``x`` minus the training set's mean colour, divided by the training set's
    standard deviation, per channel (Keras 1/2's featurewise_center + featurewise_std_normalization)."""
    rng = np.random.default_rng(7)
    train_a = (rng.normal([0.5, 0.4, 0.3], [0.2, 0.1, 0.3], size=(30, 4, 5, 3))).astype(np.float32)
    test_a = (rng.normal([0.6, 0.2, 0.5], [0.1, 0.3, 0.2], size=(6, 4, 5, 3))).astype(np.float32)
    train_b = _batch((40, 6, 6, 3), 31).astype(np.float32)
    test_b = _batch((5, 6, 6, 3), 32).astype(np.float32)
    cases = [("the training set itself", (train_a, train_a)),
             ("test images with other statistics than the training set", (train_a, test_a)),
             ("pixel values 0..255", (train_b, test_b))]

    def judge(fn, case):
        x_train, x = case
        got, error = call_on_copies(fn, x_train, x)
        if error:
            return error
        xt, xx = np.asarray(x_train, dtype=np.float64), np.asarray(x, dtype=np.float64)
        mistakes = [
            (lambda: _standardize(xx, xx), "the statistics of x (here the test images) give: only the "
                                           "training set may be looked at; the test set is normalized "
                                           "with the training set's mean and std"),
            (lambda: (xx - xx.mean(axis=(1, 2), keepdims=True)) / xx.std(axis=(1, 2), keepdims=True),
             "each image's own statistics give (that is samplewise, not featurewise, normalization)"),
            (lambda: (xx - xt.mean()) / xt.std(), "one mean and one std over all channels give; "
                                                  "featurewise means one per channel: axis=(0, 1, 2)"),
            (lambda: (xx - xt.mean(axis=0)) / xt.std(axis=0), "one mean and std per pixel position and "
                                                              "channel (axis=0) give; take them over the "
                                                              "images AND the positions: axis=(0, 1, 2)"),
            (lambda: xx - xt.mean(axis=(0, 1, 2)), "centring without dividing by the std gives"),
            (lambda: (xx - xt.mean(axis=(0, 1, 2))) / xt.var(axis=(0, 1, 2)),
             "dividing by the variance gives, not by the standard deviation"),
        ]
        return _judge_with(_standardize(xt, xx), mistakes, got, rtol=1e-4, atol=1e-4)

    return check_cases("Exercise 5.5 standardize", fn, cases, judge,
                       hint="mean = x_train.mean(axis=(0, 1, 2)) and std = x_train.std(axis=(0, 1, 2)): one "
                            "number per channel, from the TRAINING images only; return (x - mean) / std.")


# --------------------------------------------------------------------------- Exercise 5.6

def _fake_predict(images):
    """Class probabilities that change when an image is mirrored (a stand-in for a model)."""
    x = np.asarray(images, dtype=np.float64)
    w = x.shape[2]
    left, right = x[:, :, : w // 2].mean(axis=(1, 2)), x[:, :, w - w // 2:].mean(axis=(1, 2))
    top = x[:, : x.shape[1] // 2].mean(axis=(1, 2))
    scores = np.concatenate([4 * (left - right), 3 * top, 2 * right - left[:, ::-1]], axis=1)   # (N, 9)
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def tta_predict(fn):
    """``fn(predict, images)``: the mean of ``predict(images)`` and ``predict`` of the images mirrored
    left to right (class probabilities, (N, K))."""
    cases = [("3 images 4x6", _batch((3, 4, 6, 3), 41, integer=False)),
             ("5 images 8x8", _batch((5, 8, 8, 3), 42, integer=False))]

    def judge(fn, x):
        got, error = call_on_copies(fn, _fake_predict, x)
        if error:
            return error
        p, p_flip = _fake_predict(x), _fake_predict(_hflip(x))
        mistakes = [
            (lambda: p, "predict(images) alone gives: add the mirrored view"),
            (lambda: p_flip, "the mirrored view alone gives: average it with the original"),
            (lambda: p + p_flip, "the SUM of the two views gives: divide by 2"),
            (lambda: (p + _fake_predict(x[:, ::-1])) / 2, "a vertical flip gives (axis 1, the height)"),
            (lambda: (p + _fake_predict(x[..., ::-1])) / 2, "flipping the colour channels gives"),
            (lambda: np.argmax(p + p_flip, axis=1), "the predicted classes give; return the averaged "
                                                    "probabilities, (N, K)"),
        ]
        return _judge_with((p + p_flip) / 2, mistakes, got)

    return check_cases("Exercise 5.6 tta_predict", fn, cases, judge,
                       hint="(predict(images) + predict(hflip(images))) / 2: the mean of the class "
                            "probabilities of the two views (hflip is Exercise 5.1).")

