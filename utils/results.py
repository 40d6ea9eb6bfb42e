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


def parse(path) -> tuple[dict, list]:
    """The metrics in a results file (later values win) and one note for each line that is not
    a record ``{"name": "...", "value": ...}`` (such a line is skipped). A missing file holds nothing."""
    out, problems = {}, []
    try:
        with open(path, "rb") as f:
            raw_lines = f.read().splitlines()
    except FileNotFoundError:
        return out, problems
    for number, raw in enumerate(raw_lines, start=1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            problems.append(f"line {number} is not UTF-8 text")
            continue
        if not line:
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"line {number} is not JSON ({e.msg}): {line[:80]!r}")
            continue
        if not (isinstance(item, dict) and isinstance(item.get("name"), str) and "value" in item):
            problems.append(f'line {number} is not a record {{"name": ..., "value": ...}}: {line[:80]!r}')
            continue
        out[item["name"]] = item["value"]
    return out, problems


class ResultsError(ValueError):
    """A results file holds lines that are not records."""


def read(path) -> dict:
    """The metrics in a results file (later values win); :class:`ResultsError` names every
    malformed line."""
    out, problems = parse(path)
    if problems:
        raise ResultsError(f"{path}: " + "; ".join(problems))
    return out
