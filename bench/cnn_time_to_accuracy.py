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
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

FRAMEWORKS = ("keras", "pytorch")
RESULT = "RESULT "
NAMES = ["split", "fashion", "fashion_train", "make_cnn", "train_model", "predict"]


class Clock:
    """Wall time since the start of training, and the share of it spent evaluating."""

    def __init__(self, args, steps_per_epoch, framework):
        self.args, self.steps_per_epoch, self.framework = args, steps_per_epoch, framework
        self.eval_every = max(1, round(args.eval_every * steps_per_epoch))
        self.evals, self.eval_seconds, self.step = [], 0.0, 0
        self.start = time.perf_counter()

    def elapsed(self):
        return time.perf_counter() - self.start

    def after_step(self, evaluate, last_step) -> bool:
        """Count a step; evaluate when due; True when the budget is spent (stop training)."""
        self.step += 1
        out = self.elapsed() >= self.args.budget_seconds
        if self.step % self.eval_every == 0 or out or self.step == last_step:
            t = time.perf_counter()
            acc = float(evaluate())
            self.eval_seconds += time.perf_counter() - t
            epochs = self.step / self.steps_per_epoch
            self.evals.append({"seconds": round(self.elapsed(), 2), "epochs": round(epochs, 3), "accuracy": acc})
            print(f"  [{self.framework}] {epochs:5.2f} epochs {self.elapsed():6.1f} s  test accuracy {acc:.4f}",
                  flush=True)
        return out

    def result(self, **extra):
        hit = next((e for e in self.evals if e["accuracy"] >= self.args.target), None)
        last = self.evals[-1]
        train_s = last["seconds"] - self.eval_seconds
        return {"framework": self.framework, "target": self.args.target,
                "seconds_to_target": hit and hit["seconds"], "epochs_to_target": hit and hit["epochs"],
                "final_accuracy": last["accuracy"], "final_seconds": last["seconds"],
                "final_epochs": last["epochs"], "eval_seconds": round(self.eval_seconds, 2),
                "seconds_per_epoch": round(train_s / last["epochs"], 2) if last["epochs"] else None,
                "evals": self.evals, **extra}


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
    clock = Clock(args, steps_per_epoch, "pytorch")

    def evaluate():
        accuracy = float(np.mean(ns["predict"](model, x_test) == y_test))
        model.train()                          # predict() left the model in inference mode
        return accuracy

    def fit(*a, **kw):                          # the lab's train.fit, with the probe after each step
        return train.fit(*a, **kw, progress=False,
                         on_batch_end=lambda step: clock.after_step(evaluate, ns["EPOCHS"] * steps_per_epoch))

    shim.fit = fit
    clock.start = time.perf_counter()
    ns["train_model"](model, ns["fashion_train"], ns["fashion_val"], ns["EPOCHS"])
    return clock.result(version=f"torch {torch.__version__}", threads=torch.get_num_threads(),
                        recipe=_recipe(ns))


# --------------------------------------------------------------------------- Keras

def run_keras(args) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from bench import lab_code

    if args.threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    ns = lab_code.load("04_cnn_keras", NAMES)
    x_test, y_test = ns["fashion"].x_test, ns["fashion"].y_test
    keras.utils.set_random_seed(ns["SEED"])
    model = ns["make_cnn"]()
    steps_per_epoch = math.ceil(len(ns["fashion_train"][0]) / ns["BATCH_SIZE"])
    clock = Clock(args, steps_per_epoch, "keras")
    last_step = ns["EPOCHS"] * steps_per_epoch

    class Probe(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if clock.after_step(lambda: np.mean(ns["predict"](model, x_test) == y_test), last_step):
                self.model.stop_training = True

    lab_fit = model.fit

    def fit(*a, callbacks=(), **kw):            # the lab's model.fit call, with the probe added
        return lab_fit(*a, callbacks=[*callbacks, Probe()], **kw)

    model.fit = fit
    clock.start = time.perf_counter()
    ns["train_model"](model, ns["fashion_train"], ns["fashion_val"], ns["EPOCHS"], verbose=False)
    threads = None
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    return clock.result(version=f"keras {keras.__version__} ({keras.backend.backend()})", threads=threads,
                        recipe=_recipe(ns))


# --------------------------------------------------------------------------- driver

def child_command(framework, args) -> list[str]:
    cmd = [sys.executable, "-m", "bench.cnn_time_to_accuracy", "--child", "--framework", framework,
           "--budget-seconds", str(args.budget_seconds), "--target", str(args.target),
           "--eval-every", str(args.eval_every)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    return cmd


def run_child(framework, args) -> dict | None:
    """Run one framework in a fresh Python process; pass its progress through, keep its result."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen(child_command(framework, args), cwd=root, stdout=subprocess.PIPE, text=True)
    result = None
    for line in proc.stdout:
        if line.startswith(RESULT):
            result = json.loads(line[len(RESULT):])
        else:
            print(line, end="", flush=True)
    if proc.wait() != 0:
        print(f"  [{framework}] failed with exit code {proc.returncode}", flush=True)
    return result


def _median(values):
    return statistics.median(values) if values else None


def report(results, args) -> str:
    head = (f"{'framework':10s} {'run':>6s} {'s to ' + format(args.target, '.0%'):>9s} {'epochs':>7s} "
            f"{'final acc':>10s} {'after s':>8s} {'epochs':>7s} {'s/epoch':>8s}")
    lines = [head, "-" * len(head)]
    for fw in FRAMEWORKS:
        runs = [r for r in results if r["framework"] == fw]
        if not runs:
            continue
        for i, r in enumerate(runs, 1):
            hit = r["seconds_to_target"]
            lines.append(f"{fw:10s} {i:>6d} {(f'{hit:.1f}' if hit is not None else 'not hit'):>9s} "
                         f"{(format(r['epochs_to_target'], '.2f') if hit is not None else '-'):>7s} "
                         f"{r['final_accuracy']:10.4f} {r['final_seconds']:8.1f} {r['final_epochs']:7.2f} "
                         f"{r['seconds_per_epoch'] or float('nan'):8.1f}")
        hits = [r["seconds_to_target"] for r in runs]
        # a run that missed the target counts as slower than any that hit it: when most runs
        # missed, the median is "not hit"
        med = statistics.median([math.inf if h is None else h for h in hits])
        med = None if math.isinf(med) else med
        missed = sum(h is None for h in hits)
        lines.append(f"{fw:10s} {'median':>6s} {(f'{med:.1f}' if med is not None else 'not hit'):>9s} "
                     f"{'':>7s} {_median([r['final_accuracy'] for r in runs]):10.4f}"
                     + (f"   ({missed} of {len(runs)} runs missed the target)" if missed else ""))
        lines.append(f"{'':10s} {runs[0]['version']}, {runs[0]['threads']} threads; the lab's recipe: "
                     + ", ".join(f"{k} {v}" for k, v in runs[0]["recipe"].items()))
    return "\n".join(lines)


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
        result = run_pytorch(args) if args.framework == "pytorch" else run_keras(args)
        print(RESULT + json.dumps(result), flush=True)
        return 0

    frameworks = FRAMEWORKS if args.framework == "both" else (args.framework,)
    load = os.getloadavg()
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    print(f"the recipe of labs_solutions/04_cnn_*.ipynb (fast profile); budget {args.budget_seconds:.0f} s a run; "
          f"test set every {args.eval_every} epochs; {args.runs} run(s) per framework", flush=True)
    results = []
    for fw in frameworks:
        for i in range(args.runs):
            print(f"\n{fw}, run {i + 1} of {args.runs}:", flush=True)
            r = run_child(fw, args)
            if r:
                results.append(r)
    load = os.getloadavg()
    print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    if results:
        print(report(results, args))
    ok = len(results) == len(frameworks) * args.runs
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
