"""`nuset_engine.export`: the shipped model as ONNX, TorchScript and a
bioimage.io package give the maps PyTorch gives, and the package passes
bioimage.io's own test."""
import json
import zipfile

import numpy as np
import pytest
import torch

import nuset_engine
from nuset_engine.errors import OutputExistsError
from nuset_engine.export import TEST_WINDOW, ExportError, MapsNetwork, export_model
from nuset_engine.model_io import load_model, save_model
from nuset_engine.network import NetworkConfig, NuSeTNet
from nuset_engine.normalize import whole_image_normalize


@pytest.fixture(scope="module")
def shipped():
    """The shipped network with the segmenter's maps, and the PyTorch outputs
    on the whole bundled sample, pass-1 normalized."""
    import tifffile

    module = MapsNetwork(load_model(None)[0], rpn=True).eval()
    x = whole_image_normalize(tifffile.imread(nuset_engine.SAMPLE_IMAGE))[None, None]
    with torch.inference_mode():
        return module, x, [t.numpy() for t in module(torch.from_numpy(x))]


def _close(got, wanted, tolerance=1e-4):
    assert got.shape == wanted.shape
    assert np.all(np.abs(got - wanted) <= tolerance * (1 + np.abs(wanted))), float(np.abs(got - wanted).max())


def test_maps_are_the_segmenters_probabilities(shipped):
    _, _, (maps, objectness, deltas) = shipped
    assert maps.shape == (1, 2, 512, 512) and maps.dtype == np.float32
    assert 0 <= maps.min() and maps.max() <= 1
    # nuclei cover a fair part of the sample, and the distance map peaks inside them
    assert 0.1 < (maps[0, 0] > 0.5).mean() < 0.5
    assert maps[0, 1][maps[0, 0] < 0.1].mean() < 0.05 < 0.3 < maps[0, 1][maps[0, 0] > 0.9].max()
    assert objectness.shape == (1, 21, 32, 32) and deltas.shape == (1, 84, 32, 32)


@pytest.mark.slow
def test_onnx_gives_pytorchs_outputs_in_onnxruntime(shipped, tmp_path):
    onnx = pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    module, x, wanted = shipped
    path = export_model(None, tmp_path / "nuset.onnx", "onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["maps", "objectness", "box_deltas"]
    for got, want in zip(session.run(None, {"input": x}), wanted):
        _close(got, want)
    # batch, height and width are free (steps of 16)
    maps = session.run(None, {"input": np.zeros((2, 1, 80, 48), np.float32)})[0]
    assert maps.shape == (2, 2, 80, 48)
    graph = onnx.load(str(path))
    props = {p.key: p.value for p in graph.metadata_props}
    assert json.loads(props["nuset_config"])["distance"] is True
    assert json.loads(props["nuset_metadata"])["nucleus_size"] == pytest.approx(19.0)
    assert max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) == 18


@pytest.mark.slow
def test_torchscript_gives_pytorchs_outputs(shipped, tmp_path):
    module, x, wanted = shipped
    path = export_model("default", tmp_path / "nuset.pt", "torchscript")
    extra = {"nuset_config.txt": "", "nuset_outputs.txt": ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    with torch.inference_mode():
        for got, want in zip(loaded(torch.from_numpy(x)), wanted):
            _close(got.numpy(), want)
        with pytest.raises(Exception, match="multiples of 16"):
            loaded(torch.zeros(1, 1, 100, 100))
    assert json.loads(extra["nuset_config.txt"])["base_width"] == module.net.config.base_width
    assert b"objectness" in extra["nuset_outputs.txt"]


def test_any_model_file_exports(tmp_path):
    """A model without the distance head (one map), not the shipped one."""
    net = NuSeTNet(NetworkConfig(base_width=4, distance=False)).eval()
    source = save_model(tmp_path / "small.nuset.pt", net, {"nucleus_size": 12.0})
    path = export_model(source, tmp_path / "small.pt", "torchscript")
    x = torch.from_numpy(np.random.default_rng(3).standard_normal((1, 1, 64, 96), dtype=np.float32))
    with torch.inference_mode():
        maps, objectness, _ = torch.jit.load(str(path))(x)
        wanted = MapsNetwork(load_model(source)[0], rpn=True).eval()(x)
    assert maps.shape == (1, 1, 64, 96)
    _close(maps.numpy(), wanted[0].numpy())
    _close(objectness.numpy(), wanted[1].numpy())


def test_errors_name_the_fix(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown export format 'tflite'; choose one of onnx, torchscript"):
        export_model(None, tmp_path / "m.tflite", "tflite")
    with pytest.raises(ValueError, match=r"m.onnx: a bioimage.io package is a .zip file"):
        export_model(None, tmp_path / "m.onnx", "bioimageio")
    existing = tmp_path / "m.pt"
    existing.write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match="m.pt exists; pass overwrite=True"):
        export_model(None, existing, "torchscript")
    assert existing.read_bytes() == b"mine"
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    missing = r'exporting to onnx needs .*onnxscript.*: pip install "nuset\[export\]"'
    with pytest.raises(ModuleNotFoundError, match=missing):
        export_model(None, tmp_path / "m.onnx", "onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_a_failed_check_leaves_the_output_as_it_was(tmp_path, monkeypatch):
    import nuset_engine.export as export

    existing = tmp_path / "m.pt"
    existing.write_bytes(b"mine")

    def failing(path, module, format):
        raise ExportError(f"{path}: differs")

    monkeypatch.setattr(export, "verify_export", failing)
    with pytest.raises(ExportError, match="differs"):
        export_model(None, existing, "torchscript", overwrite=True)
    assert existing.read_bytes() == b"mine"
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    pytest.importorskip("bioimageio.core")
    pytest.importorskip("onnxruntime")
    return export_model(None, tmp_path_factory.mktemp("bioimageio") / "nuset.zip", "bioimageio")


@pytest.mark.slow
def test_bioimageio_package_passes_bioimageios_test(package):
    from bioimageio.core import test_model

    summary = test_model(package, devices=["cpu"])
    assert summary.status == "passed", summary.format()
    tested = {d.name for d in summary.details}
    assert any("(torchscript)" in name for name in tested) and any("(onnx)" in name for name in tested)


@pytest.mark.slow
def test_bioimageio_package_contents(package, shipped, sample):
    from bioimageio.spec import load_model_description

    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        rdf = archive.read("rdf.yaml").decode()
        readme = archive.read("README.md").decode()
        test_input = np.load(archive.open("test_input.npy"))
        test_output = np.load(archive.open("test_output.npy"))
        cover = archive.read("cover.png")
    assert {"rdf.yaml", "weights.pt", "weights.onnx", "test_input.npy", "test_output.npy", "README.md",
            "cover.png"} <= names
    description = load_model_description(package)
    assert str(description.format_version).startswith("0.5.")
    assert str(description.license) == "MIT"
    assert [str(c.doi) for c in description.cite] == ["10.1371/journal.pcbi.1008193"]
    assert "NuSeT" in description.cite[0].text and "PLoS Comput Biol" in description.cite[0].text
    assert [str(a.id) for a in description.outputs[0].axes] == ["batch", "channel", "y", "x"]
    assert description.outputs[0].axes[1].channel_names == ["foreground_probability", "centre_distance"]
    (normalize,) = [p for p in description.inputs[0].preprocessing if p.id == "zero_mean_unit_variance"]
    assert [str(a) for a in normalize.kwargs.axes] == ["channel", "y", "x"]  # per image, as NuSeT's pass 1
    assert "format_version: 0.5." in rdf
    # the test input is the raw sample window; the output, the maps PyTorch gives on it
    assert np.array_equal(test_input[0, 0], sample[0][TEST_WINDOW].astype(np.float32))
    module, _, _ = shipped
    with torch.inference_mode():
        wanted = module(torch.from_numpy(whole_image_normalize(test_input[0, 0])[None, None]))[0].numpy()
    _close(test_output, wanted)
    # the README says what the package does not do; the cover is a 2:1 PNG under 500 kB
    assert "RPN-aided watershed" in readme and "nuset segment" in readme and "Validation" in readme
    import imageio.v3 as iio

    image = iio.imread(cover)
    assert cover[:8] == b"\x89PNG\r\n\x1a\n" and len(cover) < 500_000
    assert image.shape[1] == 2 * image.shape[0] and image.shape[2] == 3
