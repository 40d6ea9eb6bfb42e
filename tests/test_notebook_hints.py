"""In a real kernel: cells after an unfinished exercise point at it, never a bare NameError, and
results from an incomplete run are not recorded."""
import json

import nbformat
from conftest import ROOT
from nbclient import NotebookClient

SETUP = f"import sys; sys.path.insert(0, {str(ROOT)!r})\nfrom utils import checks, results"


def run_cells(sources, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=60,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb.cells


def text_of(cell):
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append(f"[{out.ename}] " + "\n".join(out.traceback))
    return "\n".join(parts)


def test_blank_exercise_points_at_itself_downstream(tmp_path, monkeypatch):
    results_file = tmp_path / "results.jsonl"
    monkeypatch.setenv("DLLABS_RESULTS", str(results_file))
    stub = ('def sigmoid(z):\n'
            '    raise NotImplementedError("Exercise 1.1 (sigmoid): replace this line with your code")')
    cells = run_cells([
        SETUP,
        'results.record("before", 1.0)',
        stub,
        'checks.check_function("Exercise 1.1 sigmoid", sigmoid, [((0.0,), 0.5)])',
        "probabilities = sigmoid(3.0)\nw_numpy = probabilities * 2",     # the stub raises here
        "print(w_numpy)",                                                # NameError -> pointer
        "w_torch = w_numpy + 1",
        "print(w_torch)",                                                # a chain of two
        "print(never_defined_anywhere)",                                 # an ordinary typo
        'results.record("test_accuracy", 0.09)',
        "results.summary()",
    ], tmp_path)
    assert "✏️ Exercise 1.1 sigmoid: not done yet" in text_of(cells[3])
    assert "This cell needs Exercise 1.1 (sigmoid), which is not done yet" in text_of(cells[4])
    assert "Traceback" not in text_of(cells[4])
    for i in (5, 7):
        out = text_of(cells[i])
        assert "is not defined: the cell that defines it stopped because Exercise 1.1 (sigmoid)" in out, out
    typo = text_of(cells[8])
    assert "[NameError]" in typo and "never_defined_anywhere" in typo and "Exercise" not in typo
    assert "Not recorded: test_accuracy" in text_of(cells[9])
    assert "before" in text_of(cells[10]) and "test_accuracy" not in text_of(cells[10])
    recorded = [json.loads(line)["name"] for line in results_file.read_text().splitlines()]
    assert "test_accuracy" not in recorded and "before" in recorded


def test_finishing_the_exercise_lifts_the_block(tmp_path):
    cells = run_cells([
        SETUP,
        'def f(x):\n    raise NotImplementedError("Exercise 2.3 (f): replace this line with your code")',
        "y = f(1)",
        "def f(x):\n    return x",
        'checks.check_function("Exercise 2.3 f", f, [((1.0,), 1.0)])',
        "y = f(1)",
        'results.record("acc", 0.9)\nresults.summary()',
    ], tmp_path)
    assert "This cell needs Exercise 2.3 (f)" in text_of(cells[2])
    assert "✅ Exercise 2.3 f" in text_of(cells[4])
    assert "acc" in text_of(cells[6]) and "0.9000" in text_of(cells[6])
