"""Time to accuracy: Lab 04's CNN on Fashion-MNIST, on the CPU, in Keras and in PyTorch.

    .venv/bin/python -m bench.cnn_time_to_accuracy                        # both frameworks
    .venv/bin/python -m bench.cnn_time_to_accuracy --framework pytorch --budget-seconds 45

For each framework it trains the lab's CNN (the architecture of ``make_cnn`` in
``labs_solutions/04_cnn_*.ipynb``) with the recipe of the notebooks' ``fast`` profile and
prints:

- the wall-clock seconds from the start of training until the test accuracy first reaches
  the target (90%); the test set is evaluated every half epoch (``--eval-every``), and that
  evaluation time counts, as it would in a real run;
- the test accuracy when training stops: at the end of the recipe's epochs or when the time
  budget (``--budget-seconds``) runs out, whichever comes first.

Each framework runs in its own process: TensorFlow and PyTorch must not share one. It is a
script to run by hand on a quiet machine, not a test; the figures measured so far are in
bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np

# The recipe of the notebooks' fast profile (parameters cell of labs_solutions/04_cnn_*.ipynb).
EPOCHS = 2
BATCH_SIZE = 128
LEARNING_RATE = 3e-3          # peak of the one-cycle schedule
WARMUP = 0.25                 # fraction of the steps spent warming up
DROPOUT = 0.0                 # the fast profile trains without dropout
VAL_SIZE = 5_000              # held out of the training images, as in the notebooks
SEED = 0
EVAL_BATCH = 250              # small batches evaluate faster on a 2-core CPU (they stay in cache)
FRAMEWORKS = ("keras", "pytorch")
RESULT = "RESULT "


def load_data():
    """Fashion-MNIST as in the notebooks: the last 5,000 training images are held out."""
    from utils import data

    ds = data.load("fashion_mnist")
    return (ds.x_train[:-VAL_SIZE], ds.y_train[:-VAL_SIZE]), (ds.x_test, ds.y_test)


class Clock:
    """Wall time since the start of training, and the share of it spent evaluating."""

    def __init__(self, args, steps_per_epoch, framework):
        self.args, self.steps_per_epoch, self.framework = args, steps_per_epoch, framework
        self.eval_every = max(1, round(args.eval_every * steps_per_epoch))
        self.evals, self.eval_seconds, self.step = [], 0.0, 0
        self.start = time.perf_counter()

    def elapsed(self):
        return time.perf_counter() - self.start

    def out_of_time(self):
        return self.elapsed() >= self.args.budget_seconds

    def record(self, evaluate):
        t = time.perf_counter()
        acc = float(evaluate())
        self.eval_seconds += time.perf_counter() - t
        epochs = self.step / self.steps_per_epoch
        self.evals.append({"seconds": round(self.elapsed(), 2), "epochs": round(epochs, 3), "accuracy": acc})
        print(f"  [{self.framework}] {epochs:5.2f} epochs {self.elapsed():6.1f} s  test accuracy {acc:.4f}",
              flush=True)

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


# --------------------------------------------------------------------------- PyTorch

def run_pytorch(args) -> dict:
    import torch
    import torch.nn.functional as F
    from torch import nn

    from utils import data

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    (x_train, y_train), (x_test, y_test) = load_data()
    layout = torch.contiguous_format if args.channels_first else torch.channels_last
    model = nn.Sequential(                      # make_cnn() of the notebook
        nn.Conv2d(1, 32, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(DROPOUT), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
        nn.Dropout(DROPOUT), nn.Linear(128, 10),
    ).to(memory_format=layout)
    loader = data.as_torch_loader(x_train, y_train, batch_size=args.batch_size, seed=SEED)
    x_test_t = torch.from_numpy(data.scale(x_test, channels_last=False))
    y_test_t = torch.from_numpy(y_test)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, pct_start=WARMUP,
                                                    total_steps=args.epochs * len(loader),
                                                    cycle_momentum=False)   # Adam's beta1 stays 0.9, as in Keras

    def evaluate():
        model.eval()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            correct = sum((model(x_test_t[i:i + EVAL_BATCH]).argmax(1) == y_test_t[i:i + EVAL_BATCH]).sum().item()
                          for i in range(0, len(x_test_t), EVAL_BATCH))
        model.train()
        return correct / len(x_test_t)

    clock = Clock(args, len(loader), "pytorch")
    done = False
    for _ in range(args.epochs):
        for x, y in loader:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            clock.step += 1
            done = clock.out_of_time()
            if clock.step % clock.eval_every == 0 or done or clock.step == args.epochs * len(loader):
                clock.record(evaluate)
            if done:
                break
        if done:
            break
    return clock.result(version=f"torch {torch.__version__}", threads=torch.get_num_threads(),
                        layout="channels first" if args.channels_first else "channels last")


# --------------------------------------------------------------------------- Keras

def run_keras(args) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    from keras import layers

    from utils import data

    if args.threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    if args.bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(SEED)
    (x_train, y_train), (x_test, y_test) = load_data()
    x_train, x_test = data.scale(x_train), data.scale(x_test)
    model = keras.Sequential([                  # make_cnn() of the notebook
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, padding="same", use_bias=False), layers.BatchNormalization(momentum=0.9),
        layers.ReLU(), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", use_bias=False), layers.BatchNormalization(momentum=0.9),
        layers.ReLU(), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dropout(DROPOUT), layers.Dense(128, activation="relu"),
        layers.Dropout(DROPOUT), layers.Dense(10, dtype="float32"),
    ])
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    steps = args.epochs * steps_per_epoch
    warmup = int(WARMUP * steps)
    schedule = keras.optimizers.schedules.CosineDecay(args.lr / 25, decay_steps=steps - warmup,
                                                      warmup_target=args.lr, warmup_steps=warmup)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    def evaluate():
        scores = model.predict(x_test, batch_size=EVAL_BATCH, verbose=0)
        return np.mean(scores.argmax(axis=1) == y_test)

    class Probe(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            clock.step += 1
            out = clock.out_of_time()
            if clock.step % clock.eval_every == 0 or out or clock.step == steps:
                clock.record(evaluate)
            if out:
                self.model.stop_training = True

    clock = Clock(args, steps_per_epoch, "keras")
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, callbacks=[Probe()], verbose=0)
    threads = None
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    return clock.result(version=f"keras {keras.__version__} ({keras.backend.backend()})", threads=threads,
                        layout="channels last")


# --------------------------------------------------------------------------- driver

def child_command(framework, args) -> list[str]:
    cmd = [sys.executable, "-m", "bench.cnn_time_to_accuracy", "--child", "--framework", framework,
           "--budget-seconds", str(args.budget_seconds), "--epochs", str(args.epochs),
           "--target", str(args.target), "--eval-every", str(args.eval_every),
           "--batch-size", str(args.batch_size), "--lr", str(args.lr)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.bf16:
        cmd.append("--bf16")
    if args.channels_first:
        cmd.append("--channels-first")
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


def report(results, args) -> str:
    head = (f"{'framework':10s} {'version':32s} {'threads':>7s} {'s to ' + format(args.target, '.0%'):>9s} "
            f"{'epochs':>7s} {'final acc':>10s} {'after s':>8s} {'epochs':>7s} {'s/epoch':>8s}")
    lines = [head, "-" * len(head)]
    for r in results:
        hit = r["seconds_to_target"]
        lines.append(f"{r['framework']:10s} {r['version']:32s} {str(r['threads']):>7s} "
                     f"{(f'{hit:.1f}' if hit is not None else 'not hit'):>9s} "
                     f"{(format(r['epochs_to_target'], '.2f') if hit is not None else '-'):>7s} "
                     f"{r['final_accuracy']:10.4f} {r['final_seconds']:8.1f} {r['final_epochs']:7.2f} "
                     f"{r['seconds_per_epoch'] or float('nan'):8.1f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cnn_time_to_accuracy",
                                 description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--framework", choices=(*FRAMEWORKS, "both"), default="both")
    ap.add_argument("--budget-seconds", type=float, default=60.0,
                    help="stop training after this many seconds (default 60)")
    ap.add_argument("--epochs", type=int, default=EPOCHS,
                    help=f"length of the one-cycle schedule in epochs (default {EPOCHS}, the fast profile's)")
    ap.add_argument("--target", type=float, default=0.90, help="test accuracy to reach (default 0.90)")
    ap.add_argument("--eval-every", type=float, default=0.5, help="evaluate every this many epochs (default 0.5)")
    ap.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=f"default {BATCH_SIZE}, the fast profile's")
    ap.add_argument("--lr", type=float, default=LEARNING_RATE,
                    help=f"peak learning rate (default {LEARNING_RATE}, the fast profile's)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: the framework's choice)")
    ap.add_argument("--bf16", action="store_true", help="experiment: bfloat16 mixed precision on the CPU")
    ap.add_argument("--channels-first", action="store_true",
                    help="experiment: PyTorch's default NCHW memory layout instead of channels last")
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
    print(f"recipe: {args.epochs} epochs one-cycle, batch {args.batch_size}, peak lr {args.lr}, "
          f"dropout {DROPOUT}; budget {args.budget_seconds:.0f} s; test set every {args.eval_every} epochs"
          + ("; bfloat16" if args.bf16 else ""), flush=True)
    results = []
    for fw in frameworks:
        print(f"\n{fw}:", flush=True)
        r = run_child(fw, args)
        if r:
            results.append(r)
    load = os.getloadavg()
    print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    if results:
        print(report(results, args))
    ok = len(results) == len(frameworks)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
