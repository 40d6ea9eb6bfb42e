"""The benchmarks take their model and recipe from the labs (bench/lab_code.py), so they cannot drift."""
import argparse
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, make_notebook

from bench import cnn_time_to_accuracy, lab_code, probe, resnet_cifar10
from utils import data


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


def _run(fw, hits, final=0.9, recipe=None):
    """A child's result, as probe.Clock.result makes it: hits maps a target to seconds (None: missed)."""
    return {"framework": fw, "targets": sorted(hits),
            "hits": {repr(t): None if s is None else {"seconds": s, "epochs": 1.0} for t, s in hits.items()},
            "final_accuracy": final, "final_seconds": 90.0, "final_epochs": 1.2, "seconds_per_epoch": 40.0,
            "version": "v", "threads": 2, "recipe": recipe or {"EPOCHS": 2}}


def test_median_counts_a_missed_target_as_slower_than_any_hit():
    text = cnn_time_to_accuracy.report([_run("keras", {0.9: 80.7}), _run("keras", {0.9: None}),
                                        _run("keras", {0.9: None}), _run("pytorch", {0.9: 45.0}),
                                        _run("pytorch", {0.9: 44.0}), _run("pytorch", {0.9: None})],
                                       argparse.Namespace(target=0.9))
    medians = {line.split()[0]: line.split()[2] for line in text.splitlines() if " median " in line}
    assert medians == {"keras": "not", "pytorch": "45.0"}
    assert "s to 90%" in text and "2 of 3 runs missed 90%" in text


def test_clock_stops_at_the_budget_or_when_every_target_is_hit():
    clock = probe.Clock("pytorch", [0.92, 0.9], budget_seconds=1e9, stop_when_hit=True)
    accuracies = iter([0.5, 0.91, 0.93, 0.95])
    assert not clock.evaluate(lambda: next(accuracies), 0.5)
    assert not clock.evaluate(lambda: next(accuracies), 1.0)      # 90% hit, 92% not yet
    assert clock.evaluate(lambda: next(accuracies), 1.5)          # both hit: stop
    r = clock.result()
    assert r["hits"]["0.9"]["epochs"] == 1.0 and r["hits"]["0.92"]["epochs"] == 1.5 and r["final_accuracy"] == 0.93
    broke = probe.Clock("keras", [0.6], budget_seconds=0.0)
    assert broke.evaluate(lambda: 0.1, 0.2)                        # the budget is spent: stop
    assert broke.result()["hits"] == {"0.6": None}
    with pytest.raises(RuntimeError, match="before the first evaluation"):
        probe.Clock("keras", [0.6], budget_seconds=1.0).result()


# --------------------------------------------------------------------------- bench.resnet_cifar10

@pytest.mark.parametrize("framework", resnet_cifar10.FRAMEWORKS)
def test_lab_08_defines_what_the_benchmark_runs(framework):
    lab = resnet_cifar10.LABS[framework]
    missing = set(resnet_cifar10.DEFINITIONS[framework] + resnet_cifar10.TRAINING) - defined_names(lab)
    assert not missing, f"{lab} no longer defines {missing}: bench/resnet_cifar10.py must follow the lab"


def test_lab_08_pytorch_train_evaluates_as_often_as_the_benchmark_asks():
    # the benchmark sets EVALS_PER_EPOCH and counts the calls of the lab's evaluate() inside its train()
    lab = resnet_cifar10.LABS["pytorch"]
    cells = list(lab_code._code_cells(lab_code.LABS / f"{lab}.ipynb"))
    parameters = next(tree for _, cell, tree in cells if "parameters" in cell["metadata"].get("tags", []))
    assert "EVALS_PER_EPOCH" in {n for node in parameters.body for n in lab_code._defines(node)}
    train_src = next("".join(cell["source"]) for _, cell, tree in cells
                     if any(getattr(node, "name", None) == "train" for node in tree.body))
    assert "evaluate(model, *test)" in train_src and "evals_per_epoch" in train_src


def test_resnet_arguments(monkeypatch):
    monkeypatch.setattr(resnet_cifar10, "gpu_visible", lambda: False)
    args = resnet_cifar10.parse_args([])
    assert (args.profile, args.targets, args.runs, args.framework) == ("fast", [0.6], 3, "both")
    monkeypatch.setattr(resnet_cifar10, "gpu_visible", lambda: True)
    args = resnet_cifar10.parse_args(["--framework", "keras"])
    assert (args.profile, args.targets) == ("full", [0.9, 0.92, 0.94])
    args = resnet_cifar10.parse_args(["--targets", "0.94", "0.9", "--profile", "fast"])
    assert (args.profile, args.targets) == ("fast", [0.9, 0.94])
    command = resnet_cifar10.child_command("pytorch", args)
    assert command[1:] == ["-m", "bench.resnet_cifar10", "--child", "--framework", "pytorch", "--profile", "fast",
                           "--budget-seconds", "1200.0", "--eval-every", "0.2", "--targets", "0.9", "0.94"]
    assert resnet_cifar10.parse_args(command[3:]).targets == [0.9, 0.94]       # the child reads it back
    for bad in (["--targets", "60"], ["--eval-every", "0"], ["--runs", "0"], ["--profile", "huge"]):
        with pytest.raises(SystemExit):
            resnet_cifar10.parse_args(bad)


def test_resnet_report_has_a_column_per_target_and_a_median_per_framework():
    recipe = {"DEPTH": 18, "WIDTHS": (64, 128, 256, 512), "EPOCHS": 35}
    runs = [_run("pytorch", {0.9: 20.0, 0.92: 30.0, 0.94: None}, recipe=recipe),
            _run("pytorch", {0.9: 22.0, 0.92: 31.0, 0.94: 60.0}, recipe=recipe),
            _run("pytorch", {0.9: 21.0, 0.92: None, 0.94: None}, recipe=recipe),
            _run("keras", {0.9: 25.0, 0.92: 35.0, 0.94: 70.0}, final=0.941, recipe=recipe)]
    text = resnet_cifar10.report(runs, argparse.Namespace(targets=[0.9, 0.92, 0.94]))
    header = text.splitlines()[0]
    assert header.index("s to 90%") < header.index("s to 92%") < header.index("s to 94%")
    medians = {line.split()[0]: line.split()[2:5] for line in text.splitlines() if " median " in line}
    assert medians == {"pytorch": ["21.0", "31.0", "not"], "keras": ["25.0", "35.0", "70.0"]}
    assert "1 of 3 runs missed 92%; 2 of 3 runs missed 94%" in text
    assert "DEPTH 18, WIDTHS (64, 128, 256, 512), EPOCHS 35" in text
    assert text.index("keras ") < text.index("pytorch ")


def test_a_renamed_lab_function_fails_the_benchmark_loudly(tmp_path, monkeypatch):
    lab = resnet_cifar10.LABS["pytorch"]
    nb = json.loads((lab_code.LABS / f"{lab}.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        cell["source"] = "".join(cell["source"]).replace("def make_net(", "def make_network(")
    (tmp_path / f"{lab}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    monkeypatch.setattr(lab_code, "LABS", tmp_path)
    with pytest.raises(lab_code.LabCodeError, match=f"{lab}.ipynb defines no make_net"):
        lab_code.load(lab, resnet_cifar10.DEFINITIONS["pytorch"])        # before anything of the lab runs
    with pytest.raises(lab_code.LabCodeError, match="parameters cell sets no NO_SUCH"):
        lab_code.load(lab, [], parameters={"NO_SUCH": 1})


@pytest.mark.skipif(data.where("cifar10") is None, reason="CIFAR-10 is not on this machine")
def test_resnet_benchmark_runs_the_lab_s_pytorch_training_in_a_child(tmp_path):
    # the smoke profile (1,000 training images, one epoch), evaluated twice: seconds, not a timing
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([*resnet_cifar10.child_command("pytorch", resnet_cifar10.parse_args(
        ["--profile", "smoke", "--targets", "0.99", "--eval-every", "0.5", "--budget-seconds", "60"]))],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(next(line for line in out.stdout.splitlines() if line.startswith(probe.RESULT))
                        [len(probe.RESULT):])
    assert [e["epochs"] for e in result["evals"]] == [0.5, 1.0]                 # every half epoch, as asked
    assert result["hits"] == {"0.99": None} and result["recipe"]["EPOCHS"] == 1
    assert result["recipe"]["DEPTH"] == 8 and 0 <= result["final_accuracy"] <= 1
