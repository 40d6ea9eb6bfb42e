"""Device choice: the CUDA and MPS paths, exercised on a CPU-only machine by making torch report them.

CI has no GPU. These tests cover what the labs decide from what torch reports (the full profile's
device placement); what runs on a real GPU is in the GPU report when a session had one.
"""
import subprocess
import sys

import pytest
from conftest import ROOT


def run(code: str, env_extra=None) -> str:
    import os

    env = {**os.environ, **(env_extra or {})}
    env.pop("DLLABS_DEVICE", None)
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


PRELUDE = """
import torch
from utils import device, results
from unittest import mock
"""


def test_cuda_is_chosen_when_torch_sees_it():
    out = run(PRELUDE + """
with mock.patch.object(torch.cuda, "is_available", return_value=True):
    print(device.torch_device())
""")
    assert out == "cuda"


def test_dllabs_device_overrides_the_choice():
    out = run(PRELUDE + """
with mock.patch.object(torch.cuda, "is_available", return_value=True):
    print(device.torch_device())
""", {"DLLABS_DEVICE": "cpu"})
    assert out == "cpu"


@pytest.mark.parametrize("problem, expected", [(None, "mps"), ("RuntimeError: no conv", "cpu")])
def test_mps_only_where_it_runs_the_labs(problem, expected):
    out = run(PRELUDE + f"""
with mock.patch.object(torch.cuda, "is_available", return_value=False), \\
        mock.patch.object(torch.backends.mps, "is_available", return_value=True), \\
        mock.patch.object(device, "mps_problem", return_value={problem!r}):
    print(device.torch_device().type)
""")
    assert out.splitlines()[-1] == expected
    if problem:
        assert "Apple's GPU (MPS) is there, but this PyTorch cannot run" in out and problem in out


def test_the_mps_probe_runs_the_labs_operations_on_a_device():
    # On the CPU the probe's operations must all succeed (a probe that always failed would send
    # every Mac to the CPU); on a device missing one it names what failed.
    assert run(PRELUDE + "print(device.mps_problem('cpu'))") == "None"
    assert "Error" in run(PRELUDE + "print(device.mps_problem('no_such_device'))")


def test_keras_on_torch_reports_the_gpu_torch_sees():
    out = run("""
import torch
from unittest import mock
from utils import device
with mock.patch.object(torch.cuda, "is_available", return_value=True):
    print(device.keras_device())
""", {"KERAS_BACKEND": "torch"})
    assert out == "gpu"
