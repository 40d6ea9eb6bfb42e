"""Checks for Lab 09 (transfer learning), shared by the Keras and PyTorch notebooks.

    checks.lab09.preprocess(preprocess)                          # Exercise 9.1
    checks.lab09.top_k(top_k)                                    # Exercise 9.2
    checks.lab09.feature_extractor(make_feature_extractor)       # Exercise 9.3 (Keras or PyTorch)
    checks.lab09.count_trainable(count_trainable)                # Exercise 9.4 (Keras or PyTorch)
    checks.lab09.freeze_batchnorm(freeze_batchnorm)              # Exercise 9.5 (Keras or PyTorch)

The model exercises are judged by what the student's code does to real models: the feature
extractor is run on images and compared with the pretrained network's own features, the
parameter counter is run on models frozen in known ways, and the batch-norm freezer is applied
to a model that is then run in training mode.
"""
import sys

import numpy as np

from . import _finish, call, check_cases, check_function, compare

MEAN, STD = 127.0, 128.0


# --------------------------------------------------------------------------- Exercise 9.1

def preprocess(fn):
    """``fn(images)``: uint8 RGB images -> float32 (x - 127) / 128, same shape."""
    rng = np.random.default_rng(9)
    edges = np.array([[[[0, 127, 255], [1, 128, 254]]]], dtype=np.uint8)          # (1, 1, 2, 3)
    batch = rng.integers(0, 256, size=(3, 5, 4, 3), dtype=np.uint8)
    single = rng.integers(0, 256, size=(6, 7, 3), dtype=np.uint8)
    cases = [(label, x) for label, x in (("the pixel values 0, 1, 127, 128, 254, 255", edges),
                                         ("a batch of 3 random 5x4 images", batch),
                                         ("one 6x7 image without a batch axis", single))]

    def judge(fn, x):
        from . import call_on_copies

        got, error = call_on_copies(fn, x)
        if error:
            return error
        expected = (x.astype(np.float32) - MEAN) / STD
        problem = compare(got, expected, rtol=0, atol=1e-6, numpy=True)
        if problem:
            g = np.asarray(got, dtype=float)
            if g.shape == expected.shape:
                if np.allclose(g, x / 255.0, atol=1e-5):
                    return problem + "\n   (that is x / 255: the 0-1 scaling of other networks, not this one's)"
                if np.allclose(g, x / 127.5 - 1, atol=1e-5):
                    return problem + "\n   (that is x / 127.5 - 1: close, but these weights expect (x - 127) / 128)"
                wrapped = ((x.astype(np.int64) - 127) % 256) / STD
                if np.allclose(g, wrapped, atol=1e-5):
                    return (problem + "\n   (the subtraction was done in uint8, where 0 - 127 wraps around to 129: "
                                      "turn the images into float32 first)")
            return problem
        if np.asarray(got).dtype != np.float32:
            return f"right values, but dtype {np.asarray(got).dtype}: the networks' weights are float32, return float32"
        return None

    return check_cases("Exercise 9.1 preprocess", fn, cases, judge,
                       hint="convert first, then scale: (images.astype(np.float32) - 127) / 128.")


# --------------------------------------------------------------------------- Exercise 9.2

def _top_k(p, k):
    return np.argsort(-np.asarray(p), axis=-1, kind="stable")[..., :k]


def top_k(fn):
    """``fn(probabilities, k)``: the indices of the k largest entries of each row, largest first."""
    rng = np.random.default_rng(90)
    small = np.array([[0.1, 0.5, 0.05, 0.3, 0.05 + 1e-3]])
    two = np.array([[0.7, 0.1, 0.2], [0.05, 0.15, 0.8]])
    logits = rng.normal(size=(4, 1000))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    cases = [((small, 3), np.array([[1, 3, 0]])), ((two, 1), np.array([[0], [2]])),
             ((two, 3), np.array([[0, 2, 1], [2, 1, 0]])), ((probs, 5), _top_k(probs, 5)),
             ((probs.astype(np.float32), 10), _top_k(probs.astype(np.float32), 10))]
    return check_function(
        "Exercise 9.2 top_k", fn, cases, atol=0,
        hint="np.argsort sorts from smallest to largest: sort -probabilities (or reverse with [:, ::-1]) along "
             "the last axis, then keep the first k columns. Return the indices, not the probabilities.")


# --------------------------------------------------------------------------- frameworks

def _framework(model):
    """"pytorch" for a torch.nn.Module, "keras" for a Keras layer or model, else None."""
    if "torch" in sys.modules and isinstance(model, sys.modules["torch"].nn.Module) and \
            not type(model).__module__.startswith("keras"):
        return "pytorch"
    if "keras" in sys.modules and isinstance(model, sys.modules["keras"].layers.Layer):
        return "keras"
    return None


def _not_a_model(got):
    return (f"expected a Keras or a PyTorch model, got {type(got).__name__}; "
            "did the function forget to `return` the model?")


def _images(n=2, size=64, seed=0):
    rng = np.random.default_rng(seed)
    return ((rng.integers(0, 256, size=(n, size, size, 3)).astype(np.float32) - MEAN) / STD)


# --------------------------------------------------------------------------- Exercise 9.3

def _torch_feature_extractor_problem(model, n_classes):
    import torch

    from .. import pretrained

    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for _, p in trainable)
    expected = 1280 * n_classes + n_classes
    if n_trainable == 0:
        return ("no parameter is trainable: the new head must be trained (replace the classifier after "
                "freezing the backbone, so that the new layer keeps requires_grad=True)")
    if n_trainable != expected:
        return (f"expected {expected:,} trainable parameters (a new Linear(1280, {n_classes})), got {n_trainable:,}"
                + (": the backbone is not frozen (set requires_grad=False on its parameters)"
                   if n_trainable > expected else ""))
    reference = pretrained.efficientnet_lite0()
    x = torch.from_numpy(_images()).permute(0, 3, 1, 2).contiguous()
    model.eval()
    with torch.no_grad():
        try:
            out = model(x)
        except Exception as e:  # noqa: BLE001 - a broken model is reported, not raised
            return f"the model failed on two 64x64 images: {type(e).__name__}: {str(e).strip()[:200]}"
        if tuple(out.shape) != (2, n_classes):
            return (f"for 2 images and {n_classes} classes the output should have shape (2, {n_classes}), "
                    f"got {tuple(out.shape)}")
        features = reference.features(x)
        weight, bias = [p for _, p in trainable] if len(trainable) == 2 else (None, None)
    if weight is None or tuple(weight.shape) != (n_classes, 1280):
        return "the trainable parameters should be those of one new Linear(1280, n_classes) layer"
    expected_out = features @ weight.T + bias
    if not torch.allclose(out, expected_out, atol=1e-3, rtol=1e-3):
        return ("the output is not the new layer applied to the pretrained network's features: is the backbone "
                "the pretrained one (pretrained.efficientnet_lite0()), unchanged, with the head replaced "
                "(model.classifier = ...)?")
    return None


def _keras_feature_extractor_problem(model, n_classes):
    import keras

    from .. import pretrained

    trainable = model.trainable_weights
    n_trainable = sum(int(np.prod(w.shape)) for w in trainable)
    expected = 1280 * n_classes + n_classes
    if n_trainable != expected:
        return (f"expected {expected:,} trainable parameters (a new Dense({n_classes}) on the 1280 features), "
                f"got {n_trainable:,}" + (": the backbone is not frozen (base.trainable = False)"
                                          if n_trainable > expected else ""))
    shape = model.input_shape
    size = shape[1] if shape[1] is not None else 64
    x = _images(size=size)
    moving_before = [keras.ops.convert_to_numpy(w) for w in model.non_trainable_weights]
    try:
        out = keras.ops.convert_to_numpy(model(x, training=False))
        model(x, training=True)
    except Exception as e:  # noqa: BLE001
        return f"the model failed on two {size}x{size} images: {type(e).__name__}: {str(e).strip()[:200]}"
    if out.shape != (2, n_classes):
        return f"for 2 images and {n_classes} classes the output should have shape (2, {n_classes}), got {out.shape}"
    moving_after = [keras.ops.convert_to_numpy(w) for w in model.non_trainable_weights]
    if any(not np.array_equal(a, b) for a, b in zip(moving_before, moving_after)):
        return ("running the model in training mode changed the backbone's batch-norm statistics: freeze the "
                "backbone (base.trainable = False) so its batch norm stays in inference mode")
    kernels = [w for w in trainable if tuple(w.shape) == (1280, n_classes)]
    biases = [w for w in trainable if tuple(w.shape) == (n_classes,)]
    if len(kernels) != 1 or len(biases) != 1:
        return "the trainable weights should be those of one new Dense(n_classes) layer on the 1280 features"
    base = pretrained.keras_efficientnet_lite0(input_shape=(size, size, 3), include_top=False, pooling="avg")
    features = keras.ops.convert_to_numpy(base(x, training=False))
    expected_out = features @ keras.ops.convert_to_numpy(kernels[0]) + keras.ops.convert_to_numpy(biases[0])
    if not np.allclose(out, expected_out, atol=1e-3, rtol=1e-3):
        return ("the output is not the new Dense layer applied to the pretrained network's pooled features: is "
                "the base pretrained.keras_efficientnet_lite0(include_top=False, pooling=\"avg\"), unchanged?")
    return None


def feature_extractor(build, n_classes=7):
    """``build(n_classes)``: the pretrained EfficientNet-Lite0, frozen, with a new trainable head."""
    name = "Exercise 9.3 feature extractor"
    if not callable(build):
        return _finish(name, f"expected a function that builds the model, got {type(build).__name__}")
    model, error = call(build, n_classes)
    if error:
        return _finish(name, error)
    kind = _framework(model)
    if kind is None:
        return _finish(name, _not_a_model(model))
    problem = (_torch_feature_extractor_problem if kind == "pytorch" else _keras_feature_extractor_problem)(
        model, n_classes)
    return _finish(name, problem and f"with n_classes={n_classes}: {problem}",
                   hint="load the pretrained network, freeze every parameter it has, then give it a new last layer "
                        "with n_classes outputs (use the argument, not 10).")


# --------------------------------------------------------------------------- Exercise 9.4

def _torch_models():
    import torch
    from torch import nn

    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3))            # 220 + 63
    frozen_first = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3))
    frozen_first[0].requires_grad_(False)
    cnn = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Sequential(nn.Conv2d(8, 4, 1), nn.BatchNorm2d(4)), nn.Flatten(), nn.LazyLinear(5))
    cnn(torch.zeros(1, 3, 6, 6))
    cnn[3].requires_grad_(False)
    all_frozen = nn.Sequential(nn.Linear(4, 4)).requires_grad_(False)
    bias_only = nn.Linear(6, 2)
    bias_only.weight.requires_grad_(False)
    models = [("an MLP, nothing frozen", mlp), ("an MLP, first layer frozen", frozen_first),
              ("a CNN with batch norm, a nested block frozen", cnn), ("everything frozen", all_frozen),
              ("a layer whose weight is frozen and bias is not", bias_only)]
    return [(label, (m, sum(p.numel() for p in m.parameters() if p.requires_grad))) for label, m in models]


def _keras_models():
    import keras
    from keras import layers

    mlp = keras.Sequential([keras.Input((10,)), layers.Dense(20, activation="relu"), layers.Dense(3)])
    frozen_first = keras.Sequential([keras.Input((10,)), layers.Dense(20, activation="relu"), layers.Dense(3)])
    frozen_first.layers[0].trainable = False
    block = keras.Sequential([keras.Input((4, 4, 8)), layers.Conv2D(4, 1), layers.BatchNormalization()],
                             name="block")
    cnn = keras.Sequential([keras.Input((6, 6, 3)), layers.Conv2D(8, 3), layers.BatchNormalization(),
                            layers.ReLU(), block, layers.Flatten(), layers.Dense(5)])
    block.trainable = False
    all_frozen = keras.Sequential([keras.Input((4,)), layers.Dense(4)])
    all_frozen.trainable = False
    bn_only = keras.Sequential([keras.Input((3, 3, 2)), layers.BatchNormalization()])
    models = [("an MLP, nothing frozen", mlp), ("an MLP, first layer frozen", frozen_first),
              ("a CNN with batch norm, a nested block frozen", cnn), ("everything frozen", all_frozen),
              ("a batch-norm layer alone (its moving averages are never trained)", bn_only)]
    return [(label, (m, sum(int(np.prod(w.shape)) for w in m.trainable_weights))) for label, m in models]


def count_trainable(fn, framework=None):
    """``fn(model)``: the number of trainable parameters (numbers, not tensors) of a model."""
    name = "Exercise 9.4 count_trainable"
    framework = framework or ("pytorch" if "torch" in sys.modules and "keras" not in sys.modules else "keras")
    cases = _torch_models() if framework == "pytorch" else _keras_models()

    def judge(fn, case):
        model, expected = case
        got, error = call(fn, model)
        if error:
            return error
        problem = compare(got, expected, atol=0)
        if problem:
            if framework == "pytorch":
                everything = sum(p.numel() for p in model.parameters())
                tensors = sum(1 for p in model.parameters() if p.requires_grad)
            else:
                everything = int(model.count_params())
                tensors = len(model.trainable_weights)
            if expected != everything and np.ndim(got) == 0 and got == everything:
                problem += " (that counts every parameter, frozen ones too)"
            elif np.ndim(got) == 0 and got == tensors and tensors != expected:
                problem += " (that counts weight tensors; add up their sizes instead)"
        return problem

    hint = ("add up p.numel() over model.parameters() whose p.requires_grad is True" if framework == "pytorch" else
            "add up the sizes (the product of the shape) of model.trainable_weights; model.count_params() also "
            "counts frozen weights and batch norm's moving averages")
    return check_cases(name, fn, cases, judge, hint=hint)


# --------------------------------------------------------------------------- Exercise 9.5

def _torch_freeze_batchnorm(fn):
    import torch
    from torch import nn

    def problem_for(nested_first):
        torch.manual_seed(0)
        inner = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
        model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), inner,
                              nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 5 * 5, 2))
        if nested_first:
            model = nn.Sequential(model)
        model.train()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
        _, error = call(fn, model)
        if error:
            return error
        bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if any(m.training for m in bns):
            return ("after the call, batch-norm layers are still in training mode"
                    + (" (the nested ones: model.children() sees only the top level, model.modules() sees all)"
                       if not all(m.training for m in bns) else "")
                    + ": they would normalise with each batch's statistics and overwrite the pretrained running "
                      "averages; call .eval() on each of them")
        if any(p.requires_grad for m in bns for p in m.parameters()):
            return "the batch-norm layers' scale and shift (weight, bias) are still trainable: freeze them too"
        others = [p for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) for p in m.parameters()]
        if not all(p.requires_grad for p in others):
            return "convolution or dense weights were frozen too: freeze only the batch-norm layers"
        if not any(m.training for m in model.modules() if isinstance(m, nn.Dropout)):
            return ("dropout is no longer in training mode: model.eval() switches every layer; put only the "
                    "batch-norm layers in eval mode")
        before = [m.running_mean.clone() for m in bns]
        x = torch.randn(8, 3, 5, 5) * 3 + 1
        model(x)
        if any(not torch.equal(b, m.running_mean) for b, m in zip(before, bns)):
            return "a forward pass in training mode still changed the running averages"
        return None

    cases = [("a CNN with a nested block, after model.train()", False),
             ("the same CNN wrapped in one more Sequential", True)]
    return check_cases("Exercise 9.5 freeze_batchnorm", fn, cases, lambda fn, nested: problem_for(nested),
                       hint="walk every layer with model.modules(); for each nn.BatchNorm2d call .eval() and "
                            "requires_grad_(False). Call it again after every model.train(), which switches "
                            "them back.")


def _keras_freeze_batchnorm(fn):
    import keras
    from keras import layers

    def problem_for(wrapped):
        keras.utils.set_random_seed(0)
        inner = keras.Sequential([keras.Input((5, 5, 4)), layers.Conv2D(4, 3, padding="same", use_bias=False),
                                  layers.BatchNormalization(), layers.ReLU()], name="inner")
        model = keras.Sequential([keras.Input((5, 5, 3)), layers.Conv2D(4, 3, padding="same", use_bias=False),
                                  layers.BatchNormalization(), layers.ReLU(), inner, layers.Flatten(),
                                  layers.Dense(2)], name="cnn")
        if wrapped:
            inputs = keras.Input((5, 5, 3))
            model = keras.Model(inputs, model(inputs), name="wrapper")
        bns = []

        def walk(layer):
            if isinstance(layer, layers.BatchNormalization):
                bns.append(layer)
            for sub in getattr(layer, "layers", []):
                walk(sub)

        walk(model)
        rng = np.random.default_rng(0)
        for bn in bns:
            bn.moving_mean.assign(rng.normal(size=4).astype("float32"))
            bn.moving_variance.assign(rng.uniform(0.5, 2.0, size=4).astype("float32"))
        _, error = call(fn, model)
        if error:
            return error
        trainable_bn = [bn for bn in bns if bn.trainable]
        if trainable_bn:
            some = len(trainable_bn) < len(bns)
            return ("after the call, batch-norm layers are still trainable"
                    + (" (the nested ones: model.layers lists only the top level; look inside layers that have "
                       "layers of their own)" if some else "")
                    + ": in training mode they would normalise with each batch's statistics and overwrite the "
                      "pretrained moving averages; set their trainable to False")
        convs = [w for w in model.weights if "kernel" in w.path]
        trainable_ids = {id(w) for w in model.trainable_weights}
        if not all(id(w) in trainable_ids for w in convs):
            return "convolution or dense weights were frozen too: freeze only the batch-norm layers"
        x = (rng.normal(size=(8, 5, 5, 3)) * 3 + 1).astype("float32")
        before = [keras.ops.convert_to_numpy(bn.moving_mean) for bn in bns]
        train_out = keras.ops.convert_to_numpy(model(x, training=True))
        infer_out = keras.ops.convert_to_numpy(model(x, training=False))
        if any(not np.array_equal(b, keras.ops.convert_to_numpy(bn.moving_mean)) for b, bn in zip(before, bns)):
            return "a forward pass in training mode still changed the moving averages"
        if not np.allclose(train_out, infer_out, atol=1e-5):
            return "in training mode the model still gives other outputs than in inference mode"
        return None

    cases = [("a CNN with a nested block", False), ("the same CNN inside another model", True)]
    return check_cases("Exercise 9.5 freeze_batchnorm", fn, cases, lambda fn, wrapped: problem_for(wrapped),
                       hint="visit every layer, and the layers inside layers that have their own .layers; set "
                            "trainable = False on each layers.BatchNormalization (a frozen batch-norm layer runs in "
                            "inference mode in Keras). Do it after making the blocks trainable, which unfreezes "
                            "everything inside them.")


def freeze_batchnorm(fn, framework=None):
    """``fn(model)``: every batch-norm layer in inference mode with its scale and shift frozen, the rest as it was."""
    framework = framework or ("pytorch" if "torch" in sys.modules and "keras" not in sys.modules else "keras")
    return (_torch_freeze_batchnorm if framework == "pytorch" else _keras_freeze_batchnorm)(fn)
