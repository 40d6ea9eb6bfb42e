"""The benchmarks take their model and recipe from the labs (bench/lab_code.py), so they cannot drift."""
import subprocess
import sys

import pytest
from conftest import ROOT, make_notebook

from bench import cnn_time_to_accuracy, lab_code


def defined_names(lab):
    return {name for _, _, tree in lab_code._code_cells(lab_code.LABS / f"{lab}.ipynb")
            for node in tree.body for name in lab_code._defines(node)}


@pytest.mark.parametrize("lab", ["04_cnn_pytorch", "04_cnn_keras"])
def test_lab_04_defines_what_the_benchmark_runs(lab):
    missing = set(cnn_time_to_accuracy.NAMES) - defined_names(lab)
    assert not missing, f"{lab} no longer defines {missing}: bench/cnn_time_to_accuracy.py must follow the lab"


def test_load_runs_imports_parameters_and_the_named_definitions_only(tmp_path, monkeypatch):
    make_notebook(tmp_path / "99_demo_numpy.ipynb", [
        ("code", "import math\nfrom utils import data"),
        ("code", "STEPS = profile.pick(full=100, fast=10, smoke=1)\nRATE = 0.5", ["parameters"]),
        ("code", "def make(n=STEPS):\n    return [RATE] * n\n\nbuilt = make()\nraise SystemExit('ran a cell')"),
        ("code", "%timeit make()"),                             # magics are skipped
        ("code", "def other():\n    raise SystemExit('not asked for')\ntotal = math.fsum(built)"),
    ])
    monkeypatch.setattr(lab_code, "LABS", tmp_path)
    monkeypatch.setenv("DLLABS_PROFILE", "smoke")
    ns = lab_code.load("99_demo_numpy", ["make", "built", "total"], profile="fast")
    assert ns["STEPS"] == 10 and ns["make"]() == [0.5] * 10 and ns["total"] == 5.0
    assert "other" not in ns
    with pytest.raises(lab_code.LabCodeError, match="99_demo_numpy.ipynb defines no renamed"):
        lab_code.load("99_demo_numpy", ["make", "renamed"])


def test_fit_stops_when_on_batch_end_says_so():
    out = subprocess.run([sys.executable, "-c", """
import torch
from utils import train
torch.manual_seed(0)
model = torch.nn.Linear(4, 3)
x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
loader = [(x[i:i + 10], y[i:i + 10]) for i in range(0, 40, 10)]
seen = []
history = train.fit(model, loader, 5, torch.optim.SGD(model.parameters(), lr=0.1), progress=False,
                    on_batch_end=lambda step: seen.append(step) or step == 6)
print(seen, len(history["loss"]))
"""], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == "[1, 2, 3, 4, 5, 6] 2"


def test_median_counts_a_missed_target_as_slower_than_any_hit():
    import argparse

    def run(fw, hit):
        return {"framework": fw, "seconds_to_target": hit, "epochs_to_target": 1.0, "final_accuracy": 0.9,
                "final_seconds": 90.0, "final_epochs": 1.2, "seconds_per_epoch": 40.0, "version": "v",
                "threads": 2, "recipe": {"EPOCHS": 2}}

    text = cnn_time_to_accuracy.report([run("keras", 80.7), run("keras", None), run("keras", None),
                                        run("pytorch", 45.0), run("pytorch", 44.0), run("pytorch", None)],
                                       argparse.Namespace(target=0.9))
    medians = {line.split()[0]: line.split()[2] for line in text.splitlines() if " median " in line}
    assert medians == {"keras": "not", "pytorch": "45.0"}
