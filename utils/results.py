"""Record the few metrics a lab reports, for the runner to collect.

``record("test_accuracy", 0.925)`` prints the value and, when the runner has set
``$DLLABS_RESULTS`` to a file, appends it there as one JSON line.
"""
import json
import math
import os

ENV = "DLLABS_RESULTS"


def record(name: str, value, quiet: bool = False):
    """Record one metric (a number or a short string); prints it unless ``quiet``."""
    if hasattr(value, "item"):          # NumPy, torch and TF scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        value = str(value)
    path = os.environ.get(ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"name": name, "value": value}) + "\n")
    if not quiet:
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"[result] {name} = {shown}")


def read(path) -> dict:
    """The metrics in a results file (later values win)."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                item = json.loads(line)
                out[item["name"]] = item["value"]
    return out
