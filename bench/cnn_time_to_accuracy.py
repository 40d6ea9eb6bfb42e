"""Time to accuracy: Lab 04's CNN on Fashion-MNIST, on the CPU, in Keras and in PyTorch.

    .venv/bin/python -m bench.cnn_time_to_accuracy                        # both frameworks, 3 runs each
    .venv/bin/python -m bench.cnn_time_to_accuracy --framework pytorch --runs 1

The model, the data split and the training recipe are the lab's own: the benchmark takes
``make_cnn``, ``split``, ``train_model`` and ``predict`` and the parameters cell (``fast``
profile) from ``labs_solutions/04_cnn_<framework>.ipynb`` (bench/lab_code.py) and calls them,
so a change to the lab changes what is timed. It only adds a probe after each training step that
evaluates the test set every ``--eval-every`` epochs (0.2 by default: the reported time does not
jump with which half-epoch the accuracy crosses the target) and stops at ``--budget-seconds``.

For each framework it prints, per run and as the median of the runs (``--runs``, 3 by default):

- the wall-clock seconds from the start of training until the test accuracy first reaches the
  target (90%); the evaluations count, as they would in a real run;
- the test accuracy when training stops (the end of the lab's epochs, or the budget).

Each run is a fresh Python process: TensorFlow and PyTorch must not share one. It is a script to
run by hand on a quiet machine, not a test; the figures measured so far are in bench/README.md.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

from bench import probe

FRAMEWORKS = ("keras", "pytorch")
NAMES = ["split", "fashion", "fashion_train", "make_cnn", "train_model", "predict"]


def _recipe(ns) -> dict:
    return {k: ns[k] for k in ("EPOCHS", "BATCH_SIZE", "LEARNING_RATE", "DROPOUT", "VAL_SIZE", "SEED")}


# --------------------------------------------------------------------------- PyTorch

def run_pytorch(args) -> dict:
    import types

    import torch

    from bench import lab_code
    from utils import train

    if args.threads:
        torch.set_num_threads(args.threads)
    shim = types.SimpleNamespace(**{k: getattr(train, k) for k in dir(train) if not k.startswith("_")})
    ns = lab_code.load("04_cnn_pytorch", NAMES + ["torch_dev"], namespace={"train": shim})
    x_test, y_test = ns["fashion"].x_test, ns["fashion"].y_test
    ns["device"].seed_everything(ns["SEED"])
    model = ns["make_cnn"]()
    steps_per_epoch = math.ceil(len(ns["fashion_train"][0]) / ns["BATCH_SIZE"])
    clock = probe.Clock("pytorch", [args.target], args.budget_seconds, args.eval_every, steps_per_epoch)

    def evaluate():
        accuracy = float(np.mean(ns["predict"](model, x_test) == y_test))
        model.train()                          # predict() left the model in inference mode
        return accuracy

    def fit(*a, **kw):                          # the lab's train.fit, with the probe after each step
        return train.fit(*a, **kw, progress=False,
                         on_batch_end=lambda step: clock.after_step(evaluate, ns["EPOCHS"] * steps_per_epoch))

    shim.fit = fit
    clock.start_now()
    ns["train_model"](model, ns["fashion_train"], ns["fashion_val"], ns["EPOCHS"])
    return clock.result(version=f"torch {torch.__version__}", threads=torch.get_num_threads(),
                        recipe=_recipe(ns))


# --------------------------------------------------------------------------- Keras

def run_keras(args) -> dict:
    from bench import lab_code

    keras, threads = probe.keras_threads(args.threads)
    ns = lab_code.load("04_cnn_keras", NAMES)
    x_test, y_test = ns["fashion"].x_test, ns["fashion"].y_test
    keras.utils.set_random_seed(ns["SEED"])
    model = ns["make_cnn"]()
    steps_per_epoch = math.ceil(len(ns["fashion_train"][0]) / ns["BATCH_SIZE"])
    clock = probe.Clock("keras", [args.target], args.budget_seconds, args.eval_every, steps_per_epoch)
    last_step = ns["EPOCHS"] * steps_per_epoch

    class Probe(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if clock.after_step(lambda: np.mean(ns["predict"](model, x_test) == y_test), last_step):
                self.model.stop_training = True

    lab_fit = model.fit

    def fit(*a, callbacks=(), **kw):            # the lab's model.fit call, with the probe added
        return lab_fit(*a, callbacks=[*callbacks, Probe()], **kw)

    model.fit = fit
    clock.start_now()
    ns["train_model"](model, ns["fashion_train"], ns["fashion_val"], ns["EPOCHS"], verbose=False)
    return clock.result(version=f"keras {keras.__version__} ({keras.backend.backend()})", threads=threads,
                        recipe=_recipe(ns))


# --------------------------------------------------------------------------- driver

def child_command(framework, args) -> list[str]:
    options = ["--budget-seconds", args.budget_seconds, "--target", args.target, "--eval-every", args.eval_every]
    if args.threads:
        options += ["--threads", args.threads]
    return probe.python_command("bench.cnn_time_to_accuracy", framework, options)


def report(results, args) -> str:
    return probe.report(results, [args.target], FRAMEWORKS)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cnn_time_to_accuracy",
                                 description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--framework", choices=(*FRAMEWORKS, "both"), default="both")
    ap.add_argument("--runs", type=int, default=3, help="runs per framework; the median is reported (default 3)")
    ap.add_argument("--budget-seconds", type=float, default=90.0,
                    help="stop a run after this many seconds of training (default 90)")
    ap.add_argument("--target", type=float, default=0.90, help="test accuracy to reach (default 0.90)")
    ap.add_argument("--eval-every", type=float, default=0.2,
                    help="evaluate the test set every this many epochs (default 0.2)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: the framework's choice)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")       # the benchmark is about the CPU
        return probe.child_main(run_pytorch if args.framework == "pytorch" else run_keras, args)

    frameworks = FRAMEWORKS if args.framework == "both" else (args.framework,)
    results = probe.drive(
        frameworks, args.runs, lambda fw: child_command(fw, args),
        f"the recipe of labs_solutions/04_cnn_*.ipynb (fast profile); budget {args.budget_seconds:.0f} s a run; "
        f"test set every {args.eval_every} epochs; {args.runs} run(s) per framework")
    if results:
        print(report(results, args))
    return 0 if len(results) == len(frameworks) * args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
