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


class StudentError(Exception):
    """Bad input (a broken manifest, a malformed solution notebook, an unknown lab): the message
    says what and where; nothing has been written."""



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
                                 where=f"cell {i} ({cell.cell_type})")
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


HEX64 = re.compile(r"^[0-9a-f]{64}$")


def load_manifest(folder: Path) -> dict:
    """The manifest ``{notebook name: sha256 of the generated text}``; a missing one is empty, a
    broken or hand-edited one is a :class:`StudentError` (never silently replaced: it is what
    tells a generated notebook from a student's work)."""
    path = folder / MANIFEST
    if not path.exists():
        return {}
    fix = (f"Restore it (`git checkout {folder.name}/{MANIFEST}`) or delete it: without it, every "
           "notebook that differs from what would be generated counts as edited and is kept "
           "(--force overwrites them).")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StudentError(f"{path} is not valid JSON ({e}). It records the hash of each generated "
                           f"notebook. {fix}") from None
    if not isinstance(manifest, dict):
        raise StudentError(f"{path} should map notebook names to hashes, but holds a "
                           f"{type(manifest).__name__}. {fix}")
    bad = [k for k, v in manifest.items() if not (isinstance(v, str) and HEX64.match(v))
           or not k.endswith(".ipynb")]
    if bad:
        raise StudentError(f"{path} was edited by hand: the entry for {bad[0]!r} is not a notebook "
                           f"name with a sha256 hash. {fix}")
    return manifest


def select(sources: list, patterns=()) -> list:
    """The solution notebooks whose name contains one of ``patterns`` (all when empty); a pattern
    that matches none is an error (a misspelt lab name must not pass silently)."""
    if not patterns:
        return sources
    missing = [p for p in patterns if not any(p.removesuffix(".ipynb") in s.stem for s in sources)]
    if missing:
        raise StudentError(f"no lab matches {', '.join(repr(m) for m in missing)}; labs: "
                           f"{', '.join(s.stem for s in sources)}")
    return [s for s in sources if any(p.removesuffix(".ipynb") in s.stem for p in patterns)]


def _student_text(src: Path) -> str:
    """The student notebook's text for the solution notebook ``src``, or a StudentError naming it."""
    import nbformat

    try:
        nb = nbformat.read(src, as_version=4)
    except Exception as e:  # noqa: BLE001 - any unreadable notebook is reported by name
        raise StudentError(f"{src}: not a readable notebook ({type(e).__name__}: {e})") from None
    try:
        return render(make_student(nb))
    except SolutionMarkerError as e:
        raise StudentError(f"{src}, {e}. Nothing was written.") from None


def generate(solutions: Path = SOLUTIONS, student: Path = STUDENT, patterns=(), force=False,
             check=False, log=print) -> int:
    """Write (or with ``check`` only compare) the student notebooks; returns an exit code.
    Bad input (see :class:`StudentError`) raises before anything is written."""
    manifest = load_manifest(student)
    sources = select(sorted(solutions.glob("[0-9][0-9]_*.ipynb")), patterns)
    texts = {src: _student_text(src) for src in sources}      # every notebook parses, or nothing is written
    student.mkdir(parents=True, exist_ok=True)
    status = 0
    for src, text in texts.items():
        target = student / src.name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            if manifest.get(src.name) != _sha(text) and not check:
                manifest[src.name] = _sha(text)
            log(f"  up to date  {target.relative_to(student.parent)}")
            continue
        edited = current is not None and manifest.get(src.name) != _sha(current)
        if check:
            lab = src.stem
            advice = (f"it was also edited since it was generated: `make student FORCE=1` (or "
                      f"`python -m utils.student {lab} --force`) replaces it and OVERWRITES those edits; "
                      "save them elsewhere first" if edited else
                      "run `make student` (or `python -m utils.student`)")
            log(f"  OUT OF DATE {target.relative_to(student.parent)}: {advice}")
            status = 1
            continue
        if edited and not force:
            log(f"  KEPT        {target.relative_to(student.parent)}: it was changed since it was "
                f"generated (someone's work?). Not overwritten; `make student FORCE=1` (or --force) "
                f"replaces it and overwrites those changes.")
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
    try:
        return generate(args.solutions, args.out, args.labs, args.force, args.check)
    except StudentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
