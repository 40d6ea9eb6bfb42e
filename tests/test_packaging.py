"""Claims the packaging and docs make about running the course: Python version, Docker, CI data."""
import re
import subprocess
import sys
import tomllib

from conftest import ROOT


def test_the_python_version_claim_is_true():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    claim = project["project"]["requires-python"]
    minimum = tuple(int(x) for x in re.fullmatch(r">=\s*(\d+)\.(\d+)", claim).groups())
    assert project["tool"]["ruff"]["target-version"] == f"py{minimum[0]}{minimum[1]}"
    if minimum < (3, 11):      # tomllib is 3.11+: below that, every import of it needs a fallback
        for path in (ROOT / "utils").rglob("*.py"):
            text = path.read_text()
            assert "import tomllib" not in text or "tomli" in text.replace("tomllib", ""), path


def test_docker_publishes_jupyter_on_localhost_only():
    readme = (ROOT / "README.md").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    for text in (readme, dockerfile):
        assert "-p 127.0.0.1:8888:8888" in text
        assert not re.search(r"docker run [^\n]*-p 8888:8888", text)
    assert "127.0.0.1" in readme.split("## Docker", 1)[1].split("##", 1)[0].split("```", 2)[2], "README says why"


def test_ci_accepts_its_reencoded_cifar_copy_explicitly():
    ci = (ROOT / ".ci" / "run").read_text()
    prepare = ci.index("../shared/data/prepare \"$DLLABS_DATA_DIR\"")
    assert ci.index("-m utils.data accept-copy \"$DLLABS_DATA_DIR/cifar10\"") > prepare


def test_importing_the_loader_stays_light():
    code = ("import sys\nfrom utils import data, run, results\n"
            "heavy = [m for m in ('filelock', 'pooch', 'requests', 'papermill', 'tqdm') if m in sys.modules]\n"
            "assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
