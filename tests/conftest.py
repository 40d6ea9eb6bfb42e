import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# This one pytest process runs Keras tests (TensorFlow) and PyTorch tests. TensorFlow imported
# before torchvision, torch._dynamo or triton crashes the process (their native libraries clash);
# torch.optim imports torch._dynamo on first use, and torch._dynamo imports triton. So PyTorch's
# side is loaded first, whatever order the tests run in.
try:
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401
    import torchvision  # noqa: F401
except ImportError:         # a machine without PyTorch: its tests skip themselves
    pass


def make_notebook(path: Path, cells) -> Path:
    """Write a notebook from ("md"|"code", source[, tags]) tuples."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, source, *tags in cells:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = list(tags[0])
        nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def notebook_factory():
    return make_notebook
