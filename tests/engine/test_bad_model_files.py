"""Model files that torch can read but that are not whole NuSeT models (keys
missing, wrong types): a ModelFileError naming the file, what is wrong and
the fix, never a KeyError or TypeError."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from nuset_cli.main import cli
from nuset_engine import ModelFileError, default_model_path, load_model

FIX = "use the shipped model or one written by `nuset train`"


@pytest.fixture(scope="module")
def shipped():
    return torch.load(default_model_path(), map_location="cpu", weights_only=True)


def damaged(tmp_path, shipped, change) -> str:
    payload = {**shipped, "state_dict": dict(shipped["state_dict"]), "metadata": dict(shipped["metadata"])}
    change(payload)
    path = tmp_path / "damaged.nuset.pt"
    torch.save(payload, path)
    return str(path)


@pytest.mark.parametrize("change, problem", [
    (lambda p: p.pop("state_dict"), "missing 'state_dict'"),
    (lambda p: p.pop("metadata"), "missing 'metadata'"),
    (lambda p: p.pop("config"), "missing 'config'"),
    (lambda p: p.pop("sha256"), "missing 'sha256'"),
    (lambda p: p.pop("format_version"), "missing 'format_version'"),
    (lambda p: p.update(format_version="2"), "'format_version' is of type str, expected int"),
    (lambda p: p.update(config=None), "'config' is of type NoneType, expected dict"),
    (lambda p: p.update(metadata=[1, 2]), "'metadata' is of type list, expected dict"),
    (lambda p: p.update(state_dict=[]), "'state_dict' is of type list, expected dict"),
    (lambda p: p["state_dict"].update({"head.weight": [0.5]}), "'state_dict' holds a list under 'head.weight'"),
])
def test_incomplete_payloads_are_named_with_the_fix(tmp_path, shipped, change, problem):
    path = damaged(tmp_path, shipped, change)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a valid NuSeT model file ({problem})"), message
    assert FIX in message and "upgrade" not in message


def test_a_newer_format_still_asks_for_an_upgrade(tmp_path, shipped):
    """A newer NuSeT may lay its files out differently: that is not damage."""
    path = damaged(tmp_path, shipped, lambda p: (p.pop("sha256"), p.update(format_version=2)))
    with pytest.raises(ModelFileError, match="format version 2 is newer than this NuSeT understands.*upgrade NuSeT"):
        load_model(path)


def test_the_cli_reports_a_damaged_model_cleanly(tmp_path, shipped):
    path = damaged(tmp_path, shipped, lambda p: p.pop("state_dict"))
    result = CliRunner().invoke(cli, ["info", "--model", path])
    assert result.exit_code == 1 and f"Error: {path}: not a valid NuSeT model file (missing 'state_dict')" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_shipped_model_still_loads(shipped):
    net, metadata = load_model()
    assert net.config.base_width == shipped["config"]["base_width"] and metadata["nucleus_size"] > 0
