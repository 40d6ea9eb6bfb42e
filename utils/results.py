"""Record the few metrics a lab reports, for the runner to collect.

``record("test_accuracy", 0.925)`` keeps the value and, when the runner has set
``$DLLABS_RESULTS`` to a file, appends it there as one JSON line. It prints nothing:
a lab states its results in its own words, and ``summary()`` at the end of the lab
shows what was recorded in one short table.

A metric from an incomplete run means nothing: once a notebook cell has stopped
because an exercise is not done yet (see ``utils.checks``), ``record`` keeps no
metric and says why, once.
"""
import json
import math
import os
import sys

ENV = "DLLABS_RESULTS"

_recorded = {}      # this session's metrics, in the order they were first recorded
_skipped = []       # metrics not recorded because an unfinished exercise stopped a cell


def _blocking() -> list:
    checks = sys.modules.get(f"{__package__}.checks")
    return checks.blocking() if checks is not None else []


def record(name: str, value, quiet: bool = True):
    """Record one metric (a number or a short string). ``quiet=False`` also prints it."""
    if hasattr(value, "item"):          # NumPy, torch and TF scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        value = str(value)
    if not name.startswith("check: ") and name != "device":
        blocked = _blocking()
        if blocked:
            if not _skipped:
                print(f"(Not recorded: {name}. Cells above stopped because {blocked[0]} is not done "
                      "yet, so this result would come from an incomplete run.)")
            _skipped.append(name)
            return
        _recorded[name] = value
    path = os.environ.get(ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"name": name, "value": value}) + "\n")
    if not quiet:
        print(f"{name} = {_show(value)}")


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def recorded() -> dict:
    """The metrics this session recorded (exercise verdicts and the device left out)."""
    return dict(_recorded)


def summary(title: str = "Recorded for the lab runner"):
    """Print this session's recorded metrics as one small table."""
    if not _recorded:
        print(f"{title}: nothing" + (f" ({len(_skipped)} result(s) skipped: an exercise is not done yet)."
                                     if _skipped else "."))
        return
    width = max(len(k) for k in _recorded)
    lines = [f"{title}:"] + [f"  {k:<{width}}  {_show(v)}" for k, v in _recorded.items()]
    if _skipped:
        lines.append(f"  ({len(_skipped)} more skipped: an exercise is not done yet)")
    print("\n".join(lines))


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
