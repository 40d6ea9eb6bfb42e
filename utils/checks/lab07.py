"""Checks for Lab 07 (batch normalization), shared by the Keras and PyTorch notebooks.

    checks.lab07.batch_norm(batch_norm)                        # Exercise 7.1
    checks.lab07.update_running(update_running)                # Exercise 7.2
    checks.lab07.batch_norm_inference(batch_norm_inference)    # Exercise 7.3
    checks.lab07.batch_norm_backward(batch_norm_backward)      # Exercise 7.4
    checks.lab07.conv_block_params(conv_block_params)          # Exercise 7.5

Every exercise works on NumPy arrays of shape (N, D): N examples in the mini-batch, D
features (for a convolution layer: every pixel position of every image is one row, and
the channels are the D columns). When a wrong answer matches a mistake students often
make (normalising each example instead of each feature, the unbiased variance, epsilon
outside the square root, the momentum the wrong way round, batch statistics at
inference ...), the verdict names that mistake.
"""
import numpy as np

from . import call_on_copies, check_cases, compare

# --------------------------------------------------------------------------- reference answers


def _bn(x, gamma, beta, eps, ddof=0, axis=0, eps_outside=False, sqrt=True):
    """The workshop's algorithm, with switches for the usual mistakes."""
    x = np.asarray(x, dtype=float)
    mu = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, ddof=ddof, keepdims=True)
    if not sqrt:
        scale = var + eps
    elif eps_outside:
        scale = np.sqrt(var) + eps
    else:
        scale = np.sqrt(var + eps)
    return gamma * (x - mu) / scale + beta


def _running(mean, var, x, momentum, convention, swap=False, ddof=None):
    """Exercise 7.2's reference: the running statistics after one training step."""
    x = np.asarray(x, dtype=float)
    if ddof is None:
        ddof = 1 if convention == "pytorch" else 0
    keep = momentum if convention == "keras" else 1 - momentum
    if swap:
        keep = 1 - keep
    return (keep * mean + (1 - keep) * x.mean(axis=0),
            keep * var + (1 - keep) * x.var(axis=0, ddof=ddof))


def _inference(x, gamma, beta, mean, var, eps):
    return gamma * (np.asarray(x, dtype=float) - mean) / np.sqrt(var + eps) + beta


def _backward(dy, x, gamma, eps):
    """Gradients of y = gamma * x_hat + beta (training mode) with respect to x, gamma, beta."""
    x, dy = np.asarray(x, dtype=float), np.asarray(dy, dtype=float)
    m = x.shape[0]
    mu = x.mean(axis=0)
    inv_std = 1.0 / np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - mu) * inv_std
    dgamma = (dy * x_hat).sum(axis=0)
    dbeta = dy.sum(axis=0)
    dx_hat = dy * gamma
    dx = inv_std / m * (m * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0))
    return dx, dgamma, dbeta


def _matches(got, expected):
    """True when ``got`` equals ``expected`` (same shape, close values)."""
    try:
        return compare(got, expected, rtol=1e-4, atol=1e-6) is None
    except Exception:  # noqa: BLE001 - an odd result simply matches nothing
        return False


def _diagnose(got, mistakes):
    """The explanation of the first known mistake whose result ``got`` reproduces, or ''."""
    for explanation, wrong in mistakes:
        if _matches(got, wrong):
            return f"\n   This is what {explanation}"
    return ""


def _data(seed, n, d, loc=3.0, scale=2.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(loc, scale, size=(n, d)) * rng.uniform(0.5, 3.0, size=d) + rng.normal(0, 5, size=d)
    return x, rng.uniform(0.5, 2.0, size=d), rng.normal(0, 1, size=d)


# --------------------------------------------------------------------------- Exercise 7.1

def batch_norm(fn):
    """``fn(x, gamma, beta, eps)``: batch normalization of an (N, D) mini-batch in training mode."""
    x_small = np.array([[1.0, 2.0, 6.0], [3.0, 6.0, 2.0], [5.0, 4.0, 4.0], [7.0, 8.0, 0.0]])
    x_wide, g_wide, b_wide = _data(1, 6, 9)
    x_tall, g_tall, b_tall = _data(2, 12, 5)
    x_pair, g_pair, b_pair = _data(3, 2, 4)
    # one feature barely varies (standard deviation 0.01): here epsilon matters
    x_flat = np.column_stack([np.linspace(-0.01, 0.01, 5) + 4.0, np.linspace(-3, 3, 5) ** 2])
    x_f32 = np.random.default_rng(5).normal(10, 4, size=(16, 3)).astype(np.float32)
    cases = [
        ("the 4x3 batch of the text, gamma 1, beta 0, eps 1e-3",
         (x_small, np.ones(3), np.zeros(3), 1e-3)),
        ("6 examples, 9 features, eps 1e-3", (x_wide, g_wide, b_wide, 1e-3)),
        ("12 examples, 5 features, eps 1e-5", (x_tall, g_tall, b_tall, 1e-5)),
        ("a batch of 2 examples, eps 1e-5", (x_pair, g_pair, b_pair, 1e-5)),
        ("a feature with variance 1e-4 and eps 1e-3", (x_flat, np.array([2.0, 0.5]), np.array([1.0, -1.0]), 1e-3)),
        ("float32 input", (x_f32, np.float32([1.5, 1.0, 0.5]), np.float32([0.0, 1.0, -1.0]), 1e-3)),
    ]

    def judge(fn, case):
        x, gamma, beta, eps = case
        got, error = call_on_copies(fn, x, gamma, beta, eps)
        if error:
            return error
        expected = _bn(x, gamma, beta, eps)
        problem = compare(got, expected, rtol=1e-4, atol=1e-5, numpy=True)
        if problem and isinstance(got, np.ndarray):
            x_hat = _bn(x, 1.0, 0.0, eps)
            problem += _diagnose(got, [
                ("normalising each example (row) over its features gives: batch norm normalises each "
                 "feature (column) over the examples of the batch, the mean and variance over axis=0",
                 _bn(x, gamma, beta, eps, axis=1)),
                ("the unbiased variance (divided by m - 1, ddof=1) gives: the workshop's mini-batch variance "
                 "divides by m (np.var's default, ddof=0), and so do both frameworks when they normalise",
                 _bn(x, gamma, beta, eps, ddof=1)),
                ("epsilon outside the square root gives: normalise by sqrt(variance + eps)",
                 _bn(x, gamma, beta, eps, eps_outside=True)),
                ("dividing by the variance instead of the standard deviation gives: take the square root, "
                 "sqrt(variance + eps)", _bn(x, gamma, beta, eps, sqrt=False)),
                ("leaving epsilon out gives: add it to the variance, sqrt(variance + eps)",
                 _bn(x, gamma, beta, 0.0)),
                ("x_hat alone gives: finish with the scale and shift, gamma * x_hat + beta", x_hat),
                ("gamma and beta swapped gives: gamma scales, beta shifts: gamma * x_hat + beta",
                 beta * x_hat + gamma),
            ])
        return problem

    return check_cases(
        "Exercise 7.1 batch_norm", fn, cases, judge,
        hint="mu = x.mean(axis=0); var = x.var(axis=0) (divide by m); x_hat = (x - mu) / np.sqrt(var + eps); "
             "return gamma * x_hat + beta. Each of the D columns gets its own mean and variance.")


# --------------------------------------------------------------------------- Exercise 7.2

def update_running(fn):
    """``fn(running_mean, running_var, x, momentum, convention)``: the running statistics after one
    training step on the (N, D) batch ``x``, under Keras's or PyTorch's ``momentum`` convention."""
    x1, _, _ = _data(11, 4, 3)
    x2, _, _ = _data(12, 8, 5)
    x3, _, _ = _data(13, 2, 2)
    rng = np.random.default_rng(14)
    mean5, var5 = rng.normal(0, 2, size=5), rng.uniform(0.5, 3, size=5)
    cases = [
        ("Keras, momentum 0.99, fresh layer (mean 0, variance 1)", (np.zeros(3), np.ones(3), x1, 0.99, "keras")),
        ("PyTorch, momentum 0.1, fresh layer (mean 0, variance 1)", (np.zeros(3), np.ones(3), x1, 0.1, "pytorch")),
        ("Keras, momentum 0.9, running statistics already under way", (mean5, var5, x2, 0.9, "keras")),
        ("PyTorch, momentum 0.3, running statistics already under way", (mean5, var5, x2, 0.3, "pytorch")),
        ("PyTorch, a batch of 2, momentum 0.1", (np.array([1.0, -1.0]), np.array([2.0, 0.5]), x3, 0.1, "pytorch")),
        ("Keras, a batch of 2, momentum 0.99", (np.array([1.0, -1.0]), np.array([2.0, 0.5]), x3, 0.99, "keras")),
    ]

    def judge(fn, case):
        mean, var, x, momentum, convention = case
        got, error = call_on_copies(fn, mean, var, x, momentum, convention)
        if error:
            return error
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return (f"expected a pair (new_mean, new_var), got {type(got).__name__}"
                    + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""))
        exp_mean, exp_var = _running(mean, var, x, momentum, convention)
        for label, value, expected, index in (("new_mean", got[0], exp_mean, 0), ("new_var", got[1], exp_var, 1)):
            problem = compare(value, expected, numpy=True)
            if problem:
                batch = x.mean(axis=0) if index == 0 else x.var(axis=0, ddof=1 if convention == "pytorch" else 0)
                rule = ("momentum is the share KEPT from the old value: new = momentum * old + (1 - momentum) * batch"
                        if convention == "keras" else
                        "momentum is the share of the NEW batch: new = (1 - momentum) * old + momentum * batch")
                mistakes = [
                    (f"the momentum taken the other way round gives: with convention={convention!r}, {rule}",
                     _running(mean, var, x, momentum, convention, swap=True)[index]),
                    ("the batch statistic alone gives: the running value moves only part of the way towards "
                     "the batch's", batch),
                ]
                if index == 1:
                    mistakes.append(
                        (("the biased batch variance (ddof=0) gives: " if convention == "pytorch" else
                          "the unbiased batch variance (ddof=1) gives: ") + (
                            "PyTorch feeds the running variance with the UNBIASED batch variance "
                            "(divided by m - 1, ddof=1)" if convention == "pytorch" else
                            "Keras feeds the moving variance with the same biased batch variance it "
                            "normalises with (divided by m, ddof=0)"),
                         _running(mean, var, x, momentum, convention, ddof=0 if convention == "pytorch" else 1)[1]))
                diagnosis = _diagnose(value, mistakes) if isinstance(value, np.ndarray) else ""
                return f"{label}: {problem}{diagnosis}"
        return None

    return check_cases(
        "Exercise 7.2 update_running", fn, cases, judge,
        hint="Keras: new = momentum * old + (1 - momentum) * batch (momentum=0.99 keeps 99%); PyTorch: "
             "new = (1 - momentum) * old + momentum * batch (momentum=0.1 takes 10% of the batch). The batch "
             "variance is x.var(axis=0) for Keras and x.var(axis=0, ddof=1) for PyTorch.")


# --------------------------------------------------------------------------- Exercise 7.3

def batch_norm_inference(fn):
    """``fn(x, gamma, beta, running_mean, running_var, eps)``: batch normalization in inference mode."""
    x1, g1, b1 = _data(21, 6, 4)
    rng = np.random.default_rng(22)
    mean1, var1 = rng.normal(0, 3, size=4), rng.uniform(0.2, 4, size=4)
    x_one = x1[:1]
    x_f32 = rng.normal(0, 1, size=(5, 3)).astype(np.float32)
    cases = [
        ("6 examples, 4 features, eps 1e-3", (x1, g1, b1, mean1, var1, 1e-3)),
        ("a single example, eps 1e-5", (x_one, g1, b1, mean1, var1, 1e-5)),
        ("a fresh layer: running mean 0, variance 1", (x1, np.ones(4), np.zeros(4), np.zeros(4), np.ones(4), 1e-3)),
        ("a small running variance (1e-4) and eps 1e-3",
         (x1[:, :2], np.array([1.0, 2.0]), np.array([0.5, 0.0]), np.array([1.0, 2.0]), np.array([1e-4, 1e-4]), 1e-3)),
        ("float32 input", (x_f32, np.float32([1, 2, 3]), np.float32([0, 0, 1]), np.float32([0.1, -0.1, 0]),
                           np.float32([0.5, 1.5, 2.0]), 1e-5)),
    ]

    def judge(fn, case):
        x, gamma, beta, mean, var, eps = case
        got, error = call_on_copies(fn, x, gamma, beta, mean, var, eps)
        if error:
            return error
        problem = compare(got, _inference(x, gamma, beta, mean, var, eps), atol=1e-5, numpy=True)
        if problem and isinstance(got, np.ndarray):
            problem += _diagnose(got, [
                ("the batch's own statistics give: in inference mode the layer uses the running mean and "
                 "variance it collected in training, so one example's output does not depend on the others "
                 "in the batch", _bn(x, gamma, beta, eps)),
                ("epsilon outside the square root gives: divide by sqrt(running_var + eps)",
                 gamma * (x - mean) / (np.sqrt(var) + eps) + beta),
                ("dividing by the variance instead of the standard deviation gives: divide by "
                 "sqrt(running_var + eps)", gamma * (x - mean) / (var + eps) + beta),
                ("leaving out the scale and shift gives: finish with gamma * x_hat + beta",
                 (x - mean) / np.sqrt(var + eps)),
            ])
        return problem

    return check_cases(
        "Exercise 7.3 batch_norm_inference", fn, cases, judge,
        hint="the same formula as in training, with the running statistics in place of the batch's: "
             "gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta.")


# --------------------------------------------------------------------------- Exercise 7.4

def batch_norm_backward(fn):
    """``fn(dy, x, gamma, eps)``: (dx, dgamma, dbeta), the gradients of batch normalization in
    training mode, given the gradient ``dy`` of the loss with respect to its output."""
    cases = []
    for seed, (n, d), eps, label in ((31, (4, 3), 1e-3, "4 examples, 3 features"),
                                     (32, (10, 6), 1e-5, "10 examples, 6 features"),
                                     (33, (2, 3), 1e-5, "a batch of 2"),
                                     (34, (16, 2), 1e-3, "16 examples, 2 features")):
        x, gamma, _ = _data(seed, n, d)
        dy = np.random.default_rng(seed + 100).normal(size=(n, d))
        cases.append((label, (dy, x, gamma, eps)))

    def judge(fn, case):
        dy, x, gamma, eps = case
        got, error = call_on_copies(fn, dy, x, gamma, eps)
        if error:
            return error
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            return (f"expected three arrays (dx, dgamma, dbeta), got {type(got).__name__}"
                    + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""))
        dx, dgamma, dbeta = _backward(dy, x, gamma, eps)
        inv_std = 1.0 / np.sqrt(x.var(axis=0) + eps)
        x_hat = (x - x.mean(axis=0)) * inv_std
        for label, value, expected, mistakes in (
            ("dbeta", got[2], dbeta, [
                ("the mean over the batch gives: beta is added to every example's output, so its gradient "
                 "is the SUM of dy over the batch", dy.mean(axis=0))]),
            ("dgamma", got[1], dgamma, [
                ("the sum of dy alone gives: gamma multiplies x_hat, so dgamma = sum of dy * x_hat",
                 dy.sum(axis=0)),
                ("dy * x_hat without the sum gives: gamma is shared by the whole batch, so sum over "
                 "the examples (axis=0)", dy * x_hat)]),
            ("dx", got[0], dx, [
                ("treating the mean and variance as constants gives (dy * gamma / sqrt(var + eps)): "
                 "they are computed from x, so every x_i also reaches the loss through them; the two "
                 "extra terms subtract the mean of dx_hat and of dx_hat * x_hat", dy * gamma * inv_std)]),
        ):
            problem = compare(value, expected, atol=1e-5, numpy=True)
            if problem:
                diagnosis = _diagnose(value, mistakes) if isinstance(value, np.ndarray) else ""
                return f"{label}: {problem}{diagnosis}"
        return None

    return check_cases(
        "Exercise 7.4 batch_norm_backward", fn, cases, judge,
        hint="with x_hat = (x - mu) / sqrt(var + eps) and dx_hat = dy * gamma: dbeta = dy.sum(0), "
             "dgamma = (dy * x_hat).sum(0), dx = (dx_hat - dx_hat.mean(0) - x_hat * (dx_hat * x_hat).mean(0)) "
             "/ sqrt(var + eps).")


# --------------------------------------------------------------------------- Exercise 7.5

def _block(c_in, c_out, k, batch_norm):
    weights = k * k * c_in * c_out
    if batch_norm:
        return weights + 2 * c_out, 2 * c_out
    return weights + c_out, 0


def conv_block_params(fn):
    """``fn(c_in, c_out, k, batch_norm)``: (trainable, non_trainable) numbers of a convolution block:
    a k x k convolution with c_out filters, followed by batch norm when ``batch_norm`` is True (then
    the convolution has no bias)."""
    shapes = [(1, 32, 3), (32, 64, 3), (3, 16, 3), (64, 128, 1), (16, 16, 5), (3, 96, 11)]
    cases = [((c_in, c_out, k, bn), _block(c_in, c_out, k, bn)) for c_in, c_out, k in shapes for bn in (True, False)]

    def judge(fn, case):
        args, (trainable, frozen) = case
        got, error = call_on_copies(fn, *args)
        if error:
            return error
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a pair (trainable, non_trainable), got {type(got).__name__}"
        try:
            got_t, got_f = (int(v) for v in got)
        except (TypeError, ValueError):
            return f"expected two whole numbers, got {got!r}"
        if (got_t, got_f) == (trainable, frozen):
            return None
        c_in, c_out, k, bn = args
        problem = f"expected (trainable, non_trainable) = ({trainable:,}, {frozen:,}), got ({got_t:,}, {got_f:,})"
        weights = k * k * c_in * c_out
        known = {
            (weights + 3 * c_out, 2 * c_out): "the convolution kept its bias: in front of batch norm a bias "
                                              "does nothing (the mean subtraction removes it), so it is left out",
            (weights + 4 * c_out, 0): "the running mean and variance are not trained by gradient descent: "
                                      "they are non-trainable (Keras) or buffers (PyTorch)",
            (weights + 2 * c_out, 0): "the running mean and variance are numbers the layer stores too: "
                                      "2 per channel, non-trainable",
            (weights + c_out, 2 * c_out): "without batch norm there are no running statistics" if not bn else
                                          "gamma and beta give 2 trainable numbers per channel",
            (weights, 0): "count the bias (one per filter) when there is no batch norm",
        }
        if (got_t, got_f) in known:
            problem += f"\n   It looks as if {known[(got_t, got_f)]}."
        return problem

    labelled = [(f"c_in={a[0]}, c_out={a[1]}, k={a[2]}, batch_norm={a[3]}", (a, e)) for a, e in cases]
    return check_cases(
        "Exercise 7.5 conv_block_params", fn, labelled, judge,
        hint="the convolution has k*k*c_in*c_out weights, plus c_out biases only without batch norm; batch "
             "norm adds gamma and beta (2*c_out, trainable) and the running mean and variance (2*c_out, "
             "non-trainable).")
