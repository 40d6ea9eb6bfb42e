"""What the time-to-accuracy benchmarks share: the clock and its test-set probe, the child
processes (one per run: TensorFlow and PyTorch must never share one) and the report.

A benchmark's child process runs a lab's own training and calls :meth:`Clock.evaluate` (or
:meth:`Clock.after_step`, which evaluates every ``eval_every`` epochs) from a hook it adds to the
lab's code; it prints one line ``RESULT {json}`` that :func:`run_child` picks up in the parent.
"""
from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

RESULT = "RESULT "
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Stop(Exception):
    """Raised by a probe hooked into a training loop that has no other way to stop early."""


def percent(target: float) -> str:
    """0.9 -> '90%', 0.925 -> '92.5%'."""
    return f"{target:.1%}".replace(".0%", "%")


class Clock:
    """Wall time since the start of training, the test accuracy along the way, and the share of
    the time spent evaluating. The evaluations count in the wall time, as they would in a real run.

    ``budget_seconds``: training stops at the first evaluation past it. ``stop_when_hit``: stop as
    soon as every target is reached (else at the end of the lab's epochs)."""

    def __init__(self, framework, targets, budget_seconds, eval_every=0.2, steps_per_epoch=None,
                 stop_when_hit=False):
        self.framework, self.targets = framework, sorted(targets)
        self.budget_seconds, self.stop_when_hit = budget_seconds, stop_when_hit
        self.steps_per_epoch = steps_per_epoch
        self.eval_every = max(1, round(eval_every * steps_per_epoch)) if steps_per_epoch else None
        self.evals, self.eval_seconds, self.step = [], 0.0, 0
        self.start = time.perf_counter()

    def start_now(self):
        self.start = time.perf_counter()

    def elapsed(self):
        return time.perf_counter() - self.start

    def out_of_budget(self) -> bool:
        return self.elapsed() >= self.budget_seconds

    def evaluate(self, evaluate, epochs) -> bool:
        """Evaluate the test set now (``evaluate()`` returns its accuracy), at ``epochs`` epochs of
        training; True when training should stop (the budget is spent, or every target is hit and
        the clock was asked to stop then)."""
        t = time.perf_counter()
        acc = float(evaluate())
        self.eval_seconds += time.perf_counter() - t
        self.evals.append({"seconds": round(self.elapsed(), 2), "epochs": round(epochs, 3), "accuracy": acc})
        print(f"  [{self.framework}] {epochs:5.2f} epochs {self.elapsed():6.1f} s  test accuracy {acc:.4f}",
              flush=True)
        return self.out_of_budget() or (self.stop_when_hit and acc >= self.targets[-1])

    def after_step(self, evaluate, last_step) -> bool:
        """Count a training step; evaluate every ``eval_every`` epochs, at ``last_step`` and when the
        budget is spent; True when training should stop."""
        self.step += 1
        out = self.out_of_budget()
        if self.step % self.eval_every == 0 or out or self.step == last_step:
            out = self.evaluate(evaluate, self.step / self.steps_per_epoch) or out
        return out

    def hit(self, target):
        """The first evaluation at or above ``target``, or None."""
        return next((e for e in self.evals if e["accuracy"] >= target), None)

    def result(self, **extra):
        if not self.evals:
            raise RuntimeError(f"[{self.framework}] training ended before the first evaluation")
        last = self.evals[-1]
        train_s = last["seconds"] - self.eval_seconds
        hits = {}
        for target in self.targets:
            e = self.hit(target)
            hits[repr(target)] = e and {"seconds": e["seconds"], "epochs": e["epochs"]}
        return {"framework": self.framework, "targets": self.targets, "hits": hits,
                "final_accuracy": last["accuracy"], "final_seconds": last["seconds"],
                "final_epochs": last["epochs"], "eval_seconds": round(self.eval_seconds, 2),
                "seconds_per_epoch": round(train_s / last["epochs"], 2) if last["epochs"] else None,
                "evals": self.evals, **extra}


def keras_threads(threads=None):
    """Keras with its CPU threads: ``(keras, threads in use)``. On TensorFlow, ``threads`` (if given)
    sizes the intra-op pool; on other backends it is left to them and the count is None."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    if keras.backend.backend() != "tensorflow":
        return keras, None
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    return keras, tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()


def run_child(command, framework) -> dict | None:
    """Run one framework in a fresh Python process (``command``, from the repository's root); pass
    its progress through, return its result."""
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    result = None
    for line in proc.stdout:
        if line.startswith(RESULT):
            result = json.loads(line[len(RESULT):])
        else:
            print(line, end="", flush=True)
    if proc.wait() != 0:
        print(f"  [{framework}] failed with exit code {proc.returncode}", flush=True)
        return None
    return result


def child_main(run, args) -> int:
    """The child's side: run one framework, print its result for :func:`run_child`."""
    result = run(args)
    print(RESULT + json.dumps(result), flush=True)
    return 0


def drive(frameworks, runs, command, heading) -> list:
    """The parent's side: every framework ``runs`` times, each in a fresh process made by
    ``command(framework)``; prints the machine and its load before and after."""
    load = os.getloadavg()
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    print(heading, flush=True)
    results = []
    for fw in frameworks:
        for i in range(runs):
            print(f"\n{fw}, run {i + 1} of {runs}:", flush=True)
            r = run_child(command(fw), fw)
            if r:
                results.append(r)
    load = os.getloadavg()
    print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n", flush=True)
    return results


def median_seconds(hits):
    """The median of seconds-to-target, where a run that missed (None) counts as slower than any
    that hit: when most runs missed, the median is None ("not hit")."""
    med = statistics.median([math.inf if h is None else h for h in hits])
    return None if math.isinf(med) else med


def report(results, targets, frameworks, recipe_keys=None) -> str:
    """The table: every run and the median per framework, one column pair per target."""
    targets = sorted(targets)
    head = f"{'framework':10s} {'run':>6s}"
    for t in targets:
        head += f" {'s to ' + percent(t):>9s} {'epochs':>7s}"
    head += f" {'final acc':>10s} {'after s':>8s} {'epochs':>7s} {'s/epoch':>8s}"
    lines = [head, "-" * len(head)]
    for fw in frameworks:
        runs = [r for r in results if r["framework"] == fw]
        if not runs:
            continue
        for i, r in enumerate(runs, 1):
            line = f"{fw:10s} {i:>6d}"
            for t in targets:
                hit = r["hits"].get(repr(t))
                line += (f" {hit['seconds']:9.1f} {hit['epochs']:7.2f}" if hit else f" {'not hit':>9s} {'-':>7s}")
            line += (f" {r['final_accuracy']:10.4f} {r['final_seconds']:8.1f} {r['final_epochs']:7.2f}"
                     f" {r['seconds_per_epoch'] or float('nan'):8.1f}")
            lines.append(line)
        line, missed = f"{fw:10s} {'median':>6s}", []
        for t in targets:
            hits = [(r["hits"].get(repr(t)) or {}).get("seconds") for r in runs]
            med = median_seconds(hits)
            line += f" {(f'{med:.1f}' if med is not None else 'not hit'):>9s} {'':>7s}"
            if any(h is None for h in hits):
                missed.append(f"{sum(h is None for h in hits)} of {len(runs)} runs missed {percent(t)}")
        line += f" {statistics.median([r['final_accuracy'] for r in runs]):10.4f}"
        lines.append(line + (f"   ({'; '.join(missed)})" if missed else ""))
        recipe = runs[0]["recipe"]
        lines.append(f"{'':10s} {runs[0]['version']}, {runs[0]['threads']} threads; the lab's recipe: "
                     + ", ".join(f"{k} {v}" for k, v in recipe.items() if recipe_keys is None or k in recipe_keys))
    return "\n".join(lines)


def python_command(module, framework, options) -> list[str]:
    """``python -m module --child --framework F options...`` with this interpreter."""
    return [sys.executable, "-m", module, "--child", "--framework", framework, *map(str, options)]
