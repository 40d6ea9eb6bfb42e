"""Lab 01's checks: correct answers written different ways pass; the wrong answers students
really write get a verdict that names the slip, never a traceback."""
import math

import numpy as np
import pytest
import scipy.special
import torch

from utils.checks import lab01


@pytest.fixture(autouse=True)
def cpu_only(monkeypatch):
    """The loop checks put their model on the notebook's device; these answers keep their batches on the CPU."""
    monkeypatch.setenv("DLLABS_DEVICE", "cpu")


def verdict(check, answer, capsys):
    """(passed, printed text) of one check on one answer."""
    passed = bool(check(answer))
    out = capsys.readouterr().out
    assert "Traceback" not in out
    return passed, out


def passes(check, answer, capsys):
    passed, out = verdict(check, answer, capsys)
    assert passed, out
    assert "✅" in out


def fails(check, answer, capsys, *expected):
    passed, out = verdict(check, answer, capsys)
    assert not passed, out
    for text in expected:
        assert text in out, out
    return out


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- 1.1 sigmoid


def test_sigmoid_right_two_ways(capsys):
    passes(lab01.sigmoid, _sigmoid, capsys)
    passes(lab01.sigmoid, scipy.special.expit, capsys)
    passes(lab01.sigmoid, lambda z: np.exp(-np.logaddexp(0, -z)), capsys)


def test_sigmoid_wrong_sign(capsys):
    fails(lab01.sigmoid, lambda z: 1 / (1 + np.exp(z)), capsys, "sigmoid(-z)")


def test_sigmoid_math_exp_and_list(capsys):
    fails(lab01.sigmoid, lambda z: 1 / (1 + math.exp(-z)), capsys, "raised TypeError", "math.exp")
    fails(lab01.sigmoid, lambda z: [1 / (1 + math.exp(-v)) for v in np.ravel(z)], capsys,
          "got a Python list")


def test_sigmoid_torch_tensor_is_refused(capsys):
    fails(lab01.sigmoid, lambda z: torch.sigmoid(torch.as_tensor(z)), capsys,
          "got a torch.Tensor")


def test_sigmoid_float32_input(capsys):
    def float32_only_on_copies(z):        # computes in float32: still right to 1e-4
        return (1 / (1 + np.exp(-np.asarray(z, dtype=np.float32)))).astype(np.float32)
    passes(lab01.sigmoid, float32_only_on_copies, capsys)


# --------------------------------------------------------------------------- 1.2 softmax


def test_softmax_right_three_ways(capsys):
    passes(lab01.softmax, _softmax, capsys)
    passes(lab01.softmax, lambda z: scipy.special.softmax(z, axis=-1), capsys)
    passes(lab01.softmax, lambda z: np.exp(z - scipy.special.logsumexp(z, axis=-1, keepdims=True)), capsys)


def test_softmax_global_max_gives_nan_for_rows_far_apart(capsys):
    def global_max(z):
        e = np.exp(z - z.max())
        return e / e.sum(axis=-1, keepdims=True)
    fails(lab01.softmax, global_max, capsys, "rows far apart", "whole matrix (z.max())",
          "z.max(axis=-1, keepdims=True)")


def test_softmax_without_max_overflows(capsys):
    def naive(z):
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    out = fails(lab01.softmax, naive, capsys, "overflows", "subtract each row's largest score")
    assert "RuntimeWarning" not in out


def test_softmax_float32_overflow_is_caught(capsys):
    def stable_only_for_float64(z):       # shifts only past float64's limit: float32 overflows at e^89
        if z.max() > 700:
            z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    fails(lab01.softmax, stable_only_for_float64, capsys, "float32", "overflows")


def test_softmax_whole_matrix_or_columns(capsys):
    def whole(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum()
    fails(lab01.softmax, whole, capsys, "each row", "axis=-1")

    def columns(z):
        e = np.exp(z - z.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True)
    fails(lab01.softmax, columns, capsys, "axis=0")


def test_softmax_in_place_is_reported(capsys):
    def in_place(z):
        z -= z.max(axis=-1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=-1, keepdims=True)
        return z
    fails(lab01.softmax, in_place, capsys, "changed its input `z` in place")


def test_softmax_torch_tensor_is_refused(capsys):
    fails(lab01.softmax, lambda z: torch.softmax(torch.from_numpy(z), dim=-1), capsys, "got a torch.Tensor")


# --------------------------------------------------------------------------- 1.3 one_hot


def test_one_hot_right_two_ways(capsys):
    def zeros_then_ones(labels, k):
        out = np.zeros((len(labels), k))
        out[np.arange(len(labels)), labels] = 1
        return out
    passes(lab01.one_hot, zeros_then_ones, capsys)
    passes(lab01.one_hot, lambda labels, k: np.eye(k, dtype=int)[labels], capsys)


def test_one_hot_counts_classes_from_the_labels(capsys):
    fails(lab01.one_hot, lambda labels, k: np.eye(labels.max() + 1)[labels], capsys, "use num_classes")


def test_one_hot_list_or_tensor(capsys):
    fails(lab01.one_hot, lambda labels, k: np.eye(k)[labels].tolist(), capsys, "got a Python list")
    fails(lab01.one_hot, lambda labels, k: torch.nn.functional.one_hot(torch.from_numpy(labels).long(), k),
          capsys, "got a torch.Tensor")


def test_one_hot_whole_columns_or_transposed(capsys):
    def columns(labels, k):
        out = np.zeros((len(labels), k))
        out[:, labels] = 1
        return out
    fails(lab01.one_hot, columns, capsys, "every row got a 1 in every label's column")
    fails(lab01.one_hot, lambda labels, k: np.eye(k)[labels].T, capsys, "one row per label")


# --------------------------------------------------------------------------- 1.4 cross_entropy


def test_cross_entropy_right_three_ways(capsys):
    passes(lab01.cross_entropy, lambda p, t: -np.mean(np.log(np.sum(t * p, axis=-1))), capsys)
    passes(lab01.cross_entropy, lambda p, t: -np.mean(np.sum(t * np.log(np.clip(p, 1e-12, 1)), axis=1)), capsys)
    passes(lab01.cross_entropy, lambda p, t: float(-np.log(p[np.arange(len(t)), t.argmax(1)]).mean()), capsys)


def test_cross_entropy_sum_instead_of_mean(capsys):
    fails(lab01.cross_entropy, lambda p, t: -np.sum(np.log(np.sum(t * p, axis=-1))), capsys,
          "sum over the examples", "mean")


def test_cross_entropy_mean_over_every_entry(capsys):
    fails(lab01.cross_entropy, lambda p, t: -np.mean(t * np.log(p + 1e-12)), capsys, "divides by N·K")


def test_cross_entropy_zero_times_log_zero(capsys):
    out = fails(lab01.cross_entropy, lambda p, t: -np.mean(np.sum(t * np.log(p), axis=1)), capsys,
                "0 * np.log(0) is NaN")
    assert "RuntimeWarning" not in out


def test_cross_entropy_per_example_or_sign_or_base(capsys):
    fails(lab01.cross_entropy, lambda p, t: -np.sum(t * np.log(np.clip(p, 1e-12, 1)), axis=1), capsys,
          "the loss of each example")
    fails(lab01.cross_entropy, lambda p, t: np.mean(np.log(np.sum(t * p, axis=-1))), capsys, "minus sign")
    fails(lab01.cross_entropy, lambda p, t: -np.mean(np.log2(np.sum(t * p, axis=-1))), capsys, "natural log")


def test_cross_entropy_clipping_in_place(capsys):
    def clip_in_place(p, t):
        np.clip(p, 1e-7, 1, out=p)
        return -np.mean(np.sum(t * np.log(p), axis=1))
    fails(lab01.cross_entropy, clip_in_place, capsys, "changed its input `p` in place")


# --------------------------------------------------------------------------- 1.5 svm_loss


def _svm(W, b, X, y, lam):
    s = X @ W + b
    margins = np.maximum(0, s - s[np.arange(len(y)), y][:, None] + 1)
    margins[np.arange(len(y)), y] = 0
    return margins.sum(axis=1).mean() + lam * np.sum(W ** 2)


def test_svm_loss_right_two_ways(capsys):
    passes(lab01.svm_loss, _svm, capsys)

    def loops(W, b, X, y, lam):
        total = 0.0
        for i in range(len(y)):
            s = X[i] @ W + b
            total += sum(max(0.0, s[j] - s[y[i]] + 1) for j in range(len(s)) if j != y[i])
        return total / len(y) + lam * (W * W).sum()
    passes(lab01.svm_loss, loops, capsys)


def test_svm_loss_counts_the_true_class(capsys):
    def with_true(W, b, X, y, lam):
        s = X @ W + b
        return np.maximum(0, s - s[np.arange(len(y)), y][:, None] + 1).sum(axis=1).mean() + lam * np.sum(W ** 2)
    fails(lab01.svm_loss, with_true, capsys, "j ≠ y_i", "adds max(0, s_y − s_y + 1) = 1")


def test_svm_loss_without_max_or_penalty(capsys):
    def no_max(W, b, X, y, lam):
        s = X @ W + b
        m = s - s[np.arange(len(y)), y][:, None] + 1
        m[np.arange(len(y)), y] = 0
        return m.sum(axis=1).mean() + lam * np.sum(W ** 2)
    fails(lab01.svm_loss, no_max, capsys, "np.maximum(0")
    fails(lab01.svm_loss, lambda W, b, X, y, lam: _svm(W, b, X, y, 0.0), capsys, "add the L2 penalty")
    fails(lab01.svm_loss, lambda W, b, X, y, lam: _svm(W, b, X, y, lam) + lam * np.sum(b ** 2), capsys,
          "not on the biases")
    fails(lab01.svm_loss, lambda W, b, X, y, lam: _svm(W, b, X, y, 0) * len(y) + lam * np.sum(W ** 2), capsys,
          "sum over the examples")


# --------------------------------------------------------------------------- 1.6 gd_step


def _gd(w, b, X, y, lr):
    p = _sigmoid(X @ w + b)
    return w - lr * X.T @ (p - y) / len(y), b - lr * np.mean(p - y)


def test_gd_step_right_two_ways(capsys):
    passes(lab01.gd_step, _gd, capsys)

    def per_example(w, b, X, y, lr):
        gw, gb = np.zeros_like(w, dtype=float), 0.0
        for x_i, y_i in zip(X, y):
            err = 1 / (1 + math.exp(-(x_i @ w + b))) - y_i
            gw, gb = gw + err * x_i, gb + err
        return w - lr * gw / len(y), np.array([b - lr * gb / len(y)])      # b as a 1-element array
    passes(lab01.gd_step, per_example, capsys)


def test_gd_step_sum_instead_of_mean(capsys):
    def summed(w, b, X, y, lr):
        p = _sigmoid(X @ w + b)
        return w - lr * X.T @ (p - y), b - lr * np.sum(p - y)
    fails(lab01.gd_step, summed, capsys, "divide by N")


def test_gd_step_uphill_or_without_lr_or_mse(capsys):
    def uphill(w, b, X, y, lr):
        p = _sigmoid(X @ w + b)
        return w + lr * X.T @ (p - y) / len(y), b + lr * np.mean(p - y)
    fails(lab01.gd_step, uphill, capsys, "step against it")

    def mse(w, b, X, y, lr):
        p = _sigmoid(X @ w + b)
        d = p * (1 - p) * (p - y)
        return w - lr * X.T @ d / len(y), b - lr * d.mean()
    fails(lab01.gd_step, mse, capsys, "squared error")


def test_gd_step_forgets_the_bias(capsys):
    fails(lab01.gd_step, lambda w, b, X, y, lr: (_gd(w, b, X, y, lr)[0], b), capsys, "update the bias too")


def test_gd_step_in_place(capsys):
    def in_place(w, b, X, y, lr):
        p = _sigmoid(X @ w + b)
        w -= lr * X.T @ (p - y) / len(y)
        return w, b - lr * np.mean(p - y)
    fails(lab01.gd_step, in_place, capsys, "changed its input `w` in place")


def test_gd_step_calling_the_unfinished_sigmoid(capsys):
    def sigmoid(z):
        raise NotImplementedError("Exercise 1.1 (sigmoid): replace this line with your code")

    def gd_step(w, b, X, y, lr):
        p = sigmoid(X @ w + b)
        return w - lr * X.T @ (p - y) / len(y), b - lr * np.mean(p - y)
    out = fails(lab01.gd_step, gd_step, capsys, "✏️ Exercise 1.6 gd_step: not done yet",
                "it calls Exercise 1.1 (sigmoid), which is not done yet")
    assert "❌" not in out


def test_gd_step_returns_tensors(capsys):

    def torchy(w, b, X, y, lr):
        w_new, b_new = _gd(w, b, X, y, lr)
        return torch.from_numpy(np.asarray(w_new)), b_new
    fails(lab01.gd_step, torchy, capsys, "new_w", "got a torch.Tensor")


# --------------------------------------------------------------------------- 1.7, 1.8: the PyTorch loop

F = torch.nn.functional


def train_epoch(model, loader, optimizer):
    model.train()
    total, loss_sum, correct = 0, 0.0, 0
    for x, y in loader:
        scores = model(x)
        loss = F.cross_entropy(scores, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(y)
        correct += (scores.argmax(1) == y).sum().item()
        total += len(y)
    return loss_sum / total, correct / total


def evaluate(model, loader):
    model.eval()
    total, loss_sum, correct = 0, 0.0, 0
    with torch.no_grad():
        for x, y in loader:
            scores = model(x)
            loss_sum += F.cross_entropy(scores, y, reduction="sum").item()
            correct += (scores.argmax(1) == y).sum().item()
            total += len(y)
    return loss_sum / total, correct / total


def test_train_epoch_right_two_ways(capsys):
    passes(lab01.train_epoch, train_epoch, capsys)

    def tensors_and_a_loss_module(model, loader, optimizer):      # nn.CrossEntropyLoss, tensor sums
        model.train()
        loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
        loss_sum, correct = torch.zeros(()), torch.zeros((), dtype=torch.long)
        for x, y in loader:
            optimizer.zero_grad(set_to_none=True)
            scores = model(x)
            loss = loss_fn(scores, y) / len(y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(y)
            correct += (scores.argmax(dim=1) == y).sum()
        n = len(loader.dataset)
        return loss_sum / n, correct / n
    passes(lab01.train_epoch, tensors_and_a_loss_module, capsys)


def _variant(zero_grad=True, step=True, train_mode=True, weighted=True, per_batch_accuracy=False):
    def answer(model, loader, optimizer):
        if train_mode:
            model.train()
        losses, sizes, correct = [], [], 0
        for x, y in loader:
            scores = model(x)
            loss = F.cross_entropy(scores, y)
            if zero_grad:
                optimizer.zero_grad()
            loss.backward()
            if step:
                optimizer.step()
            losses.append(loss.item())
            sizes.append(len(y))
            correct += (scores.argmax(1) == y).sum().item()
        mean = (np.dot(losses, sizes) / sum(sizes)) if weighted else np.mean(losses)
        return float(mean), correct / (len(losses) if per_batch_accuracy else sum(sizes))
    return answer


def test_train_epoch_without_zero_grad(capsys):
    fails(lab01.train_epoch, _variant(zero_grad=False), capsys, "without optimizer.zero_grad()")


def test_train_epoch_without_step(capsys):
    fails(lab01.train_epoch, _variant(step=False), capsys, "the weights did not change", "optimizer.step()")


def test_train_epoch_without_train_mode(capsys):
    fails(lab01.train_epoch, _variant(train_mode=False), capsys, "evaluation mode", "model.train()")


def test_train_epoch_unweighted_mean_or_accuracy_per_batch(capsys):
    fails(lab01.train_epoch, _variant(weighted=False), capsys, "weight each batch by its size")
    fails(lab01.train_epoch, _variant(per_batch_accuracy=True), capsys, "not a share between 0 and 1")


def test_train_epoch_stub_and_none(capsys):
    def stub(model, loader, optimizer):
        raise NotImplementedError("Exercise 1.7 (train_epoch): replace this line with your code")
    fails(lab01.train_epoch, stub, capsys, "✏️ Exercise 1.7 train_epoch: not done yet")
    fails(lab01.train_epoch, lambda model, loader, optimizer: None, capsys, "forget to `return`")


def test_evaluate_right_two_ways(capsys):
    passes(lab01.evaluate, evaluate, capsys)

    @torch.no_grad()
    def decorated(model, loader):
        model.eval()
        scores = torch.cat([model(x) for x, _ in loader])
        labels = torch.cat([y for _, y in loader])
        return F.cross_entropy(scores, labels).item(), (scores.argmax(1) == labels).float().mean().item()
    passes(lab01.evaluate, decorated, capsys)


def test_evaluate_with_gradients_or_training_mode(capsys):
    def with_grad(model, loader):
        model.eval()
        out = [(F.cross_entropy(model(x), y, reduction="sum").item(), (model(x).argmax(1) == y).sum().item(),
                len(y)) for x, y in loader]
        n = sum(o[2] for o in out)
        return sum(o[0] for o in out) / n, sum(o[1] for o in out) / n
    fails(lab01.evaluate, with_grad, capsys, "torch.no_grad()")

    def train_mode(model, loader):
        with torch.no_grad():
            return _evaluate_without_eval(model, loader)
    fails(lab01.evaluate, train_mode, capsys, "model.eval()")


def _evaluate_without_eval(model, loader):
    total, loss_sum, correct = 0, 0.0, 0
    for x, y in loader:
        scores = model(x)
        loss_sum += F.cross_entropy(scores, y, reduction="sum").item()
        correct += (scores.argmax(1) == y).sum().item()
        total += len(y)
    return loss_sum / total, correct / total


def test_evaluate_that_trains_or_gives_percent(capsys):
    def trains(model, loader):
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        model.eval()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            return _evaluate_without_eval(model, loader)
    fails(lab01.evaluate, trains, capsys)

    def percent(model, loader):
        loss, acc = evaluate(model, loader)
        return loss, 100 * acc
    fails(lab01.evaluate, percent, capsys, "not a percentage")


# --------------------------------------------------------------------------- the lab's pictures


def test_glyphs_are_the_workshops():
    """The 9x9 X and O of workshop 000 (1 = ink there, ±1 here)."""
    from utils import data

    x = ["000000000", "010000010", "001000100", "000101000", "000010000",
         "000101000", "001000100", "010000010", "000000000"]
    o = ["000000000", "000111000", "001000100", "010000010", "010000010",
         "010000010", "001000100", "000111000", "000000000"]
    for letter, rows in (("X", x), ("O", o)):
        expected = np.array([[1.0 if c == "1" else -1.0 for c in row] for row in rows])
        assert np.array_equal(data.glyph(letter), expected), letter
