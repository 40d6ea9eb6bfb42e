"""pytest's settings for the whole repository (tests/conftest.py holds the test helpers).

`make test` runs on several workers (pytest-xdist, ``--dist loadgroup``). nbval runs a notebook's
cells one after another in one kernel, so every cell of a notebook is put in one group: the
notebook runs whole on one worker, while the unit tests spread over all of them.
"""
import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = item.nodeid.split("::")[0]
        if path.endswith(".ipynb"):
            item.add_marker(pytest.mark.xdist_group(path))
