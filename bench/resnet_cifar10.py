"""Time to accuracy: Lab 08's ResNet on CIFAR-10, in Keras and in PyTorch, on the CPU or a GPU.

    .venv/bin/python -m bench.resnet_cifar10                         # both frameworks, 3 runs each
    .venv/bin/python -m bench.resnet_cifar10 --framework pytorch --runs 1
    .venv/bin/python -m bench.resnet_cifar10 --targets 0.90 0.92 0.94 --profile full

The model, the data and the training recipe are the lab's own: the benchmark takes the
definitions (``make_net``, the blocks, ``build``, ``train``, ``predict``...), the CIFAR-10 tensors
and the parameters cell from ``labs_solutions/08_resnet_<framework>.ipynb`` (bench/lab_code.py),
then runs the lab's own training statement (``model = build(...)``, ``history = train(...)``).
So a change to the lab's network, augmentation, schedule or label smoothing changes what is
timed, and a renamed function fails the benchmark with a message.

The profile is the lab's: ``fast`` on a CPU (ResNet-8 for a few epochs), ``full`` where a CUDA GPU
is visible (ResNet-18, mixed precision, channels-last in PyTorch); ``--profile`` chooses. The
targets are 60% on a CPU and 90%, 92% and 94% on a GPU (``--targets``).

The only thing added to the lab's training is a probe that evaluates the 10,000 test images every
``--eval-every`` epochs (0.2 by default), in place of the lab's own evaluation after each epoch:
in PyTorch by asking the lab's ``train`` for more evaluations (its ``EVALS_PER_EPOCH`` parameter)
and timing the lab's ``evaluate`` as it calls it; in Keras by a callback added to the lab's
``fit`` call. A run stops when the highest target is reached, at the end of the lab's epochs or
at the first evaluation past ``--budget-seconds``.

For each framework it prints, per run and as the median of the runs (``--runs``, 3 by default),
the wall-clock seconds from the start of training (the call of the lab's ``train``: building the
optimizer and compiling count) until the test accuracy first reaches each target, evaluations
included as they would be in a real run; a run that missed a target counts as slower than any
that hit it. Each run is a fresh Python process: TensorFlow and PyTorch must not share one. It is
a script to run by hand, not a test; bench/README.md gives the figures measured so far.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

from bench import probe

FRAMEWORKS = ("keras", "pytorch")
LABS = {"keras": "08_resnet_keras", "pytorch": "08_resnet_pytorch"}
# What the benchmark takes from each lab: definitions and data first, then the training statement.
DEFINITIONS = {
    "pytorch": ["torch_dev", "PlainBlock", "shortcut", "ResidualBlock", "make_net", "init_weights", "build",
                "one_cycle", "train", "predict", "evaluate", "cifar", "layout", "x_train", "y_train", "x_test",
                "y_test"],
    "keras": ["bn", "plain_block", "shortcut", "residual_block", "make_net", "all_layers", "init_weights",
              "build", "train", "predict", "cifar", "x_train", "y_train", "x_test", "y_test"],
}
TRAINING = ["model", "history"]          # model = build(DEPTH, ...); history = train(model, x_train, ...)
RECIPE = ("DEPTH", "WIDTHS", "EPOCHS", "TRAIN_SIZE", "BATCH_SIZE", "LEARNING_RATE", "WEIGHT_DECAY",
          "LABEL_SMOOTHING", "MIXED_PRECISION", "CHANNELS_LAST", "SEED")
CPU_TARGETS, GPU_TARGETS = (0.60,), (0.90, 0.92, 0.94)


def gpu_visible() -> bool:
    from utils import profile

    return profile._gpu_visible()


def _recipe(ns) -> dict:
    return {k: ns[k] for k in RECIPE if k in ns}


def _clock(framework, args, steps_per_epoch=None):
    return probe.Clock(framework, args.targets, args.budget_seconds, args.eval_every, steps_per_epoch,
                       stop_when_hit=True)


# --------------------------------------------------------------------------- PyTorch

def run_pytorch(args) -> dict:
    import torch

    from bench import lab_code

    if args.threads:
        torch.set_num_threads(args.threads)
    lab = LABS["pytorch"]
    evals_per_epoch = max(1, round(1 / args.eval_every))
    parameters = {"EVALS_PER_EPOCH": evals_per_epoch}
    ns = lab_code.load(lab, DEFINITIONS["pytorch"], profile=args.profile, parameters=parameters)
    clock = _clock("pytorch", args)
    lab_train, lab_evaluate, calls = ns["train"], ns["evaluate"], []

    def evaluate(model, x, y):       # the lab's evaluate, as the lab's train calls it, EVALS_PER_EPOCH times an epoch
        calls.append(None)
        if clock.evaluate(lambda: lab_evaluate(model, x, y), len(calls) / evals_per_epoch):
            raise probe.Stop
        return clock.evals[-1]["accuracy"]

    def train(*a, **kw):             # the lab's train: the clock starts when it is called
        clock.start_now()
        return lab_train(*a, **kw)

    ns["evaluate"] = evaluate        # the name the lab's train looks up when it evaluates
    ns["device"].seed_everything(ns["SEED"])       # as the lab does before building its model
    try:
        lab_code.load(lab, TRAINING, profile=args.profile, parameters=parameters, namespace={**ns, "train": train})
    except probe.Stop:
        pass
    return clock.result(version=f"torch {torch.__version__} on {ns['torch_dev']}", threads=torch.get_num_threads(),
                        recipe=_recipe(ns))


# --------------------------------------------------------------------------- Keras

def run_keras(args) -> dict:
    import numpy as np

    from bench import lab_code

    keras, threads = probe.keras_threads(args.threads)
    lab = LABS["keras"]
    ns = lab_code.load(lab, DEFINITIONS["keras"], profile=args.profile)
    if ns["MIXED_PRECISION"]:        # the lab's cell after its parameters: layers built from now on compute in bfloat16
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    steps_per_epoch = math.ceil(len(ns["x_train"]) / ns["BATCH_SIZE"])
    last_step = ns["EPOCHS"] * steps_per_epoch
    clock = _clock("keras", args, steps_per_epoch)
    x_test, y_test = ns["x_test"], ns["y_test"]

    class Probe(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if clock.after_step(lambda: np.mean(ns["predict"](self.model, x_test) == y_test), last_step):
                self.model.stop_training = True

    lab_fit = keras.Model.fit

    def fit(self, *a, callbacks=None, **kw):   # the lab's fit call, with the probe in place of its validation
        kw.update(verbose=0, validation_data=None)
        return lab_fit(self, *a, callbacks=[*(callbacks or []), Probe()], **kw)

    keras.Model.fit = fit            # the lab fits a Sequential (augmentation + its model) made inside its train
    lab_train = ns["train"]

    def train(*a, **kw):
        clock.start_now()
        return lab_train(*a, **kw)

    lab_code.load(lab, TRAINING, profile=args.profile, namespace={**ns, "train": train})
    return clock.result(version=f"keras {keras.__version__} ({keras.backend.backend()}) on "
                                f"{ns['device'].keras_device()}", threads=threads, recipe=_recipe(ns))


# --------------------------------------------------------------------------- driver

def child_command(framework, args) -> list[str]:
    options = ["--profile", args.profile, "--budget-seconds", args.budget_seconds, "--eval-every", args.eval_every,
               "--targets", *args.targets]
    if args.threads:
        options += ["--threads", args.threads]
    return probe.python_command("bench.resnet_cifar10", framework, options)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.resnet_cifar10", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--framework", choices=(*FRAMEWORKS, "both"), default="both")
    ap.add_argument("--runs", type=int, default=3, help="runs per framework; the median is reported (default 3)")
    ap.add_argument("--profile", choices=("full", "fast", "smoke"), default=None,
                    help="the lab's profile (default: full where a CUDA GPU is visible, else fast)")
    ap.add_argument("--targets", type=float, nargs="+", default=None, metavar="ACC",
                    help="test accuracies to reach (default: 0.90 0.92 0.94 on a GPU, 0.60 on a CPU)")
    ap.add_argument("--budget-seconds", type=float, default=1200.0,
                    help="stop a run at the first evaluation after this many seconds (default 1200)")
    ap.add_argument("--eval-every", type=float, default=0.2,
                    help="evaluate the test set every this many epochs (default 0.2)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: the framework's choice)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    gpu = None
    if args.profile is None or args.targets is None:
        gpu = gpu_visible()
    args.profile = args.profile or ("full" if gpu else "fast")
    args.targets = sorted(args.targets or (GPU_TARGETS if gpu else CPU_TARGETS))
    if not all(0 < t <= 1 for t in args.targets):
        ap.error(f"--targets are accuracies in (0, 1], got {args.targets}")
    if not 0 < args.eval_every <= 1:
        ap.error(f"--eval-every is a fraction of an epoch in (0, 1], got {args.eval_every}")
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    return args


def report(results, args) -> str:
    return probe.report(results, args.targets, FRAMEWORKS)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        os.environ.setdefault("TQDM_DISABLE", "1")       # no progress bar of the lab's: the probe prints
        return probe.child_main(run_pytorch if args.framework == "pytorch" else run_keras, args)

    frameworks = FRAMEWORKS if args.framework == "both" else (args.framework,)
    results = probe.drive(
        frameworks, args.runs, lambda fw: child_command(fw, args),
        f"the recipe of labs_solutions/08_resnet_*.ipynb ({args.profile} profile); targets "
        f"{', '.join(map(probe.percent, args.targets))}; budget {args.budget_seconds:.0f} s a run; test set every "
        f"{args.eval_every} epochs; {args.runs} run(s) per framework")
    if results:
        print(report(results, args))
    return 0 if len(results) == len(frameworks) * args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
