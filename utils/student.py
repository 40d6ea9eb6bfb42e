"""Generate the student notebooks (``notebooks/``) from the solutions (``labs_solutions/``).

    python -m utils.student             # (re)generate every student notebook
    python -m utils.student 01 --force  # overwrite even notebooks that were changed
    python -m utils.student --check     # exit 1 if notebooks/ is out of date (used by the tests)

In each code cell, the lines between nbgrader's markers ``### BEGIN SOLUTION`` and
``### END SOLUTION`` become a stub that raises ``NotImplementedError`` naming the
exercise (taken from the nearest "Exercise N.k" heading above it); in markdown cells
the answer becomes "YOUR ANSWER HERE". Outputs and execution counts are stripped and
``# NBVAL_...`` markers removed. Instructors who use nbgrader can take the solutions as
they are: the markers are nbgrader's own.

A student's work is never overwritten: ``notebooks/.generated.json`` keeps the hash of
each generated notebook, and a notebook whose content no longer matches it (someone
edited it) is left alone unless ``--force`` is given.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "labs_solutions"
STUDENT = ROOT / "notebooks"
MANIFEST = ".generated.json"

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
EXERCISE = re.compile(r"^#{1,6}\s*Exercise\s+(\d+(?:\.\d+)*)\s*[:.\u2014\u2013-]?\s*([^\n]*)", re.M)
NBVAL_MARK = re.compile(r"^\s*#\s*NBVAL_\w+\s*$")
KEEP_CELL_METADATA = ("tags",)


class SolutionMarkerError(ValueError):
    """A solution region is malformed (no END, END without BEGIN, nested BEGIN)."""


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _exercise_name(heading: str | None) -> str:
    if not heading:
        return "this exercise"
    m = EXERCISE.search(heading)
    if not m:
        return "this exercise"
    title = m.group(2).strip().strip("*_#` ").rstrip(".")
    return f"Exercise {m.group(1)}" + (f" ({title})" if title else "")


def strip_solution(source: str, exercise: str, markdown: bool = False, where: str = "") -> str:
    """Replace every marked solution region in one cell's source with a stub."""
    out, inside = [], False
    for number, line in enumerate(source.split("\n"), 1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise SolutionMarkerError(f"{where} line {number}: {BEGIN} inside another solution")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            if markdown:
                out.append("YOUR ANSWER HERE")
            else:
                out.append(f"{indent}# YOUR CODE HERE")
                message = f"{exercise}: replace this line with your code"
                out.append(f"{indent}raise NotImplementedError({json.dumps(message, ensure_ascii=False)})")
        elif stripped.startswith(END):
            if not inside:
                raise SolutionMarkerError(f"{where} line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside and not (not markdown and NBVAL_MARK.match(line)):
            out.append(line)
    if inside:
        raise SolutionMarkerError(f"{where}: {BEGIN} without {END}")
    return "\n".join(out)


def make_student(nb):
    """A student copy of a solution notebook (an ``nbformat`` node), as a new node."""
    import copy

    nb = copy.deepcopy(nb)
    heading = None
    for i, cell in enumerate(nb.cells):
        src = _source(cell)
        if cell.cell_type == "markdown" and EXERCISE.search(src) and BEGIN not in src:
            heading = src
        if BEGIN in src or END in src:
            src = strip_solution(src, _exercise_name(heading), markdown=cell.cell_type == "markdown",
                                 where=f"cell {i}")
        elif cell.cell_type == "code":
            src = "\n".join(line for line in src.split("\n") if not NBVAL_MARK.match(line))
        cell.source = src
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in KEEP_CELL_METADATA}
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    for key in ("papermill", "widgets"):
        nb.metadata.pop(key, None)
    return nb


def render(nb) -> str:
    import nbformat

    return nbformat.writes(nb) + "\n"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def generate(solutions: Path = SOLUTIONS, student: Path = STUDENT, patterns=(), force=False,
             check=False, log=print) -> int:
    """Write (or with ``check`` only compare) the student notebooks; returns an exit code."""
    import nbformat

    student.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(student)
    sources = sorted(solutions.glob("[0-9][0-9]_*.ipynb"))
    if patterns:
        sources = [p for p in sources if any(pat.removesuffix(".ipynb") in p.stem for pat in patterns)]
    status = 0
    for src in sources:
        target = student / src.name
        text = render(make_student(nbformat.read(src, as_version=4)))
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            if manifest.get(src.name) != _sha(text) and not check:
                manifest[src.name] = _sha(text)
            log(f"  up to date  {target.relative_to(student.parent)}")
            continue
        if check:
            log(f"  OUT OF DATE {target.relative_to(student.parent)}: run `python -m utils.student`")
            status = 1
            continue
        edited = current is not None and manifest.get(src.name) != _sha(current)
        if edited and not force:
            log(f"  KEPT        {target.relative_to(student.parent)}: it was changed since it was "
                f"generated (someone's work?). Not overwritten; use --force to replace it.")
            status = 1
            continue
        target.write_text(text, encoding="utf-8")
        manifest[src.name] = _sha(text)
        log(f"  written     {target.relative_to(student.parent)}")
    if not check:
        (student / MANIFEST).write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
    return status


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m utils.student", description=__doc__.split("\n\n")[0])
    ap.add_argument("labs", nargs="*", help="lab names or parts of them; all when empty")
    ap.add_argument("--force", action="store_true", help="overwrite notebooks that were changed")
    ap.add_argument("--check", action="store_true", help="only report notebooks that are out of date")
    ap.add_argument("--solutions", type=Path, default=SOLUTIONS, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=STUDENT, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    print(f"Student notebooks in {args.out} from {args.solutions}:")
    return generate(args.solutions, args.out, args.labs, args.force, args.check)


if __name__ == "__main__":
    sys.exit(main())
