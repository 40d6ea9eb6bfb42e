"""A student notebook in the course's own JupyterLab, driven in a real (headless) Chromium.

What a student sees, checked: the kernel starts, every cell runs when run through the UI,
the exercise checks show their verdicts, the only errors are the ones that point at an
unfinished exercise, the progress bar is a rendered widget, plots are images. A screenshot
lands in build/ for a person to look at.

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them) and selenium;
skipped, with the reason, where they are missing. Nothing downloads a browser.
"""
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
NOTEBOOK = "01_logistic_regression_pytorch.ipynb"     # exercises; a few seconds under the smoke profile
SETUP = "00_setup.ipynb"                               # a progress bar and plots, no exercises
WORK = ROOT / "build" / "browser"                      # inside the repo, so the setup cell finds utils/
CELL_TIMEOUT_S = 180

selenium = pytest.importorskip("selenium", reason="selenium is not installed (requirements-dev.txt)")
pytestmark = pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                                reason="no Chromium here: apt-get install chromium chromium-driver")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab():
    """The course's JupyterLab on 127.0.0.1 with a random token, serving a copy of a student notebook;
    stopped at the end whatever happens."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    for name in (NOTEBOOK, SETUP):
        shutil.copy(ROOT / "notebooks" / name, WORK / name)
    settings = WORK / ".settings" / "@jupyterlab"
    for plugin, values in {"notebook-extension/tracker": {"windowingMode": "none"},     # every cell in the DOM
                           "apputils-extension/notification": {"fetchNews": "false"}}.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, DLLABS_PROFILE="smoke", PYTHONUNBUFFERED="1")
    log = open(WORK / "jupyterlab.log", "w")
    args = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={WORK}",
            f"--LabApp.user_settings_dir={WORK / '.settings'}", f"--LabApp.workspaces_dir={WORK / '.workspaces'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    server = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    log_text = (WORK / "jupyterlab.log").read_text()[-2000:]
                    raise AssertionError("JupyterLab did not start:\n" + log_text) from None
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", token
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def _chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,1000", f"--user-data-dir={WORK / '.chromium'}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _wait(condition, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def _run_in_lab(driver, url, token, name, screenshot=None):
    """Open notebook ``name`` in JupyterLab, run every cell with Shift+Enter as a student would, save it
    with Ctrl+S; returns (the cells as saved, the number of cells it had, the rendered progress bars)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(f"{url}/lab/tree/{name}?token={token}")

    def kernel_idle():
        # the notebook in view: a notebook opened before stays in the DOM, hidden, with its idle kernel
        found = driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) "
                                                      ".jp-Notebook-ExecutionIndicator")
        return found and found[0].get_attribute("data-status") == "idle"

    _wait(kernel_idle, 120, f"{name} to open and its kernel to start")
    source = json.loads((WORK / name).read_text())["cells"]

    def all_cells():
        found = driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
        return found if len(found) == len(source) else None

    cells = _wait(all_cells, 60, f"every cell of {name} to be rendered")
    cells[0].click()
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    for i, cell in enumerate(cells):
        ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
        if "jp-CodeCell" in cell.get_attribute("class"):
            prompt = cell.find_element(By.CSS_SELECTOR, ".jp-InputPrompt")
            _wait(lambda p=prompt: re.search(r"\[\d+\]", p.text), CELL_TIMEOUT_S, f"cell {i} of {name} to run")
    _wait(kernel_idle, 60, "the kernel to finish")
    bars = driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output "
                                                 ".widget-hprogress .progress-bar")
    images = driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img")
    if screenshot is not None:
        if bars:
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", bars[0])
        driver.save_screenshot(str(screenshot))
    before = (WORK / name).stat().st_mtime
    ActionChains(driver).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()
    _wait(lambda: (WORK / name).stat().st_mtime != before, 30, f"{name} to be saved")
    time.sleep(0.5)
    return json.loads((WORK / name).read_text())["cells"], len(source), bars, images


def test_student_notebooks_run_in_jupyterlab(jupyterlab):
    url, token = jupyterlab
    driver = _chrome()
    shot = ROOT / "build" / f"browser-{Path(SETUP).stem}.png"
    try:
        # Lab 00: what the widgets and plots look like (tqdm draws an ipywidgets bar, not text)
        setup_cells, _, bars, images = _run_in_lab(driver, url, token, SETUP, screenshot=shot)
        assert bars, "a tqdm progress bar is rendered as an ipywidgets bar (is ipywidgets' lab extension there?)"
        assert any("100%" in (b.get_attribute("style") or "") for b in bars), "the progress bar reached 100%"
        assert images, "at least one plot is shown"
        assert shot.stat().st_size > 10_000
        # Lab 01, blank: the exercises as a student meets them
        saved, n_source, _, _ = _run_in_lab(driver, url, token, NOTEBOOK,
                                            screenshot=ROOT / "build" / f"browser-{Path(NOTEBOOK).stem}.png")
    finally:
        driver.quit()

    setup_code = [c for c in setup_cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert all(c.get("execution_count") for c in setup_code)
    assert not [o for c in setup_code for o in c["outputs"] if o["output_type"] == "error"], "lab 00 runs clean"
    source = saved[:n_source]
    assert not "".join("".join(c["source"]) for c in saved[n_source:]), \
        "only the empty cell that Shift+Enter adds after the last one is new"
    code = [c for c in source if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code), "every code cell ran"
    checks = [c for c in code if "checks.lab" in "".join(c["source"])]
    assert checks
    for c in checks:
        shown = "".join("".join(o.get("text", "")) for o in c["outputs"])
        assert "✏️" in shown or "✅" in shown, f"a check cell shows its verdict: {''.join(c['source'])}"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert errors, "a blank student notebook has unfinished exercises"
    for error in errors:
        text = "\n".join(error["traceback"])
        assert text.startswith("⛔") and "Exercise" in text and "Traceback" not in text, text
