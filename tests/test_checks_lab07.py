"""Lab 07's exercise checks: right answers written two ways pass; the wrong answers students
really write fail with what was expected, what came back, and the mistake named."""
import numpy as np
import pytest

from utils.checks import lab07

# --------------------------------------------------------------------------- Exercise 7.1


def bn_numpy(x, gamma, beta, eps):
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def bn_loops(x, gamma, beta, eps):
    """Written out feature by feature, with sums instead of mean/var."""
    m, d = x.shape
    out = np.empty((m, d))
    for j in range(d):
        col = x[:, j]
        mu = sum(col) / m
        var = sum((v - mu) ** 2 for v in col) / m
        out[:, j] = gamma[j] * (col - mu) / (var + eps) ** 0.5 + beta[j]
    return out


def bn_float32(x, gamma, beta, eps):
    x = x.astype(np.float32)
    return (gamma * (x - x.mean(0)) / np.sqrt(x.var(0) + eps) + beta).astype(np.float32)


@pytest.mark.parametrize("fn", [bn_numpy, bn_loops, bn_float32])
def test_batch_norm_right(fn, capsys):
    assert lab07.batch_norm(fn)
    assert "✅ Exercise 7.1 batch_norm: correct (6 cases)" in capsys.readouterr().out


WRONG_BN = {
    "per example": (lambda x, g, b, e: g * (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + e) + b,
                    "normalising each example (row)"),
    "unbiased": (lambda x, g, b, e: g * (x - x.mean(0)) / np.sqrt(x.var(0, ddof=1) + e) + b,
                 "the unbiased variance"),
    "eps outside": (lambda x, g, b, e: g * (x - x.mean(0)) / (np.sqrt(x.var(0)) + e) + b,
                    "epsilon outside the square root"),
    "no sqrt": (lambda x, g, b, e: g * (x - x.mean(0)) / (x.var(0) + e) + b,
                "dividing by the variance instead of the standard deviation"),
    "no eps": (lambda x, g, b, e: g * (x - x.mean(0)) / np.sqrt(x.var(0)) + b, "leaving epsilon out"),
    "no scale": (lambda x, g, b, e: (x - x.mean(0)) / np.sqrt(x.var(0) + e), "x_hat alone"),
    "swapped": (lambda x, g, b, e: b * (x - x.mean(0)) / np.sqrt(x.var(0) + e) + g, "gamma and beta swapped"),
}


@pytest.mark.parametrize("name", list(WRONG_BN))
def test_batch_norm_wrong_answers_are_named(name, capsys):
    fn, words = WRONG_BN[name]
    assert not lab07.batch_norm(fn)
    out = capsys.readouterr().out
    assert "❌ Exercise 7.1 batch_norm" in out and "expected" in out and "got" in out
    assert words in out, out
    assert "Hint:" in out


def test_batch_norm_wrong_axis_without_keepdims_is_reported_not_raised(capsys):
    def per_example(x, gamma, beta, eps):
        return gamma * (x - x.mean(axis=1)) / np.sqrt(x.var(axis=1) + eps) + beta
    assert not lab07.batch_norm(per_example)
    out = capsys.readouterr().out
    assert "raised ValueError" in out and "Traceback" not in out


def test_batch_norm_must_return_numpy(capsys):
    assert not lab07.batch_norm(lambda x, g, b, e: bn_numpy(x, g, b, e).tolist())
    assert "NumPy array" in capsys.readouterr().out


def test_batch_norm_in_place_change_is_reported(capsys):
    def in_place(x, gamma, beta, eps):
        x -= x.mean(axis=0)
        x /= np.sqrt(x.var(axis=0) + eps)
        return gamma * x + beta
    assert not lab07.batch_norm(in_place)
    assert "in place" in capsys.readouterr().out


def test_batch_norm_stub_is_todo(capsys):
    def stub(x, gamma, beta, eps):
        raise NotImplementedError("Exercise 7.1 (batch norm by hand): replace this line with your code")
    assert not lab07.batch_norm(stub)
    assert "not done yet" in capsys.readouterr().out

# --------------------------------------------------------------------------- Exercise 7.2


def running_two_formulas(mean, var, x, momentum, convention):
    if convention == "keras":
        return (momentum * mean + (1 - momentum) * x.mean(0), momentum * var + (1 - momentum) * x.var(0))
    return ((1 - momentum) * mean + momentum * x.mean(0), (1 - momentum) * var + momentum * x.var(0, ddof=1))


def running_one_rule(mean, var, x, momentum, convention):
    """Written through a single 'share of the batch' and Bessel's correction n / (n - 1)."""
    n = len(x)
    share = 1 - momentum if convention == "keras" else momentum
    batch_var = ((x - x.mean(0)) ** 2).mean(0)
    if convention == "pytorch":
        batch_var = batch_var * n / (n - 1)
    return mean + share * (x.mean(0) - mean), var + share * (batch_var - var)


@pytest.mark.parametrize("fn", [running_two_formulas, running_one_rule])
def test_update_running_right(fn, capsys):
    assert lab07.update_running(fn)
    assert "✅ Exercise 7.2 update_running: correct (6 cases)" in capsys.readouterr().out


def running_swapped(mean, var, x, momentum, convention):   # the same formula for both frameworks
    return momentum * mean + (1 - momentum) * x.mean(0), momentum * var + (1 - momentum) * x.var(0)


def running_torch_rule_for_both(mean, var, x, momentum, convention):
    return (1 - momentum) * mean + momentum * x.mean(0), (1 - momentum) * var + momentum * x.var(0, ddof=1)


def running_biased_everywhere(mean, var, x, momentum, convention):
    share = 1 - momentum if convention == "keras" else momentum
    return (1 - share) * mean + share * x.mean(0), (1 - share) * var + share * x.var(0)


def running_batch_only(mean, var, x, momentum, convention):
    return x.mean(0), x.var(0)


@pytest.mark.parametrize("fn, words", [
    (running_swapped, "the momentum taken the other way round"),
    (running_torch_rule_for_both, "the momentum taken the other way round"),
    (running_biased_everywhere, "the biased batch variance"),
    (running_batch_only, "the batch statistic alone"),
])
def test_update_running_wrong_answers_are_named(fn, words, capsys):
    assert not lab07.update_running(fn)
    out = capsys.readouterr().out
    assert "❌ Exercise 7.2 update_running" in out and words in out, out


def test_update_running_needs_a_pair(capsys):
    assert not lab07.update_running(lambda m, v, x, mom, c: running_two_formulas(m, v, x, mom, c)[0])
    assert "expected a pair" in capsys.readouterr().out

# --------------------------------------------------------------------------- Exercise 7.3


def inference_formula(x, gamma, beta, mean, var, eps):
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def inference_affine(x, gamma, beta, mean, var, eps):
    """As one multiply-add per feature: a = gamma / sqrt(var + eps), b = beta - a * mean."""
    a = gamma / np.sqrt(var + eps)
    return x * a + (beta - a * mean)


@pytest.mark.parametrize("fn", [inference_formula, inference_affine])
def test_inference_right(fn, capsys):
    assert lab07.batch_norm_inference(fn)
    assert "✅ Exercise 7.3 batch_norm_inference: correct (5 cases)" in capsys.readouterr().out


@pytest.mark.parametrize("fn, words", [
    (lambda x, g, b, m, v, e: bn_numpy(x, g, b, e), "the batch's own statistics"),
    (lambda x, g, b, m, v, e: g * (x - m) / (np.sqrt(v) + e) + b, "epsilon outside the square root"),
    (lambda x, g, b, m, v, e: g * (x - m) / (v + e) + b, "instead of the standard deviation"),
    (lambda x, g, b, m, v, e: (x - m) / np.sqrt(v + e), "leaving out the scale and shift"),
])
def test_inference_wrong_answers_are_named(fn, words, capsys):
    assert not lab07.batch_norm_inference(fn)
    out = capsys.readouterr().out
    assert "❌ Exercise 7.3" in out and words in out, out

# --------------------------------------------------------------------------- Exercise 7.4


def backward_compact(dy, x, gamma, eps):
    inv_std = 1 / np.sqrt(x.var(0) + eps)
    x_hat = (x - x.mean(0)) * inv_std
    dx_hat = dy * gamma
    dx = (dx_hat - dx_hat.mean(0) - x_hat * (dx_hat * x_hat).mean(0)) * inv_std
    return dx, (dy * x_hat).sum(0), dy.sum(0)


def backward_graph(dy, x, gamma, eps):
    """Step by step through the computational graph, as in Lab 03."""
    m = x.shape[0]
    mu = x.mean(0)
    xc = x - mu
    var = (xc ** 2).mean(0)
    std = np.sqrt(var + eps)
    x_hat = xc / std
    dbeta = dy.sum(0)
    dgamma = (dy * x_hat).sum(0)
    dx_hat = dy * gamma
    dxc = dx_hat / std
    dstd = -(dx_hat * xc).sum(0) / std ** 2
    dvar = dstd / (2 * std)
    dxc += 2 * xc * dvar / m
    dmu = -dxc.sum(0)
    dx = dxc + dmu / m
    return dx, dgamma, dbeta


@pytest.mark.parametrize("fn", [backward_compact, backward_graph])
def test_backward_right(fn, capsys):
    assert lab07.batch_norm_backward(fn)
    assert "✅ Exercise 7.4 batch_norm_backward: correct (4 cases)" in capsys.readouterr().out


def backward_constant_stats(dy, x, gamma, eps):
    _, dgamma, dbeta = backward_compact(dy, x, gamma, eps)
    return dy * gamma / np.sqrt(x.var(0) + eps), dgamma, dbeta


def backward_dgamma_no_xhat(dy, x, gamma, eps):
    dx, _, dbeta = backward_compact(dy, x, gamma, eps)
    return dx, dy.sum(0), dbeta


def backward_dbeta_mean(dy, x, gamma, eps):
    dx, dgamma, _ = backward_compact(dy, x, gamma, eps)
    return dx, dgamma, dy.mean(0)


@pytest.mark.parametrize("fn, words", [
    (backward_constant_stats, "treating the mean and variance as constants"),
    (backward_dgamma_no_xhat, "the sum of dy alone"),
    (backward_dbeta_mean, "the mean over the batch"),
])
def test_backward_wrong_answers_are_named(fn, words, capsys):
    assert not lab07.batch_norm_backward(fn)
    out = capsys.readouterr().out
    assert "❌ Exercise 7.4" in out and words in out, out


def test_backward_needs_three_arrays(capsys):
    assert not lab07.batch_norm_backward(lambda dy, x, g, e: backward_compact(dy, x, g, e)[:2])
    assert "expected three arrays" in capsys.readouterr().out

# --------------------------------------------------------------------------- Exercise 7.5


def block_params(c_in, c_out, k, batch_norm):
    conv = k * k * c_in * c_out
    return (conv + 2 * c_out, 2 * c_out) if batch_norm else (conv + c_out, 0)


def block_params_other(c_in, c_out, k, batch_norm):
    weights = c_out * (k * k * c_in + (0 if batch_norm else 1))
    bn = 2 * c_out * int(batch_norm)
    return [np.int64(weights + bn), bn]


@pytest.mark.parametrize("fn", [block_params, block_params_other])
def test_block_params_right(fn, capsys):
    assert lab07.conv_block_params(fn)
    assert "✅ Exercise 7.5 conv_block_params: correct (12 cases)" in capsys.readouterr().out


@pytest.mark.parametrize("fn, words", [
    (lambda ci, co, k, bn: (k * k * ci * co + co + (2 * co if bn else 0), 2 * co if bn else 0), "kept its bias"),
    (lambda ci, co, k, bn: (k * k * ci * co + (4 * co if bn else co), 0), "not trained by gradient descent"),
    (lambda ci, co, k, bn: (k * k * ci * co + 2 * co if bn else k * k * ci * co + co, 0), "2 per channel"),
])
def test_block_params_wrong_answers_are_named(fn, words, capsys):
    assert not lab07.conv_block_params(fn)
    out = capsys.readouterr().out
    assert "❌ Exercise 7.5" in out and words in out, out
