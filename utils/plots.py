"""Plots the labs share. Each function draws one figure, shows it and returns nothing
(so a notebook never shows a figure twice); ``save="file.png"`` also writes it.

Images may be uint8 or float, grey (N, H, W) or colour, channels last (N, H, W, 3)
or first (N, 3, H, W) / (N, 1, H, W): the functions sort that out.
"""
import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator


def _subplots(*args, **kwargs):
    return plt.subplots(*args, layout="constrained", **kwargs)   # leaves room for titles


def _finish(fig, save):
    if save:
        fig.savefig(save, dpi=110, bbox_inches="tight")
    plt.show()


def _as_image(img):
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = img.transpose(1, 2, 0)              # channels first -> last
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.dtype != np.uint8 and img.ndim == 3:   # colour floats: show in [0, 1]
        lo, hi = float(img.min()), float(img.max())
        if lo < 0 or hi > 1:
            img = (img - lo) / (hi - lo + 1e-12)
    return img


def _grid(n, cols):
    cols = min(cols, n)
    return math.ceil(n / cols), cols


def image_grid(images, labels=None, class_names=None, n=16, cols=8, title=None, cmap="gray",
               size=1.4, save=None):
    """The first ``n`` images in a grid, each titled with its label (or class name)."""
    n = min(n, len(images))
    rows, cols = _grid(n, cols)
    fig, axes = _subplots(rows, cols, figsize=(cols * size, rows * size * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(_as_image(images[i]), cmap=cmap)
        if labels is not None:
            lab = int(labels[i])
            ax.set_title(class_names[lab] if class_names else str(lab), fontsize=8)
    if title:
        fig.suptitle(title)
    _finish(fig, save)


def _history_dict(h):
    return h.history if hasattr(h, "history") else h


def history(*histories, names=None, metrics=("loss", "accuracy"), title=None, save=None, xlabel="epoch"):
    """Training curves from Keras ``History`` objects or ``train.fit`` dicts: one panel per
    metric, solid lines for training and dashed for validation, one colour per run.

    Curves with few points get markers and whole-number ticks (an epoch 1.5 does not exist);
    with three runs or more the legend names each run once and the line styles once."""
    names = names or [None] * len(histories)
    dicts = [_history_dict(h) for h in histories]
    longest = max((len(h.get(m, h.get(f"val_{m}", []))) for h in dicts for m in metrics), default=0)
    marker = "o" if longest <= 12 else None
    many = len(dicts) >= 3
    fig, axes = _subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for i, (h, name) in enumerate(zip(dicts, names)):
            colour = f"C{i}"
            label = f"{name} " if name else ""
            for key, style, part in ((metric, "-", "train"), (f"val_{metric}", "--", "validation")):
                if key in h:
                    values = h[key]
                    epochs = np.arange(1, len(values) + 1)
                    shown = (name if part == "train" else None) if many else f"{label}{part}"
                    ax.plot(epochs, values, style, color=colour, label=shown, marker=marker, markersize=3.5)
        if many and any(f"val_{metric}" in h for h in dicts):
            ax.plot([], [], "-", color="grey", label="train")
            ax.plot([], [], "--", color="grey", label="validation")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if longest <= 2:
            ax.set_xlim(0.5, longest + 0.5)
            ax.set_xticks(range(1, longest + 1))
        ax.grid(alpha=0.3)
        if not many:
            ax.legend(fontsize=8)
    if many:                                   # one legend beside the panels, clear of the curves
        fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    if title:
        fig.suptitle(title)
    _finish(fig, save)


def confusion_matrix(y_true, y_pred, class_names=None, normalize=True, title="Confusion matrix",
                     save=None):
    """Rows: true class; columns: predicted class; normalised per row by default."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    k = int(max(y_true.max(), y_pred.max())) + 1 if class_names is None else len(class_names)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    names = class_names or [str(i) for i in range(k)]
    fig, ax = _subplots(figsize=(0.55 * k + 2.5, 0.55 * k + 2))
    im = ax.imshow(shown, cmap="Blues")
    for i in range(k):
        for j in range(k):
            value = f"{shown[i, j]:.2f}" if normalize else str(cm[i, j])
            ax.text(j, i, value, ha="center", va="center", fontsize=7,
                    color="white" if shown[i, j] > shown.max() / 2 else "black")
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    _finish(fig, save)


def misclassified(images, y_true, y_pred, class_names=None, n=12, cols=6, save=None):
    """Up to ``n`` wrongly classified images, titled "true -> predicted"."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    wrong = np.flatnonzero(y_true != y_pred)[:n]
    if len(wrong) == 0:
        print("No misclassified examples.")
        return
    name = (lambda c: class_names[c]) if class_names else str
    rows, cols = _grid(len(wrong), cols)
    fig, axes = _subplots(rows, cols, figsize=(cols * 1.7, rows * 2.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        ax.imshow(_as_image(images[i]), cmap="gray")
        ax.set_title(f"{name(int(y_true[i]))}\n-> {name(int(y_pred[i]))}", fontsize=8, color="C3")
    fig.suptitle(f"Misclassified: true -> predicted ({len(wrong)} shown)")
    _finish(fig, save)


def weight_images(weights, shape, class_names=None, cols=10, title="Weights per class", save=None):
    """A linear classifier's weight vector per class, reshaped to an image: red pulls the
    score up, blue down. ``weights`` is (n_features, n_classes)."""
    weights = np.asarray(weights)
    k = weights.shape[1]
    rows, cols = _grid(k, cols)
    fig, axes = _subplots(rows, cols, figsize=(cols * 1.5, rows * 1.7), squeeze=False)
    lim = np.abs(weights).max()
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < k:
            ax.imshow(weights[:, i].reshape(shape), cmap="seismic", vmin=-lim, vmax=lim)
            ax.set_title(class_names[i] if class_names else str(i), fontsize=8)
    fig.suptitle(title)
    _finish(fig, save)


def filters(kernels, channels_last=False, cols=8, title="Filters", save=None):
    """Convolution kernels as small images. PyTorch layout (out, in, kh, kw) by default;
    ``channels_last=True`` for Keras's (kh, kw, in, out). Colour filters (in == 3) are
    shown in colour, others as their first input channel."""
    k = np.asarray(kernels)
    if channels_last:
        k = k.transpose(3, 2, 0, 1)
    n = k.shape[0]
    rows, cols = _grid(n, cols)
    fig, axes = _subplots(rows, cols, figsize=(cols * 1.1, rows * 1.1), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        if k.shape[1] == 3:
            ax.imshow(_as_image(k[i]))
        else:
            lim = np.abs(k[i, 0]).max() + 1e-12
            ax.imshow(k[i, 0], cmap="seismic", vmin=-lim, vmax=lim)
    fig.suptitle(title)
    _finish(fig, save)


def feature_maps(maps, channels_last=False, n=16, cols=8, title="Feature maps", save=None):
    """One image's feature maps, (C, H, W) by default or (H, W, C) with ``channels_last``."""
    m = np.asarray(maps)
    if channels_last:
        m = m.transpose(2, 0, 1)
    n = min(n, m.shape[0])
    rows, cols = _grid(n, cols)
    fig, axes = _subplots(rows, cols, figsize=(cols * 1.3, rows * 1.35), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(m[i], cmap="viridis")
            ax.set_title(str(i), fontsize=7)
    fig.suptitle(title)
    _finish(fig, save)


def activations(functions, x=None, save=None):
    """Each activation and its derivative on one panel: ``functions`` maps a name to
    ``(f, df)`` NumPy functions."""
    x = np.linspace(-5, 5, 401) if x is None else x
    n = len(functions)
    fig, axes = _subplots(1, n, figsize=(3.1 * n, 3), squeeze=False)
    for ax, (name, (f, df)) in zip(axes[0], functions.items()):
        ax.plot(x, f(x), label="f(x)")
        ax.plot(x, df(x), "--", label="f'(x)")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _finish(fig, save)


def decision_boundary(predict, X, y, steps=200, title=None, save=None):
    """Regions of a 2-D classifier: ``predict`` maps an (M, 2) array to class indices."""
    X, y = np.asarray(X), np.asarray(y)
    pad = 0.5
    xs = np.linspace(X[:, 0].min() - pad, X[:, 0].max() + pad, steps)
    ys = np.linspace(X[:, 1].min() - pad, X[:, 1].max() + pad, steps)
    gx, gy = np.meshgrid(xs, ys)
    zz = np.asarray(predict(np.c_[gx.ravel(), gy.ravel()])).reshape(gx.shape)
    fig, ax = _subplots(figsize=(4.5, 4))
    ax.contourf(gx, gy, zz, alpha=0.3, cmap="coolwarm")
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", edgecolors="k", s=18)
    if title:
        ax.set_title(title)
    _finish(fig, save)


def bars(values: dict, ylabel="", title=None, fmt="{:.3f}", save=None):
    """A labelled bar chart of a few named numbers (e.g. accuracies to compare)."""
    fig, ax = _subplots(figsize=(1.3 * len(values) + 2, 3.2))
    names, nums = list(values), list(values.values())
    rects = ax.bar(names, nums, color=[f"C{i}" for i in range(len(names))])
    for r, v in zip(rects, nums):
        ax.text(r.get_x() + r.get_width() / 2, r.get_height(), fmt.format(v), ha="center",
                va="bottom", fontsize=8)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.tick_params(axis="x", labelsize=8)
    _finish(fig, save)


def lines(series: dict, x=None, xlabel="", ylabel="", title=None, logx=False, logy=False,
          hlines=None, ylim=None, markers=None, size=(5.6, 3.6), save=None):
    """A few named curves on one panel (a sweep, a value per step or per layer): ``series`` maps
    a name to its y values (over ``x``, or over 1, 2, ... when ``x`` is None) or to an (x, y) pair.
    Curves with few points get markers (``markers=True``/``False`` decides for all); ``hlines``
    maps a label to a horizontal reference line."""
    fig, ax = _subplots(figsize=size)
    for i, (name, values) in enumerate(series.items()):
        xs, ys = values if isinstance(values, tuple) else (x, values)
        ys = np.asarray(ys, dtype=float)
        xs = np.arange(1, len(ys) + 1) if xs is None else np.asarray(xs)
        marked = len(ys) <= 20 if markers is None else markers
        ax.plot(xs, ys, "-", color=f"C{i}", label=name, marker="o" if marked else None)
    for j, (label, value) in enumerate((hlines or {}).items()):
        ax.axhline(value, color="grey", ls=("--", ":", "-.")[j % 3], lw=1, label=label)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both" if logy else "major")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    _finish(fig, save)


def predictions(images, captions, cols=5, size=2.6, title=None, save=None):
    """Images side by side, each with a few lines of text under it (e.g. a network's top-5
    classes and probabilities). ``captions`` holds one string per image."""
    n = len(images)
    rows, cols = _grid(n, cols)
    lines = max(str(c).count("\n") + 1 for c in captions)
    fig, axes = _subplots(rows, cols, figsize=(cols * size, rows * (size + 0.17 * lines)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(_as_image(images[i]))
            ax.text(0.0, -0.03, captions[i], transform=ax.transAxes, va="top", ha="left", fontsize=7.5,
                    family="monospace")
    if title:
        fig.suptitle(title)
    _finish(fig, save)


def embedding(points, labels, class_names=None, title=None, ax_titles=None, save=None):
    """2-D points (e.g. a PCA or t-SNE projection) coloured by class; a list of arrays draws
    panels side by side."""
    sets = points if isinstance(points, (list, tuple)) else [points]
    ax_titles = ax_titles or [None] * len(sets)
    labels = np.asarray(labels)
    fig, axes = _subplots(1, len(sets), figsize=(4.6 * len(sets) + 1.6, 4.4), squeeze=False)
    k = int(labels.max()) + 1
    for ax, pts, sub in zip(axes[0], sets, ax_titles):
        pts = np.asarray(pts)
        for c in range(k):
            sel = labels == c
            ax.scatter(pts[sel, 0], pts[sel, 1], s=6, color=plt.cm.tab10(c % 10),
                       label=class_names[c] if class_names else str(c))
        ax.set_xticks([])
        ax.set_yticks([])
        if sub:
            ax.set_title(sub, fontsize=10)
    axes[0, -1].legend(fontsize=8, markerscale=2.5, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    if title:
        fig.suptitle(title)
    _finish(fig, save)


def augmentations(columns: dict, n=6, size=1.25, rows=False, title=None, save=None):
    """Image variants side by side: ``columns`` maps a title (an augmentation) to a batch of images;
    image i of every batch is shown in row i, one column per title (``rows=True``: one row per title,
    image i in column i). The batches may mix uint8 (0..255) and float (0..1) images, grey or colour,
    channels first or last; floats are clipped to [0, 1], which is what a shifted colour looks like
    on screen."""
    names = list(columns)
    n = min([n] + [len(v) for v in columns.values()])
    shape = (len(names), n) if rows else (n, len(names))
    fig, axes = _subplots(*shape, figsize=(shape[1] * size + (1.2 if rows else 0), shape[0] * size + 0.5),
                          squeeze=False)
    for j, name in enumerate(names):
        for i in range(n):
            ax = axes[j, i] if rows else axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            img = np.asarray(columns[name][i])
            if img.dtype != np.uint8:
                img = np.clip(img, 0, 1)
            shown = _as_image(img)
            top = 255 if img.dtype == np.uint8 else 1
            ax.imshow(shown, cmap="gray", vmin=0 if shown.ndim == 2 else None, vmax=top if shown.ndim == 2 else None)
        if rows:
            axes[j, 0].set_ylabel(name, fontsize=8)
        else:
            axes[0, j].set_title(name, fontsize=8)
    if title:
        fig.suptitle(title)
    _finish(fig, save)


def grouped_bars(groups: dict, ylabel="", title=None, fmt="{:.3f}", save=None):
    """Bars in groups: ``groups`` maps a group name (a model) to {bar name (a metric): value}; the
    same bar name has the same colour in every group."""
    group_names = list(groups)
    bar_names = list(dict.fromkeys(k for g in groups.values() for k in g))
    width = 0.8 / len(bar_names)
    fig, ax = _subplots(figsize=(1.1 * len(group_names) * len(bar_names) * 0.55 + 2.5, 3.4))
    x = np.arange(len(group_names))
    for j, bar in enumerate(bar_names):
        values = [groups[g].get(bar, np.nan) for g in group_names]
        rects = ax.bar(x + (j - (len(bar_names) - 1) / 2) * width, values, width, label=bar, color=f"C{j}")
        for r, v in zip(rects, values):
            if np.isfinite(v):
                ax.text(r.get_x() + r.get_width() / 2, r.get_height(), fmt.format(v), ha="center",
                        va="bottom", fontsize=7)
    ax.set_xticks(x, group_names)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    top = np.nanmax([v for g in groups.values() for v in g.values()])
    ax.set_ylim(0, top * 1.25 if top > 0 else 1)
    ax.legend(fontsize=8, loc="upper right", ncols=len(bar_names))
    if title:
        ax.set_title(title)
    _finish(fig, save)


def curve_panels(panels: dict, xlabel="epoch", ylabel="", title=None, sharey=True, styles=None, size=(4.6, 3.4),
                 save=None):
    """Panels of named curves side by side, e.g. plain networks on the left and residual ones on the
    right on one shared y axis. ``panels`` maps a panel title to ``{name: values}``, each curve's values
    over 1, 2, ... or an ``(x, values)`` pair; ``styles`` maps a curve name to a line style ("--").
    A curve keeps its colour in every panel; curves with few points get markers."""
    names = list(dict.fromkeys(name for curves in panels.values() for name in curves))
    colour = {name: f"C{i}" for i, name in enumerate(names)}
    fig, axes = _subplots(1, len(panels), figsize=(size[0] * len(panels), size[1]), squeeze=False,
                          sharey=sharey)
    for ax, (panel, curves) in zip(axes[0], panels.items()):
        for name, values in curves.items():
            xs, ys = values if isinstance(values, tuple) else (None, values)
            ys = np.asarray(ys, dtype=float)
            xs = np.arange(1, len(ys) + 1) if xs is None else np.asarray(xs, dtype=float)
            ax.plot(xs, ys, (styles or {}).get(name, "-"), color=colour[name], label=name,
                    marker="o" if len(ys) <= 12 else None, ms=4)
        ax.set_title(panel)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel(ylabel)
    if title:
        fig.suptitle(title)
    _finish(fig, save)
