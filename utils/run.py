"""The lab runner: execute labs headless, check their results, write a report.

    python -m utils.run                      # every lab, default profile (fast on CPU, full on GPU)
    python -m utils.run 01 04 --profile smoke
    python -m utils.run 02_mlp_pytorch -p EPOCHS 3
    python -m utils.run --list               # the labs and their expected results

Each lab runs with papermill in its own kernel, from ``labs_solutions/``, under the
chosen profile (``$DLLABS_PROFILE`` in the kernel). The lab records its metrics with
``utils.results.record``; the runner compares them with the lab's expected minimum
for that profile (``labs_solutions/targets.toml``), prints one table (lab, version,
device, seconds, metrics, verdict), writes it to ``build/report.md`` and exits
non-zero when any lab fails, misses its expected result or fails one of its own
exercise checks. Executed notebooks land in ``build/executed/``; ``--inplace``
writes the outputs back into ``labs_solutions/`` (how the committed outputs are made).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
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


def load_targets(path: Path = TARGETS) -> dict:
    if not path.exists():
        return {}
    with open(path, "rb") as f:
        return tomllib.load(f)


def expected(lab: str, profile: str, targets: dict) -> dict:
    """{metric: minimum} that ``lab`` must reach under ``profile``."""
    return {metric: mins[profile] for metric, mins in targets.get(lab, {}).items()
            if isinstance(mins, dict) and mins.get(profile) is not None}


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
    for metric, minimum in expected(outcome.lab, outcome.profile, targets).items():
        value = outcome.metrics.get(metric)
        if not isinstance(value, (int, float)):
            outcome.verdict = "MISSED"
            outcome.problems.append(f"{metric} was not recorded (expected >= {minimum})")
        elif value < minimum:
            outcome.verdict = "MISSED"
            outcome.problems.append(f"{metric} = {value:.4f}, expected >= {minimum}")
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


def notebook_to_script(path: Path, parameters: dict | None = None) -> str:
    """A notebook's code cells as one Python script (IPython magics and shell lines commented
    out), with ``parameters`` assigned right after the cell tagged ``parameters``."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    parts = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        lines = [f"# {line}" if line.lstrip().startswith(("%", "!")) else line for line in src.split("\n")]
        parts.append(f"# ---- cell {i}\n" + "\n".join(lines))
        if "parameters" in cell.get("metadata", {}).get("tags", []) and parameters:
            parts.append("# ---- injected parameters\n" +
                         "\n".join(f"{k} = {v!r}" for k, v in parameters.items()))
    return "\n\n".join(parts) + "\n"


def _run_as_script(path: Path, out_dir: Path, parameters: dict, timeout: int | None) -> None:
    """Run a lab as a plain Python script (where no Jupyter kernel is installed)."""
    script = out_dir / f"{path.stem}.py"
    log = out_dir / f"{path.stem}.log"
    script.write_text(notebook_to_script(path, parameters), encoding="utf-8")
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    with open(log, "w", encoding="utf-8") as f:
        done = subprocess.run([sys.executable, str(script)], cwd=path.parent, env=env, stdout=f,
                              stderr=subprocess.STDOUT, timeout=timeout)
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8").strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"exit code {done.returncode}: {tail[0]} (log: {log})")


def run_lab(path: Path, profile: str, parameters: dict, targets: dict, out_dir: Path,
            inplace: bool = False, timeout: int | None = None, progress: bool = True,
            engine: str = "papermill") -> Outcome:
    outcome = Outcome(path.stem, profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_path = out_dir / path.name
    results_path = out_dir / f"{path.stem}.results.jsonl"
    results_path.unlink(missing_ok=True)
    env_before = {k: os.environ.get(k) for k in (profile_mod.ENV, results.ENV)}
    os.environ[profile_mod.ENV] = profile
    os.environ[results.ENV] = str(results_path)
    start = time.perf_counter()
    try:
        if engine == "script":
            _run_as_script(path, out_dir, parameters, timeout)
        else:
            import papermill

            papermill.execute_notebook(str(path), str(out_path), parameters=parameters or None,
                                       cwd=str(path.parent), kernel_name="python3",
                                       progress_bar=progress, execution_timeout=timeout)
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
    recorded = results.read(results_path)
    if outcome.verdict == "FAIL":        # keep what it recorded before it broke
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


def report(outcomes: list[Outcome], profile: str, total_s: float) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    ok = sum(o.verdict == "PASS" for o in outcomes)
    parts = [f"# Lab report ({profile} profile)", "",
             f"{when} on {machine()}; {ok} of {len(outcomes)} labs passed in {total_s:.0f} s.", "",
             table(outcomes), ""]
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
    ap.add_argument("--timeout", type=int, default=None, help="seconds a single cell may run")
    ap.add_argument("--report", type=Path, default=BUILD / "report.md")
    ap.add_argument("--labs-dir", type=Path, default=LABS, help=argparse.SUPPRESS)
    ap.add_argument("--list", action="store_true", help="list the labs and their expected results")
    ap.add_argument("--quiet", action="store_true", help="no per-cell progress bar")
    ap.add_argument("--engine", choices=("papermill", "script"), default="papermill",
                    help="papermill (default) or script: run each lab's code cells as a plain Python "
                         "script, where no Jupyter kernel is installed")
    args = ap.parse_args(argv)

    profile = args.profile or profile_mod.name()
    targets = load_targets(args.labs_dir / "targets.toml")
    labs = find_labs(args.labs, args.labs_dir)
    if args.list:
        for lab in labs:
            exp = {p: expected(lab.stem, p, targets) for p in profile_mod.PROFILES}
            shown = "; ".join(f"{p}: " + ", ".join(f"{k} >= {v}" for k, v in e.items()) for p, e in exp.items() if e)
            print(f"{lab.stem:40s} {shown or 'runs end to end, checks pass'}")
        return 0

    parameters = {name: _parse_value(value) for name, value in args.parameter}
    print(f"Running {len(labs)} lab(s) under the {profile} profile on {machine()}", flush=True)
    outcomes, start = [], time.perf_counter()
    for lab in labs:
        print(f"\n== {lab.stem} ==", flush=True)
        o = run_lab(lab, profile, parameters, targets, args.report.parent / "executed", args.inplace,
                    args.timeout, progress=not args.quiet, engine=args.engine)
        print(f"   {o.verdict} in {o.seconds:.0f} s" + "".join(f"\n   - {p}" for p in o.problems), flush=True)
        outcomes.append(o)
    text = report(outcomes, profile, time.perf_counter() - start)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text, encoding="utf-8")
    print("\n" + text)
    print(f"Report written to {args.report}")
    return 0 if all(o.verdict == "PASS" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
