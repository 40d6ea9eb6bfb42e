"""The definitions of a lab, taken from its solution notebook, for a benchmark to run.

A benchmark that copied a lab's model and training recipe would drift from it the first time
the lab changed. :func:`load` instead executes, from ``labs_solutions/<lab>.ipynb`` itself:

- every top-level ``import`` of the notebook's code cells (``from utils import augment`` binds
  ``augment`` unless the benchmark put its own in the namespace);
- the cell tagged ``parameters``, under the profile asked for (``fast`` by default), then the
  values a benchmark sets in its place (``parameters=``, as papermill's ``-p`` would);
- the top-level statements that define the names asked for: functions and classes
  (``def make_cnn``), and assignments (``fashion_train, fashion_val, fashion_test = split(...)``),

all in notebook order (a parameters cell may use what an earlier cell imported or defined, such
as lab 08's ``torch_dev``).

Nothing else of the notebook runs (no plots, no exercises, no training cells). A name that
the notebook does not define is an error that names the notebook, so a renamed function in
the lab fails the benchmark loudly instead of silently timing something else.
"""
from __future__ import annotations

import ast
import importlib
import json
import os
from pathlib import Path

LABS = Path(__file__).resolve().parent.parent / "labs_solutions"


class LabCodeError(RuntimeError):
    """The lab's notebook does not define what the benchmark needs."""


def _code_cells(path: Path):
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        try:
            tree = ast.parse(source)
        except SyntaxError:              # a cell with IPython magics: nothing a benchmark needs
            continue
        yield index, cell, tree


def _defines(node) -> set:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _from_utils(name: str):
    """What ``from utils import name`` binds: a module of utils, or a name utils defines."""
    try:
        return importlib.import_module(f"utils.{name}")
    except ModuleNotFoundError:
        return getattr(importlib.import_module("utils"), name)


def load(lab: str, names, profile: str = "fast", namespace: dict | None = None,
         parameters: dict | None = None) -> dict:
    """Execute the imports, the parameters cell and the definitions of ``names`` of lab ``lab``
    (a notebook name without ``.ipynb``, e.g. ``04_cnn_pytorch``), in notebook order; returns the
    namespace. ``parameters``: values set right after the parameters cell (each must be one of its
    names)."""
    path = LABS / f"{lab}.ipynb"
    if not path.is_file():
        raise LabCodeError(f"{path} not found")
    os.environ["DLLABS_PROFILE"] = profile
    from utils import checks, data, device, plots, results, train  # noqa: F401  (what labs import)
    from utils import profile as profile_mod

    ns = {"__name__": f"lab_{lab}", "checks": checks, "data": data, "device": device, "plots": plots,
          "profile": profile_mod, "results": results, "train": train}
    ns.update(namespace or {})
    ns["__parameters__"] = dict(parameters or {})
    wanted, found = set(names), set()
    program, has_parameters = [], False
    for _index, cell, tree in _code_cells(path):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            has_parameters = True
            unknown = set(parameters or {}) - {n for node in tree.body for n in _defines(node)}
            if unknown:
                raise LabCodeError(f"{path.name}'s parameters cell sets no {', '.join(sorted(unknown))}")
            program += tree.body
            for key in parameters or {}:
                program += ast.parse(f"{key} = __parameters__[{key!r}]").body
            continue
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == "utils":
                for alias in node.names:         # `from utils import augment`: unless the caller set it
                    if (alias.asname or alias.name) not in ns:
                        ns[alias.asname or alias.name] = _from_utils(alias.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                program.append(node)
            elif _defines(node) & wanted:
                program.append(node)
                found |= _defines(node) & wanted
    missing = wanted - found
    if missing:
        raise LabCodeError(f"{path.name} defines no {', '.join(sorted(missing))}: the benchmark takes "
                           "them from the lab; update the benchmark to the lab's new names")
    if not has_parameters:
        raise LabCodeError(f"{path.name} has no cell tagged 'parameters'")
    module = ast.fix_missing_locations(ast.Module(body=program, type_ignores=[]))
    exec(compile(module, str(path), "exec"), ns)
    return ns
