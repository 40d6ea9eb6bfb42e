"""The lab runner: execute labs headless, check their results, write a report.

    python -m utils.run                      # every lab, default profile (fast on CPU, full on GPU)
    python -m utils.run 01 04 --profile smoke
    python -m utils.run 02_mlp_pytorch -p EPOCHS 3
    python -m utils.run --list               # the labs and their expected results

Each lab runs with papermill in its own kernel, from ``labs_solutions/``, under the
chosen profile (``$DLLABS_PROFILE`` in the kernel) and within a time limit (per profile,
``--time-limit`` or ``time_limit_s`` in targets.toml). The lab records its metrics with
``utils.results.record``; the runner checks them against the lab's targets for that
profile (``labs_solutions/targets.toml``, validated when loaded: its header documents the
form), prints one table (lab, version, device, seconds, metrics, verdict), writes it to
``build/report.md`` and exits non-zero when any lab fails (FAIL), runs past its time limit
(TIMEOUT), misses a target (MISSED) or fails one of its own exercise checks (CHECK FAILED).
Ctrl-C stops the run: the report lists what finished and marks the lab it stopped
(INTERRUPTED); the exit code is then 130. Executed notebooks land in ``build/executed/``;
``--inplace`` writes the outputs back into ``labs_solutions/`` (how the committed outputs
are made).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import profile as profile_mod
from . import results

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "labs_solutions"
BUILD = ROOT / "build"
TARGETS = LABS / "targets.toml"
VERSIONS = ("keras", "pytorch", "numpy")


@dataclass
class Outcome:
    lab: str
    profile: str
    seconds: float = 0.0
    device: str = "-"
    metrics: dict = field(default_factory=dict)
    verdict: str = "PASS"
    problems: list = field(default_factory=list)

    @property
    def topic(self):
        head, _, tail = self.lab.rpartition("_")
        return head if tail in VERSIONS else self.lab

    @property
    def version(self):
        tail = self.lab.rpartition("_")[2]
        return tail if tail in VERSIONS else "-"


def find_labs(patterns=(), folder: Path = LABS) -> list[Path]:
    """Notebooks in ``folder`` whose name contains any of ``patterns`` (all when empty)."""
    labs = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if patterns:
        chosen = [p for p in labs if any(pat.removesuffix(".ipynb") in p.stem for pat in patterns)]
        missing = [pat for pat in patterns if not any(pat.removesuffix(".ipynb") in p.stem for p in labs)]
        if missing:
            raise SystemExit(f"no lab matches {', '.join(missing)}; labs: "
                             f"{', '.join(p.stem for p in labs)}")
        return chosen
    return labs


class TargetsError(ValueError):
    """``targets.toml`` is missing or says something the runner cannot use; the message names
    the file and the entry."""


# What ``targets.toml`` may say (its header documents the same):
#   metric = { full = 0.92, fast = 0.90 }                  a fraction in [0, 1] with a minimum per profile
#   metric = { min = { fast = 0.01 }, max = { fast = 0.5 }, range = [-1, 1] }
#                                                          a minimum and/or a maximum per profile, and the
#                                                          range of values the metric can take (default [0, 1])
#   time_limit_s = { full = 7200 }                         this lab's time limit per profile (seconds)
DEFAULT_RANGE = (0.0, 1.0)
TIME_LIMIT_KEY = "time_limit_s"
DEFAULT_TIME_LIMIT_S = {"smoke": 900, "fast": 1800, "full": 4 * 3600}   # a hang detector, not a speed goal


@dataclass(frozen=True)
class Target:
    """What one metric must be under one profile."""
    metric: str
    minimum: float | None = None
    maximum: float | None = None
    range: tuple = DEFAULT_RANGE

    def describe(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"{self.minimum} <= {self.metric} <= {self.maximum}"
        if self.maximum is not None:
            return f"{self.metric} <= {self.maximum}"
        return f"{self.metric} >= {self.minimum}"

    def problem(self, recorded: dict) -> str | None:
        """Why the recorded value misses this target, or None when it meets it."""
        if self.metric not in recorded:
            return f"{self.metric} was not recorded (expected {self.describe()})"
        value = recorded[self.metric]
        bad = _not_a_number(value)
        if bad:
            return f"{self.metric}: recorded {bad}, expected a number with {self.describe()}"
        lo, hi = self.range
        if not lo <= value <= hi:
            hint = " (a percentage? record a fraction)" if self.range == DEFAULT_RANGE and 1 < value <= 100 else ""
            return (f"{self.metric} = {_fmt(value)} is outside its range [{lo:g}, {hi:g}]{hint}, "
                    f"expected {self.describe()}")
        if self.minimum is not None and value < self.minimum:
            return f"{self.metric} = {_fmt(value)}, expected >= {self.minimum}"
        if self.maximum is not None and value > self.maximum:
            return f"{self.metric} = {_fmt(value)}, expected <= {self.maximum}"
        return None


def _not_a_number(value) -> str | None:
    """How to describe ``value`` when it is not a finite real number, else None."""
    if isinstance(value, bool):
        return f"{value} (a bool)"
    if isinstance(value, str):
        if value.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
            return value.strip().lower()             # results.record stores nan/inf as text
        return f"the text {value!r}"
    if not isinstance(value, (int, float)):
        return f"{value!r} ({type(value).__name__})"
    if not math.isfinite(value):
        return str(value)
    return None


def _check_profiles(where: str, table, path: Path, what: str) -> dict:
    if not isinstance(table, dict):
        raise TargetsError(f"{path}: {where}: expected a table of profiles such as "
                           f"{{ fast = ... }}, got {table!r}")
    for prof, value in table.items():
        if prof not in profile_mod.PROFILES:
            raise TargetsError(f"{path}: {where}: unknown profile {prof!r} "
                               f"(profiles: {', '.join(profile_mod.PROFILES)})")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
            raise TargetsError(f"{path}: {where}.{prof}: {what} must be a number, got {value!r}")
    return dict(table)


def _parse_metric(lab: str, metric: str, spec, path: Path) -> dict:
    where = f"[{lab}] {metric}"
    if not isinstance(spec, dict):
        raise TargetsError(f"{path}: {where} = {spec!r}: expected a table such as "
                           f"{{ fast = 0.9 }} (a minimum per profile)")
    if not set(spec) & {"min", "max", "range"}:                  # short form: minimum per profile
        return {"min": _check_profiles(where, spec, path, "a minimum"), "max": {}, "range": DEFAULT_RANGE}
    unknown = set(spec) - {"min", "max", "range"}
    if unknown:
        raise TargetsError(f"{path}: {where}: unknown key(s) {', '.join(sorted(unknown))}; the long form "
                           f"takes min, max and range (profiles go inside min and max)")
    rng = spec.get("range", list(DEFAULT_RANGE))
    if (not isinstance(rng, list) or len(rng) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rng)
            or not rng[0] <= rng[1]):
        raise TargetsError(f"{path}: {where}.range = {rng!r}: expected [low, high] with low <= high "
                           f"(inf and -inf allowed)")
    parsed = {"min": _check_profiles(f"{where}.min", spec.get("min", {}), path, "a minimum"),
              "max": _check_profiles(f"{where}.max", spec.get("max", {}), path, "a maximum"),
              "range": (float(rng[0]), float(rng[1]))}
    if not parsed["min"] and not parsed["max"]:
        raise TargetsError(f"{path}: {where}: give a min or a max for at least one profile")
    return parsed


def load_targets(path: Path = TARGETS, labs=None) -> dict:
    """Read and validate ``targets.toml`` (see :func:`parse_targets_text`); a missing file is an error."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise TargetsError(f"{path} does not exist: the runner needs it (it may be empty; "
                           f"see CONTRIBUTING.md, Results)") from None
    except UnicodeDecodeError as e:
        raise TargetsError(f"{path}: not UTF-8 text ({e})") from None
    return parse_targets_text(text, labs, path)


def parse_targets_text(text: str, labs=None, path="targets.toml") -> dict:
    """Validate the text of a targets file: {lab: {"metrics": {metric: {"min": {profile: v},
    "max": {profile: v}, "range": (lo, hi)}}, "time_limit_s": {profile: seconds}}}.

    ``labs`` (names) are the labs that exist: a target for any other is an error. Every
    problem raises :class:`TargetsError` naming the file (``path``) and the entry."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TargetsError(f"{path}: not valid TOML: {e}") from None
    known = set(labs) if labs is not None else None
    targets = {}
    for lab, metrics in raw.items():
        if known is not None and lab not in known:
            raise TargetsError(f"{path}: [{lab}] is not a lab in {path.parent} "
                               f"(labs: {', '.join(sorted(known)) or 'none'})")
        if not isinstance(metrics, dict):
            raise TargetsError(f"{path}: {lab} = {metrics!r}: expected a table [{lab}] of metrics")
        entry = {"metrics": {}, "time_limit_s": {}}
        for metric, spec in metrics.items():
            if metric == TIME_LIMIT_KEY:
                limits = _check_profiles(f"[{lab}] {metric}", spec, path, "a time limit in seconds")
                if any(v <= 0 for v in limits.values()):
                    raise TargetsError(f"{path}: [{lab}] {metric}: a time limit must be above 0 s")
                entry["time_limit_s"] = limits
                continue
            parsed = _parse_metric(lab, metric, spec, path)
            lo, hi = parsed["range"]
            for kind in ("min", "max"):
                for prof, bound in parsed[kind].items():
                    if not lo <= bound <= hi:
                        hint = ""
                        if (lo, hi) == DEFAULT_RANGE and "range" not in spec:
                            hint = ("; a fraction is written 0.9, not 90, and a metric that is not a fraction "
                                    "declares its range, e.g. range = [0, inf]")
                        raise TargetsError(f"{path}: [{lab}] {metric}: {kind} {bound} for {prof} is outside "
                                           f"the metric's range [{lo:g}, {hi:g}]{hint}")
            for prof in set(parsed["min"]) & set(parsed["max"]):
                if parsed["min"][prof] > parsed["max"][prof]:
                    raise TargetsError(f"{path}: [{lab}] {metric}: min {parsed['min'][prof]} is above "
                                       f"max {parsed['max'][prof]} for {prof}")
            entry["metrics"][metric] = parsed
        targets[lab] = entry
    return targets


def expected(lab: str, profile: str, targets: dict) -> list[Target]:
    """The targets ``lab`` must meet under ``profile``."""
    out = []
    for metric, spec in targets.get(lab, {}).get("metrics", {}).items():
        lo, hi = spec["min"].get(profile), spec["max"].get(profile)
        if lo is not None or hi is not None:
            out.append(Target(metric, lo, hi, spec["range"]))
    return out


def time_limit(lab: str, profile: str, targets: dict, override: float | None = None) -> float:
    """Seconds ``lab`` may run under ``profile``: the command line's, else targets.toml's, else the default."""
    if override is not None:
        return float(override)
    return float(targets.get(lab, {}).get("time_limit_s", {}).get(profile, DEFAULT_TIME_LIMIT_S[profile]))


def metrics_of(recorded: dict) -> dict:
    """The lab's own metrics: what it recorded, less the device and the exercise verdicts."""
    return {k: v for k, v in recorded.items() if k != "device" and not k.startswith("check: ")}


def judge(outcome: Outcome, recorded: dict, targets: dict) -> Outcome:
    """Fill in metrics and the verdict from what the lab recorded."""
    outcome.device = str(recorded.get("device", "cpu"))
    outcome.metrics = metrics_of(recorded)
    failed = [k[len("check: "):] for k, v in recorded.items() if k.startswith("check: ") and v != "pass"]
    if failed:
        outcome.verdict = "CHECK FAILED"
        outcome.problems.append("exercise checks did not pass: " + ", ".join(failed))
    for target in expected(outcome.lab, outcome.profile, targets):
        problem = target.problem(outcome.metrics)
        if problem:
            outcome.verdict = "MISSED"
            outcome.problems.append(problem)
    return outcome


def clean_for_commit(nb) -> None:
    """Drop papermill's bookkeeping so a written-back notebook diffs cleanly."""
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            # A progress-bar widget's state is not saved with the notebook: its stored text would
            # show the bar at 0% forever, so it is dropped (the lines printed per epoch stay).
            cell.outputs = [out for out in cell.get("outputs", [])
                            if "application/vnd.jupyter.widget-view+json" not in out.get("data", {})]
    nb.metadata.pop("widgets", None)


CELL_MARK = "[dllabs cell]"


def notebook_to_script(path: Path, parameters: dict | None = None, marks: bool = False) -> str:
    """A notebook's code cells as one Python script (IPython magics and shell lines commented
    out), with ``parameters`` assigned right after the cell tagged ``parameters``. With
    ``marks``, each cell first prints ``[dllabs cell] N``, so a log shows where a run stopped."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    parts = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        lines = [f"# {line}" if line.lstrip().startswith(("%", "!")) else line for line in src.split("\n")]
        mark = f"print({CELL_MARK + ' ' + str(i)!r}, flush=True)\n" if marks else ""
        parts.append(f"# ---- cell {i}\n" + mark + "\n".join(lines))
        if "parameters" in cell.get("metadata", {}).get("tags", []) and parameters:
            parts.append("# ---- injected parameters\n" +
                         "\n".join(f"{k} = {v!r}" for k, v in parameters.items()))
    return "\n\n".join(parts) + "\n"


def _cell_text(path: Path, index: int | None) -> str:
    """'cell N (`its first line`)' for the notebook's cell at ``index``."""
    if index is None:
        return "a cell"
    try:
        src = json.loads(path.read_text(encoding="utf-8"))["cells"][index]["source"]
        src = "".join(src) if isinstance(src, list) else src
        first = next((line.strip() for line in src.splitlines() if line.strip()), "")
    except (OSError, ValueError, IndexError, KeyError):
        first = ""
    first = first if len(first) <= 60 else first[:57] + "..."
    return f"cell {index}" + (f" (`{first}`)" if first else "")


class LabTimeout(Exception):
    """A lab ran past its time limit; the message names the cell and the times."""


class _Clock:
    """Tracks which cell runs and how much of the lab's time limit is left (papermill engine)."""

    def __init__(self, path: Path, limit: float):
        self.path, self.limit, self.start = path, limit, time.monotonic()
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        self.sources = [("".join(c["source"]) if isinstance(c["source"], list) else c["source"]) for c in cells]
        self.ids = [c.get("id") for c in cells]
        self.cell, self.cell_start = None, None

    def timeout_for(self, cell) -> float:
        """nbclient's ``timeout_func``: the seconds this cell may run (what is left of the limit)."""
        self.cell_start = time.monotonic()
        cid = cell.get("id")
        self.cell = next((i for i, c in enumerate(self.ids) if cid and c == cid), None)
        if self.cell is None:
            self.cell = next((i for i, src in enumerate(self.sources) if src == cell.get("source")), None)
        return max(0.5, self.limit - (self.cell_start - self.start))

    def out_of_time(self) -> bool:
        return time.monotonic() - self.start >= self.limit - 0.01

    def where(self, at_limit: bool = False) -> str:
        end = min(time.monotonic(), self.start + self.limit) if at_limit else time.monotonic()
        ran = max(0.0, end - (self.cell_start or self.start))
        return f"{_cell_text(self.path, self.cell)}, which had run {ran:.0f} s"


def _last_cell_in_log(log: Path) -> int | None:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    marks = [line for line in lines if line.startswith(CELL_MARK)]
    return int(marks[-1].split()[-1]) if marks else None


def _run_as_script(path: Path, out_dir: Path, parameters: dict, limit: float | None) -> None:
    """Run a lab as a plain Python script (where no Jupyter kernel is installed)."""
    script = out_dir / f"{path.stem}.py"
    log = out_dir / f"{path.stem}.log"
    script.write_text(notebook_to_script(path, parameters, marks=True), encoding="utf-8")
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    with open(log, "w", encoding="utf-8") as f:
        try:
            done = subprocess.run([sys.executable, str(script)], cwd=path.parent, env=env, stdout=f,
                                  stderr=subprocess.STDOUT, timeout=limit)
        except subprocess.TimeoutExpired:
            raise LabTimeout(f"stopped at the lab's time limit of {limit:.0f} s in "
                             f"{_cell_text(path, _last_cell_in_log(log))} (log: {log})") from None
    if done.returncode != 0:
        lines = [line for line in log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
                 if not line.startswith(CELL_MARK)]
        where = _cell_text(path, _last_cell_in_log(log))
        raise RuntimeError(f"exit code {done.returncode} in {where}: {(lines or ['(no output)'])[-1]} (log: {log})")


def _ipc_kernel_manager():
    """A kernel manager whose kernel talks over local IPC sockets in a private temporary folder
    instead of TCP on localhost: nothing listens on the network, and the kernel does not print
    its "running over TCP without encryption" warning into the runner's output."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"
            self.ip = str(Path(tempfile.mkdtemp(prefix="dllabs-kernel-")) / "kernel")

    return IPCKernelManager


def run_lab(path: Path, profile: str, parameters: dict, targets: dict, out_dir: Path,
            inplace: bool = False, limit: float | None = None, progress: bool = True,
            engine: str = "papermill") -> Outcome:
    """Run one lab and judge it. ``limit``: seconds the whole lab may run (None: its time limit
    for ``profile``). Ctrl-C gives an outcome with the verdict INTERRUPTED."""
    outcome = Outcome(path.stem, profile)
    limit = time_limit(path.stem, profile, targets) if limit is None else limit
    out_dir = Path(out_dir).resolve()             # the kernel runs in the lab's folder
    out_dir.mkdir(parents=True, exist_ok=True)
    out_path = out_dir / path.name
    results_path = out_dir / f"{path.stem}.results.jsonl"
    results_path.unlink(missing_ok=True)
    env_before = {k: os.environ.get(k) for k in (profile_mod.ENV, results.ENV)}
    os.environ[profile_mod.ENV] = profile
    os.environ[results.ENV] = str(results_path)
    start = time.perf_counter()
    clock = _Clock(path, limit)
    try:
        if engine == "script":
            _run_as_script(path, out_dir, parameters, limit)
        else:
            import papermill
            from nbclient.exceptions import CellTimeoutError

            try:
                # At the limit nbclient interrupts the kernel and ends the cell with this error at
                # once (it does not wait for a cell that ignores the interrupt).
                papermill.execute_notebook(str(path), str(out_path), parameters=parameters or None,
                                           cwd=str(path.parent), kernel_name="python3",
                                           kernel_manager_class=_ipc_kernel_manager(),
                                           progress_bar=progress, timeout_func=clock.timeout_for,
                                           interrupt_on_timeout=True,
                                           error_on_timeout={"ename": "TimeLimit", "traceback": [],
                                                             "evalue": f"the lab's time limit of {limit:.0f} s"})
            except (CellTimeoutError, papermill.PapermillExecutionError) as e:
                ename = getattr(e, "ename", "")     # the kernel's own KeyboardInterrupt may come first
                if (isinstance(e, CellTimeoutError) or ename == "TimeLimit"
                        or (ename == "KeyboardInterrupt" and clock.out_of_time())):
                    raise LabTimeout(f"stopped at the lab's time limit of {limit:.0f} s in "
                                     f"{clock.where(at_limit=True)}") from None
                raise
    except KeyboardInterrupt:
        outcome.verdict = "INTERRUPTED"
        if engine == "script":
            where = f" in {_cell_text(path, _last_cell_in_log(out_dir / f'{path.stem}.log'))}"
        else:
            where = f" in {clock.where()}" if clock.cell is not None else ""
        outcome.problems.append(f"interrupted (Ctrl-C) after {time.perf_counter() - start:.0f} s{where}")
    except LabTimeout as e:
        outcome.verdict = "TIMEOUT"
        outcome.problems.append(str(e))
    except Exception as e:  # noqa: BLE001 - any failure is reported in the table
        outcome.verdict = "FAIL"
        outcome.problems.append(_describe_error(e))
    finally:
        outcome.seconds = time.perf_counter() - start
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    recorded, bad_lines = results.parse(results_path)
    if bad_lines and outcome.verdict == "PASS":
        outcome.verdict = "FAIL"
    outcome.problems += [f"results file {results_path.name}: {p}" for p in bad_lines]
    if outcome.verdict != "PASS":        # keep what it recorded before it broke
        outcome.device = str(recorded.get("device", "-"))
        outcome.metrics = metrics_of(recorded)
    else:
        judge(outcome, recorded, targets)
    if inplace and outcome.verdict == "PASS" and engine == "papermill":
        import nbformat

        nb = nbformat.read(out_path, as_version=4)
        clean_for_commit(nb)
        nbformat.write(nb, path)
    return outcome


def _describe_error(e: Exception) -> str:
    name = type(e).__name__
    ename, evalue = getattr(e, "ename", None), getattr(e, "evalue", None)
    if ename:
        cell = getattr(e, "exec_count", None)
        return f"{ename}: {evalue}" + (f" (cell [{cell}])" if cell else "")
    return f"{name}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def table(outcomes: list[Outcome]) -> str:
    rows = [("lab", "version", "device", "seconds", "metrics", "verdict")]
    for o in outcomes:
        metrics = ", ".join(f"{k} {_fmt(v)}" for k, v in o.metrics.items()) or "-"
        rows.append((o.topic, o.version, o.device, f"{o.seconds:.0f}", metrics, o.verdict))
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("---" for _ in rows[0]) + "|")
    return "\n".join(lines)


def machine() -> str:
    gpu = "no NVIDIA GPU"
    if shutil.which("nvidia-smi"):
        try:
            gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20).stdout.strip() or gpu
        except (OSError, subprocess.SubprocessError):
            pass
    return f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, {gpu}), Python {platform.python_version()}"


def report(outcomes: list[Outcome], profile: str, total_s: float, not_run=()) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    ok = sum(o.verdict == "PASS" for o in outcomes)
    parts = [f"# Lab report ({profile} profile)", "",
             f"{when} on {machine()}; {ok} of {len(outcomes)} labs passed in {total_s:.0f} s.", ""]
    if any(o.verdict == "INTERRUPTED" for o in outcomes):
        parts += ["**Stopped by Ctrl-C**" + (f": not run: {', '.join(not_run)}." if not_run else "."), ""]
    parts += [table(outcomes), ""]
    problems = [(o.lab, p) for o in outcomes for p in o.problems]
    if problems:
        parts += ["## Problems", ""] + [f"- **{lab}**: {p}" for lab, p in problems] + [""]
    parts += ["Executed notebooks are in `executed/` beside this report. Expected results: "
              "`labs_solutions/targets.toml`.", ""]
    return "\n".join(parts)


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m utils.run", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("labs", nargs="*", help="lab names or parts of them (01, keras, 04_cnn); all when empty")
    ap.add_argument("--profile", choices=profile_mod.PROFILES, default=None,
                    help="full, fast or smoke (default: $DLLABS_PROFILE, else full on a GPU, fast on a CPU)")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="override a parameters-cell value in every chosen lab, e.g. -p EPOCHS 2")
    ap.add_argument("--inplace", action="store_true",
                    help="write each passing lab's outputs back into labs_solutions/")
    ap.add_argument("--time-limit", "--timeout", dest="time_limit", type=float, default=None, metavar="SECONDS",
                    help="seconds each lab may run (default: its time_limit_s in targets.toml, else "
                         + ", ".join(f"{p} {s} s" for p, s in DEFAULT_TIME_LIMIT_S.items()) + ")")
    ap.add_argument("--report", type=Path, default=BUILD / "report.md")
    ap.add_argument("--labs-dir", type=Path, default=LABS, help=argparse.SUPPRESS)
    ap.add_argument("--list", action="store_true", help="list the labs and their expected results")
    ap.add_argument("--quiet", action="store_true", help="no per-cell progress bar")
    ap.add_argument("--engine", choices=("papermill", "script"), default="papermill",
                    help="papermill (default) or script: run each lab's code cells as a plain Python "
                         "script, where no Jupyter kernel is installed")
    args = ap.parse_args(argv)
    if args.time_limit is not None and args.time_limit <= 0:
        ap.error("--time-limit must be above 0 seconds")

    profile = args.profile or profile_mod.name()
    all_labs = find_labs((), args.labs_dir)
    try:
        targets = load_targets(args.labs_dir / "targets.toml", labs=[p.stem for p in all_labs])
    except TargetsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    labs = find_labs(args.labs, args.labs_dir)
    if args.list:
        for lab in labs:
            exp = {p: expected(lab.stem, p, targets) for p in profile_mod.PROFILES}
            shown = "; ".join(f"{p}: " + ", ".join(t.describe() for t in e) for p, e in exp.items() if e)
            print(f"{lab.stem:40s} {shown or 'runs end to end, checks pass'}")
        return 0

    parameters = {name: _parse_value(value) for name, value in args.parameter}
    report_path = args.report.resolve()
    print(f"Running {len(labs)} lab(s) under the {profile} profile on {machine()}", flush=True)
    outcomes, start = [], time.perf_counter()
    try:
        for lab in labs:
            print(f"\n== {lab.stem} ==", flush=True)
            o = run_lab(lab, profile, parameters, targets, report_path.parent / "executed", args.inplace,
                        args.time_limit, progress=not args.quiet, engine=args.engine)
            print(f"   {o.verdict} in {o.seconds:.0f} s" + "".join(f"\n   - {p}" for p in o.problems), flush=True)
            outcomes.append(o)
            if o.verdict == "INTERRUPTED":
                break
    except KeyboardInterrupt:            # between two labs
        if not outcomes or outcomes[-1].lab != lab.stem:
            outcomes.append(Outcome(lab.stem, profile, verdict="INTERRUPTED", problems=["interrupted (Ctrl-C)"]))
        else:
            outcomes[-1].verdict = "INTERRUPTED"
    interrupted = any(o.verdict == "INTERRUPTED" for o in outcomes)
    not_run = [p.stem for p in labs[len(outcomes):]]
    text = report(outcomes, profile, time.perf_counter() - start, not_run)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(text, encoding="utf-8")
    print("\n" + text)
    print(f"Report written to {args.report}")
    if interrupted:
        return 130                       # the shell's code for a run stopped by Ctrl-C (SIGINT)
    return 0 if all(o.verdict == "PASS" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
