"""Checks for Lab 06, regularization (Keras and PyTorch versions).

    checks.lab06.dropout(dropout)                    # Exercise 6.1, inverted dropout on a given mask
    checks.lab06.original_dropout(original_dropout)  # Exercise 6.2, the 2014 paper's rule
    checks.lab06.make_mlp(make_mlp)                  # Exercise 6.3, the workshop's MLP (Keras or PyTorch)
    checks.lab06.mc_predict(mc_predict)              # Exercise 6.4, Monte-Carlo dropout average
    checks.lab06.l2_penalty(l2_penalty)              # Exercise 6.5, lambda * sum of squared weights
    checks.lab06.l2_grad(l2_grad)                    # Exercise 6.5, its gradient
    checks.lab06.early_stopping(early_stopping)      # Exercise 6.6, which epoch to stop at and to keep

Each check runs the answer on inputs whose results are known: the dropout layers on FIXED masks
(so the answer's randomness plays no part), the model on a batch with its own weights against a
reference, the Monte-Carlo average on a stand-in network whose passes are known. When an answer
is wrong in one of the ways students often get it wrong (scaling by 1 - rate instead of
1 / (1 - rate), dropping at inference, the rate taken for the keep probability, biases in the
penalty, the last epoch kept instead of the best), the verdict says which.
"""

import numpy as np

from . import call, call_on_copies, check_cases, compare, framework_of, to_numpy

# --------------------------------------------------------------------------- shared helpers


def _first_match(got, wrong):
    """The description of the first wrong answer in ``wrong`` ({description: array}) that ``got``
    equals, or None."""
    try:
        g = to_numpy(got).astype(float)
    except Exception:  # noqa: BLE001 - an odd object matches nothing
        return None
    for description, value in wrong.items():
        v = np.asarray(value, dtype=float)
        if g.shape == v.shape and np.allclose(g, v, rtol=1e-5, atol=1e-8):
            return description
    return None


def _judge_array(got, expected, wrong, rtol=1e-5, atol=1e-8):
    """None when ``got`` is the NumPy array ``expected``; else what differs, followed by what the
    answer seems to have done when it equals one of the ``wrong`` answers."""
    problem = compare(got, expected, rtol=rtol, atol=atol, numpy=True)
    if problem is None:
        return None
    diagnosis = _first_match(got, wrong)
    return f"{problem}\n   It looks like {diagnosis}." if diagnosis else problem


def _dropout_cases():
    """(label, h, keep, rate) with masks fixed in advance; rates other than 0.5 tell the rate
    from the keep probability."""
    rng = np.random.default_rng(6)
    h1 = np.array([1.0, 2.0, 3.0, 4.0])
    keep1 = np.array([True, False, True, False])
    h2 = rng.normal(size=(3, 5))
    keep2 = rng.random((3, 5)) >= 0.25
    h3 = np.abs(rng.normal(size=(2, 8))).astype(np.float32)
    keep3 = (rng.random((2, 8)) >= 0.8).astype(np.float32)        # a 0/1 float mask works the same
    h4 = np.array([[0.5, -1.0, 2.0]])
    return [
        ("4 units, rate 0.2", h1, keep1, 0.2),
        ("a batch of 3, rate 0.25", h2, keep2, 0.25),
        ("float32 values, a 0/1 float mask, rate 0.8", h3, keep3, 0.8),
        ("the workshop's rate 0.5", h1[::-1].copy(), ~keep1, 0.5),
        ("rate 0: nothing dropped", h4, np.ones_like(h4, dtype=bool), 0.0),
    ]


def _dropout_check(name, fn, inverted):
    """Exercises 6.1 and 6.2: ``fn(h, keep, rate, training)`` in both modes on fixed masks."""
    cases = []
    for label, h_in, keep, rate in _dropout_cases():
        h, k, q = np.asarray(h_in, dtype=float), np.asarray(keep, dtype=float), 1.0 - rate
        expected_train, expected_test = (h * k / q, h) if inverted else (h * k, h * q)
        wrong_train = {
            "the kept units were scaled by (1 - rate) while training; inverted dropout divides them "
            "by the keep probability, h * keep / (1 - rate)": h * k * q,
            "the kept units were divided by the rate: rate is the probability of DROPPING a unit, "
            "the keep probability is 1 - rate": h * k / rate if rate else None,
            "the kept units were multiplied by the rate: rate is the probability of DROPPING a unit, "
            "the keep probability is 1 - rate": h * k * rate,
            "the mask was read the wrong way round: keep is True (or 1) where a unit is KEPT":
                h * (1 - k) / q if inverted else h * (1 - k),
            "the mask was applied but nothing was scaled; inverted dropout divides the kept units by "
            "1 - rate, so that their expected value is h": h * k,
            "this is inverted dropout (scaled by 1 / (1 - rate) while training); the original rule "
            "leaves the kept units as they are while training and scales at test time instead":
                h * k / q,
            "nothing was dropped in training mode: multiply by the mask": h,
        }
        wrong_test = {
            "dropout was applied at inference: in inference mode (training=False) no unit is dropped":
                h * k / q if inverted else h * k,
            "the mask was applied at inference: in inference mode no unit is dropped": h * k,
            "the output was scaled by (1 - rate) at inference: that is the ORIGINAL rule; inverted "
            "dropout already scaled while training, so at inference it returns h unchanged": h * q,
            "the output was scaled by 1 / (1 - rate) at inference; the original rule multiplies by the "
            "keep probability 1 - rate": h / q,
            "the output was scaled by the rate at inference; the original rule multiplies by the KEEP "
            "probability, 1 - rate": h * rate,
            "the output was left unchanged at inference; the original rule scales every unit by the keep "
            "probability 1 - rate, since training saw only that fraction of them": h,
        }
        for wrong, expected in ((wrong_train, expected_train), (wrong_test, expected_test)):
            for key in [key for key, v in wrong.items() if v is None or np.allclose(v, expected)]:
                del wrong[key]          # a "wrong" answer that equals the right one here tells nothing
        cases.append((f"{label}, training=True", (h_in, keep, rate, True, expected_train, wrong_train)))
        cases.append((f"{label}, training=False", (h_in, keep, rate, False, expected_test, wrong_test)))

    def judge(fn, case):
        h, keep, rate, training, expected, wrong = case
        got, error = call_on_copies(fn, h, keep, rate, training)
        if error:
            return error
        return _judge_array(got, expected, wrong)

    if inverted:
        hint = ("training: h * keep / (1 - rate), the kept units scaled up by 1 / (1 - rate); inference: h "
                "itself (no mask, no scaling)")
    else:
        hint = ("training: h * keep (no scaling); inference: every unit, scaled by the keep probability: "
                "h * (1 - rate)")
    return check_cases(name, fn, cases, judge, hint=hint)


# --------------------------------------------------------------------------- Exercises 6.1, 6.2


def dropout(fn):
    """Exercise 6.1: inverted dropout ``fn(h, keep, rate, training)`` on a given mask."""
    return _dropout_check("Exercise 6.1 dropout", fn, inverted=True)


def original_dropout(fn):
    """Exercise 6.2: the original rule ``fn(h, keep, rate, training)``: mask only while training,
    every unit scaled by the keep probability at test time."""
    return _dropout_check("Exercise 6.2 original_dropout", fn, inverted=False)


# --------------------------------------------------------------------------- Exercise 6.3

SIZES = [784, 1024, 1024, 10]


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class _Probe:
    """Runs a model on images (N, 28, 28) in training or inference mode and returns its output and,
    for each dense layer in the order the data goes through them, (W, b, input, output) as float64
    NumPy. Keras: through a model of the layers' own inputs and outputs (Sequential and functional
    models); PyTorch: through forward hooks, so subclassed modules work too."""

    def __init__(self, model, kind):
        self.model, self.kind = model, kind
        if kind == "keras":
            import keras

            self.dense = [layer for layer in _keras_layers(model) if isinstance(layer, keras.layers.Dense)]
            try:
                outputs = [t for layer in self.dense for t in (layer.input, layer.output)]
                self.inner = keras.Model(model.inputs, [model.outputs[0], *outputs])
            except Exception:  # noqa: BLE001 - a subclassed model: outputs only
                self.inner = None

    def __call__(self, x, training):
        if self.kind == "keras":
            return self._keras(x, training)
        return self._torch(x, training)

    def _keras(self, x, training):
        if self.inner is None:
            out = to_numpy(self.model(x[..., None], training=training)).astype(np.float64)
            layers = [(*[to_numpy(v).astype(np.float64) for v in layer.get_weights()[:2]], None, None)
                      for layer in self.dense]
            return out, layers
        # the input as a list, as model.inputs is one (a bare tensor makes Keras warn)
        values = [to_numpy(v).astype(np.float64) for v in self.inner([x[..., None]], training=training)]
        out, rest = values[0], values[1:]
        layers = []
        for k, layer in enumerate(self.dense):
            params = [to_numpy(v).astype(np.float64) for v in layer.get_weights()]
            layers.append((params[0], params[1] if len(params) > 1 else None,
                           rest[2 * k].reshape(len(x), -1), rest[2 * k + 1]))
        return out, layers

    def _torch(self, x, training):
        import torch

        params = list(self.model.parameters())
        where = params[0].device if params else "cpu"
        calls = []

        def hook(module, inputs, output):
            calls.append((module, inputs[0].detach(), output.detach()))

        handles = [m.register_forward_hook(hook) for m in self.model.modules() if isinstance(m, torch.nn.Linear)]
        was_training = self.model.training
        self.model.train(training)
        try:
            with torch.no_grad():
                out = self.model(torch.from_numpy(x[:, None]).to(where))
        finally:
            self.model.train(was_training)
            for h in handles:
                h.remove()
        layers = [(to_numpy(m.weight).T.astype(np.float64),
                   None if m.bias is None else to_numpy(m.bias).astype(np.float64),
                   to_numpy(i).astype(np.float64).reshape(len(x), -1), to_numpy(o).astype(np.float64))
                  for m, i, o in calls]
        return to_numpy(out).astype(np.float64), layers


def _keras_layers(model):
    """Every layer of a Keras model, nested models opened, in the model's order."""
    out = []
    for layer in model.layers:
        out.extend(_keras_layers(layer) if hasattr(layer, "layers") else [layer])
    return out


def _judge_dropout(probe, x, rate, kind):
    """None when, in training mode, the model drops a share `rate` of each hidden layer's units (and
    nothing else) and scales the kept ones by 1 / (1 - rate); else what differs."""
    out, layers = probe(x, training=True)
    if layers[0][2] is None:                 # a Keras model the probe cannot open: outputs only
        again, _ = probe(x, training=True)
        if rate > 0 and np.allclose(out, again):
            return "in training mode two passes over the same images gave the same output: is dropout active?"
        if rate == 0 and not np.allclose(out, again):
            return "with rate 0 two passes in training mode should give the same output, but they differ"
        return None
    if not np.allclose(layers[0][2], x.reshape(len(x), -1), atol=1e-6):
        return "in training mode the pixels are changed before the first dense layer: the spec drops hidden units only"
    for k in (1, 2):
        pre = np.maximum(layers[k - 1][3], 0.0)           # hidden layer k's ReLU output
        got = layers[k][2]                                # what the next dense layer received
        on = pre > 1e-3
        kept = on & (np.abs(got) > 1e-9)
        dropped = 1 - kept.sum() / max(on.sum(), 1)
        if rate == 0:
            if not np.allclose(got, pre, rtol=1e-4, atol=1e-5):
                return f"make_mlp(0.0) should drop nothing, but hidden layer {k}'s units are changed in training mode"
            continue
        if abs(dropped - rate) > 0.06:
            if dropped < 0.02:
                return f"no unit of hidden layer {k} is dropped in training mode: put Dropout(rate) after it"
            if abs(dropped - (1 - rate)) < 0.06:
                return (f"hidden layer {k} drops {dropped:.0%} of its units, expected {rate:.0%}: the layer's argument "
                        "is the rate of units DROPPED, not kept")
            return f"hidden layer {k} drops {dropped:.0%} of its units in training mode, expected {rate:.0%}"
        scale = float(np.median(got[kept] / pre[kept]))
        if not np.isclose(scale, 1 / (1 - rate), rtol=0.01):
            return (f"hidden layer {k}'s kept units are multiplied by {scale:.3g} in training mode, expected "
                    f"1 / (1 - rate) = {1 / (1 - rate):.3g} (use the framework's dropout layer)")
    scores = layers[2][2] @ layers[2][0] + layers[2][1]
    final = _softmax(scores) if kind == "keras" else scores
    if not np.allclose(out, final, rtol=1e-3, atol=1e-5):
        return "in training mode the output is changed after the output layer: dropout belongs after the HIDDEN layers"
    return None


def _judge_mlp(model, rate):
    kind = framework_of(model)
    if kind is None:
        return (f"expected a Keras model or a torch.nn.Module, got {type(model).__name__}"
                + (": did the function forget to `return` the model?" if model is None else ""))
    x = np.random.default_rng(7).random((16, 28, 28)).astype(np.float32)
    try:
        probe = _Probe(model, kind)
        out, layers = probe(x, training=False)
    except Exception as e:  # noqa: BLE001 - a broken model is reported, not raised
        shape = "(16, 28, 28, 1)" if kind == "keras" else "(16, 1, 28, 28)"
        text = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        return (f"running the model on a batch of 16 images {shape} raised {type(e).__name__}: {text}\n"
                "   The model takes the images and flattens them itself (its first layer).")
    sizes = [layers[0][0].shape[0]] + [w.shape[1] for w, *_ in layers] if layers else []
    if sizes != SIZES:
        return (f"expected dense layers {' -> '.join(map(str, SIZES))}, got "
                f"{' -> '.join(map(str, sizes)) or 'no dense layer'}")
    if any(b is None for _, b, *_ in layers):
        return "every dense layer needs a bias"
    for k, (w, b, *_) in enumerate(layers, 1):          # the start: Glorot-uniform weights, zero biases
        limit = np.sqrt(6.0 / (w.shape[0] + w.shape[1]))
        std = float(np.std(w))
        if np.abs(w).max() > limit * (1 + 1e-6) or not 0.9 < std * np.sqrt(3) / limit < 1.1:
            how = ("kernel_initializer='glorot_uniform'" if kind == "keras"
                   else "nn.init.xavier_uniform_(layer.weight)")
            return (f"the weights of dense layer {k} are not Glorot-uniform: expected uniform in "
                    f"±{limit:.4f} (standard deviation {limit / np.sqrt(3):.4f}), got standard deviation "
                    f"{std:.4f}, largest |w| {np.abs(w).max():.4f} ({how})"
                    + ("; and the biases must start at zero" if np.any(b != 0) else ""))
        if np.any(b != 0):
            return (f"the biases of dense layer {k} do not start at zero (" +
                    ("bias_initializer='zeros'" if kind == "keras" else "nn.init.zeros_(layer.bias)") + ")")
    if out.shape != (16, 10):
        return f"expected an output of shape (16, 10) for 16 images, got {out.shape}"
    h = x.reshape(len(x), -1).astype(np.float64)       # what it computes, with its own weights, in inference mode
    for w, b, *_ in layers[:-1]:
        h = np.maximum(h @ w + b, 0.0)
    scores = h @ layers[-1][0] + layers[-1][1]
    probs = _softmax(scores)
    mode = "inference mode" if kind == "keras" else "eval mode"
    if kind == "keras":
        if not np.allclose(out, probs, rtol=1e-3, atol=1e-5):
            if np.allclose(out, scores, rtol=1e-3, atol=1e-4):
                return "the output layer gives scores, not probabilities: give it activation='softmax'"
            return (f"in {mode} the output is not that of a 784-1024-1024-10 ReLU network with a softmax output "
                    "(an activation missing, or dropout active at inference?)")
    elif not np.allclose(_softmax(out), probs, rtol=1e-3, atol=1e-5):
        if np.allclose(out, probs, rtol=1e-3, atol=1e-4):
            return "the model ends with a softmax: leave it out (F.cross_entropy applies it to the scores)"
        return (f"in {mode} the output is not that of a 784-1024-1024-10 ReLU network (an activation missing, "
                "or dropout active in eval mode?)")
    try:
        return _judge_dropout(probe, x, rate, kind)
    except Exception as e:  # noqa: BLE001
        return f"running the model in training mode raised {type(e).__name__}: {e}"


def make_mlp(fn):
    """Exercise 6.3: ``make_mlp(rate)`` builds 784-1024-1024-10 with dropout of ``rate`` after each
    hidden layer, Glorot-uniform weights and zero biases. Judged by what it computes: in inference
    mode with its own weights against a reference, in training mode by the share of each hidden
    layer's units that reach the next layer and their scale."""
    name = "Exercise 6.3 make_mlp"
    hint = ("Flatten, then Dense 1024 ReLU, Dropout(rate), Dense 1024 ReLU, Dropout(rate), Dense 10; every "
            "dense layer Glorot-uniform with zero biases")

    def judge(fn, rate):
        model, error = call(fn, rate)
        return error or _judge_mlp(model, rate)

    return check_cases(name, fn, [(f"make_mlp({r})", r) for r in (0.5, 0.2, 0.0)], judge, hint=hint)


# --------------------------------------------------------------------------- Exercise 6.4


class _StandIn:
    """A stand-in for a network with dropout on: each call returns the next of a fixed list of
    probability tables, and counts the calls."""

    def __init__(self, tables, x):
        self.tables, self.x, self.calls = tables, x, 0

    def __call__(self, x):
        if np.shape(x) != np.shape(self.x):
            raise ValueError(f"predict expects the whole batch x of shape {np.shape(self.x)}, got {np.shape(x)}")
        table = self.tables[self.calls % len(self.tables)]
        self.calls += 1
        return table.copy()


def _mc_tables(n_images, n_classes, n_tables, seed):
    rng = np.random.default_rng(seed)
    return [_softmax(rng.normal(0, 2.0, (n_images, n_classes))) for _ in range(n_tables)]


def mc_predict(fn):
    """Exercise 6.4: ``mc_predict(predict, x, n_samples)``: the mean of ``n_samples`` passes of
    ``predict(x)`` (class probabilities with dropout on)."""
    name = "Exercise 6.4 mc_predict"
    cases = [("3 passes over 4 images, 3 classes", 4, 3, 3, 3, 0),
             ("10 passes over 5 images, 10 classes", 5, 10, 10, 10, 1),
             ("1 pass", 2, 4, 5, 1, 2),
             ("7 passes over 6 images (a table list longer than n_samples)", 6, 5, 9, 7, 3)]

    def judge(fn, case):
        n_images, n_classes, n_tables, n, seed = case
        tables = _mc_tables(n_images, n_classes, n_tables, seed)
        x = np.zeros((n_images, 3))
        predict = _StandIn(tables, x)
        got, error = call(fn, predict, x, n)
        if error:
            return error
        if predict.calls != n:
            return (f"predict was called {predict.calls} time{'s' if predict.calls != 1 else ''} for "
                    f"n_samples={n}: call it exactly n_samples times, each call is one thinned network")
        used = np.stack(tables[:n])
        expected = used.mean(axis=0)
        votes = np.stack([np.eye(n_classes)[t.argmax(1)] for t in tables[:n]]).mean(axis=0)
        geo = np.exp(np.log(used).mean(axis=0))
        wrong = {
            "the votes (argmax of each pass) were averaged; average the probabilities themselves": votes,
            "only the last pass was returned: add up all the passes, then divide by n_samples": tables[n - 1],
            "only the first pass was returned: add up all the passes, then divide by n_samples": tables[0],
            "the passes were summed but not divided by n_samples": used.sum(axis=0),
            "the geometric mean was taken: Monte-Carlo dropout averages the probabilities (the "
            "arithmetic mean)": geo,
            "the geometric mean was taken and renormalised: Monte-Carlo dropout averages the "
            "probabilities (the arithmetic mean)": geo / geo.sum(axis=1, keepdims=True),
        }
        wrong = {k: v for k, v in wrong.items() if not np.allclose(v, expected)}
        if np.ndim(to_numpy(got)) == 1 and np.shape(to_numpy(got)) == (n_images,):
            return (f"expected the averaged probabilities, shape {expected.shape}, got shape "
                    f"{np.shape(to_numpy(got))}: return the (images, classes) table, not the predicted classes")
        return _judge_array(got, expected, wrong, rtol=1e-5, atol=1e-7)

    hint = "call predict(x) n_samples times and return the mean of the probability tables (axis 0 of the stack)"
    return check_cases(name, fn, [(label, case) for label, *case in cases], judge, hint=hint)


# --------------------------------------------------------------------------- Exercise 6.5


def _l2_cases():
    rng = np.random.default_rng(65)
    small = [(np.array([[1.0, -2.0], [3.0, 0.5]]), np.array([10.0, -10.0]))]
    two = [(rng.normal(size=(4, 3)), rng.normal(size=3)), (rng.normal(size=(3, 2)), rng.normal(size=2))]
    three = [(rng.normal(0, 0.1, size=(6, 5)).astype(np.float32), np.full(5, 0.5, dtype=np.float32)),
             (rng.normal(0, 0.1, size=(5, 5)).astype(np.float32), np.zeros(5, dtype=np.float32)),
             (rng.normal(0, 0.1, size=(5, 2)).astype(np.float32), np.ones(2, dtype=np.float32))]
    return [("one layer, lambda 0.1", small, 0.1), ("two layers, lambda 0.01", two, 0.01),
            ("three float32 layers, lambda 0.001", three, 0.001), ("lambda 0", two, 0.0)]


def l2_penalty(fn):
    """Exercise 6.5: ``l2_penalty(layers, lam)`` = lam * (sum of the squared WEIGHTS of every layer)."""
    name = "Exercise 6.5 l2_penalty"

    def judge(fn, case):
        layers, lam = case
        got, error = call_on_copies(fn, layers, lam)
        if error:
            return error
        sq_w = sum(float(np.sum(np.asarray(w, dtype=float) ** 2)) for w, _ in layers)
        sq_b = sum(float(np.sum(np.asarray(b, dtype=float) ** 2)) for _, b in layers)
        expected = lam * sq_w
        wrong = {
            "the biases were penalised too: the term sums the squared WEIGHTS only (biases are few and "
            "shrinking them does not make the network simpler)": lam * (sq_w + sq_b),
            "the term was halved: the workshop's loss adds lam * sum(W**2), with no 1/2 (Keras's L2(lam) "
            "too)": lam * sq_w / 2,
            "lambda is missing: multiply the sum of squares by lam": sq_w,
            "the norm was taken (square root of the sum of squares); the penalty uses the sum of squares "
            "itself": lam * np.sqrt(sq_w),
            "the absolute values were summed (that is the L1 penalty); L2 sums the squares": lam * sum(
                float(np.sum(np.abs(np.asarray(w, dtype=float)))) for w, _ in layers),
            "the mean of the squares was taken; the penalty is their sum": lam * sum(
                float(np.mean(np.asarray(w, dtype=float) ** 2)) for w, _ in layers),
        }
        wrong = {k: v for k, v in wrong.items() if not np.isclose(v, expected)}
        return _judge_array(got, np.float64(expected), wrong, rtol=1e-5, atol=1e-9)

    cases = [(label, (layers, lam)) for label, layers, lam in _l2_cases()]
    return check_cases(name, fn, cases, judge,
                       hint="lam * sum over the layers of np.sum(W ** 2); each layer is a (W, b) pair, and "
                            "b is left out")


def l2_grad(fn):
    """Exercise 6.5: ``l2_grad(W, lam)``, the gradient of lam * sum(W**2) with respect to W."""
    name = "Exercise 6.5 l2_grad"
    rng = np.random.default_rng(66)
    cases = [("a 2x2 weight matrix, lambda 0.1", np.array([[1.0, -2.0], [3.0, 0.5]]), 0.1),
             ("a 4x3 matrix, lambda 0.01", rng.normal(size=(4, 3)), 0.01),
             ("float32, lambda 0.001", rng.normal(0, 0.1, size=(5, 5)).astype(np.float32), 0.001)]

    def judge(fn, case):
        w, lam = case
        got, error = call_on_copies(fn, w, lam)
        if error:
            return error
        wd = np.asarray(w, dtype=float)
        expected = 2 * lam * wd
        wrong = {
            "the factor 2 is missing: the derivative of lam * w**2 is 2 * lam * w (lam * w is the "
            "gradient of (lam / 2) * w**2, the other common convention)": lam * wd,
            "lambda is missing: the gradient is 2 * lam * W": 2 * wd,
            "the penalty itself was returned, not its gradient": lam * wd ** 2,
            "the sign is flipped: the gradient points away from zero, 2 * lam * W; the step, minus the "
            "gradient, pulls the weight towards zero": -2 * lam * wd,
        }
        return _judge_array(got, expected, wrong, rtol=1e-5, atol=1e-9)

    return check_cases(name, fn, [(label, (w, lam)) for label, w, lam in cases], judge,
                       hint="d/dW of lam * sum(W**2) is 2 * lam * W, an array shaped like W")


# --------------------------------------------------------------------------- Exercise 6.6


def _early_stopping(losses, patience, strict=True):
    """(best_epoch, stop_epoch), 1-based, with Keras's rules: an epoch improves when its loss is
    strictly lower than the best so far; training stops once `patience` epochs in a row have not.
    ``strict=False`` counts a tie as an improvement (a common slip)."""
    best, best_epoch, wait = np.inf, 0, 0
    for epoch, loss in enumerate(losses, 1):
        wait += 1
        if loss < best or (not strict and loss == best):
            best, best_epoch, wait = loss, epoch, 0
            continue
        if wait >= patience:
            return best_epoch, epoch
    return best_epoch, len(losses)


ES_CASES = [
    ("validation loss turns up at epoch 4", [0.50, 0.40, 0.30, 0.35, 0.36, 0.37, 0.20, 0.10], 3),
    ("a late minimum that a stopped run never reaches", [1.0, 0.8, 0.9, 0.95, 0.7], 2),
    ("still improving at the last epoch", [0.9, 0.7, 0.6, 0.55, 0.5], 2),
    ("patience longer than the run", [0.4, 0.3, 0.35, 0.38, 0.39], 5),
    ("a tie is not an improvement", [0.5, 0.3, 0.3, 0.3, 0.3, 0.2], 2),
    ("patience 1", [0.6, 0.5, 0.55, 0.4, 0.3], 1),
    ("a dip, then a longer climb", [0.8, 0.6, 0.62, 0.58, 0.61, 0.63, 0.64, 0.65, 0.5], 3),
]


def early_stopping(fn):
    """Exercise 6.6: ``early_stopping(val_losses, patience)`` -> (epoch whose weights to keep,
    epoch at which training stops), epochs counted from 1."""
    name = "Exercise 6.6 early_stopping"

    def judge(fn, case):
        losses, patience = case
        got, error = call_on_copies(fn, list(losses), patience)
        if error:
            return error
        best, stop = _early_stopping(losses, patience)
        try:
            pair = tuple(int(v) for v in got)
            if len(pair) != 2 or any(float(a) != b for a, b in zip(got, pair)):
                raise ValueError
        except (TypeError, ValueError):
            return f"expected a pair of whole numbers (best_epoch, stop_epoch), got {got!r}"
        if pair == (best, stop):
            return None
        problem = f"expected (best_epoch, stop_epoch) = ({best}, {stop}), got {pair}"
        n = len(losses)
        slips = [
            (_early_stopping(losses, patience, strict=False),
             "a tie counted as an improvement: an epoch improves only if its loss is strictly lower than the best"),
            ((best - 1, stop - 1), "the epochs were counted from 0: count them from 1, as Keras prints them"),
            ((stop, stop), "the last epoch's weights were kept: keep the BEST epoch's (restore_best_weights), the "
                           "last ones have already started to over-fit"),
            ((int(np.argmin(losses)) + 1, stop), "the best epoch was taken over the whole list, but training "
                                                 "stops before it reaches that epoch: only the epochs up to the "
                                                 "stop count"),
            ((best, n), f"training should stop once {patience} epoch(s) in a row have not improved on the best"),
            ((int(np.argmin(losses)) + 1, n), f"training should stop once {patience} epoch(s) in a row have not "
                                              "improved on the best, and keep the best epoch up to there"),
            ((best, stop + 1), "the run stopped one epoch too late: stop at the epoch where the patience runs out"),
            ((best, stop - 1), "the run stopped one epoch too early: it may go `patience` epochs without improving"),
        ]
        why = next((text for answer, text in slips if answer == pair and answer != (best, stop)), None)
        return problem + (f"\n   It looks like {why}." if why else "")

    hint = ("walk through the epochs keeping the best loss so far and how many epochs have passed since it "
            "improved; stop when that count reaches `patience`; return (best epoch, stop epoch), from 1")
    return check_cases(name, fn, [(label, (losses, p)) for label, losses, p in ES_CASES], judge, hint=hint)
