"""`nuset export`: writes a checked export, refuses to replace a file
without --overwrite, and names what is wrong."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from nuset_cli import export as export_command
from nuset_cli.main import cli
from nuset_engine.export import FORMATS, MapsNetwork
from nuset_engine.model_io import load_model


@pytest.fixture
def runner():
    return CliRunner()


@pytest.mark.slow
def test_export_writes_a_torchscript_model_that_gives_the_maps(runner, tmp_path):
    output = tmp_path / "nuset.pt"
    result = runner.invoke(cli, ["export", "--format", "torchscript", "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert f"wrote {output}" in result.output
    extra = {"nuset_metadata.txt": ""}
    loaded = torch.jit.load(str(output), _extra_files=extra)
    assert json.loads(extra["nuset_metadata.txt"])["nucleus_size"] == pytest.approx(19.0)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 1, 96, 64), dtype=np.float32))
    with torch.inference_mode():
        maps = loaded(x)[0]
        wanted = MapsNetwork(load_model(None)[0]).eval()(x)
    assert torch.allclose(maps, wanted, atol=1e-5)


def test_export_refuses_to_overwrite_without_the_flag(runner, tmp_path):
    output = tmp_path / "nuset.pt"
    output.write_bytes(b"mine")
    result = runner.invoke(cli, ["export", "default", "--format", "torchscript", "-o", str(output)])
    assert result.exit_code == 1
    assert f"{output} exists; pass --overwrite to replace" in result.output
    assert output.read_bytes() == b"mine"
    result = runner.invoke(cli, ["export", "default", "--format", "torchscript", "-o", str(output), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert torch.jit.load(str(output)) is not None


def test_unknown_format_and_bad_model_are_named(runner, tmp_path):
    result = runner.invoke(cli, ["export", "--format", "tflite", "-o", str(tmp_path / "m.tflite")])
    assert result.exit_code == 2
    assert "'tflite' is not one of 'onnx', 'torchscript', 'bioimageio'" in result.output
    missing = tmp_path / "nope.nuset.pt"
    result = runner.invoke(cli, ["export", str(missing), "--format", "torchscript", "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 1 and f"{missing}: model file not found" in result.output
    result = runner.invoke(cli, ["export", "--format", "bioimageio", "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 1 and "a bioimage.io package is a .zip file" in result.output
    assert "Traceback" not in result.output and not list(tmp_path.iterdir())


def test_the_command_offers_the_engines_formats():
    assert export_command.FORMATS == FORMATS
