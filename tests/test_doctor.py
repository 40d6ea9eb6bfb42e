"""utils.doctor: each line says OK, WARN or FAIL with what to do; a FAIL fails the run."""
import subprocess
import sys

from conftest import ROOT

from utils import doctor


def test_package_verdicts():
    ok = doctor.check_package("torch", "2.14.1+cu130", "2.11.0", "2.14.1", "labs", True)
    assert ok.status == "OK" and "tested 2.11.0 to 2.14.1" in ok.text
    old = doctor.check_package("torch", "2.9.0", "2.11.0", "2.14.1", "labs", True)
    assert old.status == "FAIL" and "older than the course's minimum 2.11.0" in old.text and "pip install" in old.text
    new = doctor.check_package("keras", "3.20.0", "3.13.2", "3.15.1", "labs", True)
    assert new.status == "WARN" and "newer than" in new.text and "keras==3.15.1" in new.text
    missing = doctor.check_package("torchinfo", None, None, "1.8.0", "summaries", True)
    assert missing.status == "FAIL" and "pip install torchinfo==1.8.0" in missing.text
    optional = doctor.check_package("tensorflow", None, "2.20.0", "2.21.0", "Keras", False)
    assert optional.status == "WARN"


def test_python_version():
    assert doctor.check_python("3.10.4").status == "FAIL"
    assert doctor.check_python("3.13.0").status == "OK"


def test_minimums_come_from_colab_versions():
    minimum = doctor.minimum_versions()
    assert minimum["torch"] == "2.11.0" and minimum["keras"] == "3.13.2" and minimum["numpy"] == "2.1.3"


def test_a_framework_that_crashes_is_a_line_not_a_crash(monkeypatch):
    monkeypatch.setattr(doctor, "_installed", lambda p: "1.0" if p in ("torch", "keras") else None)
    lines = doctor.check_devices(probe=lambda fw: (None, "the process was killed by signal 11"))
    assert [line.status for line in lines] == ["FAIL", "FAIL"]
    assert "signal 11" in lines[0].text


def test_doctor_runs_here():
    done = subprocess.run([sys.executable, "-m", "utils.doctor", "--no-devices"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert "[OK]   Python" in done.stdout and "FAIL," in done.stdout
    assert done.returncode == (1 if "[FAIL]" in done.stdout else 0)


def test_the_mps_probe_runs_the_labs_operations():
    from utils import device

    assert device.mps_problem("cpu") is None                 # the same operations, on the CPU
    assert "Error" in (device.mps_problem("no_such_device") or "")
