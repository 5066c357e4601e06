
import pytest
import torch

from nuset_engine.model_io import ModelFileError, load_model, save_model
from nuset_engine.network import NetworkConfig, NuSeTNet


@pytest.fixture
def model_file(tmp_path):
    net = NuSeTNet(NetworkConfig(base_width=4))
    return save_model(tmp_path / "m.nuset.pt", net, {"nucleus_size": 18.0}), net


def test_round_trip(model_file):
    path, net = model_file
    loaded, meta = load_model(path)
    assert meta["nucleus_size"] == 18.0
    x = torch.randn(1, 1, 32, 32)
    net.eval()
    with torch.no_grad():
        assert torch.allclose(loaded(x).foreground_logits, net(x).foreground_logits, atol=1e-2)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ModelFileError, match="nope.pt: model file not found"):
        load_model(tmp_path / "nope.pt")


def test_truncated_file(model_file):
    path, _ = model_file
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load_model(path)


def test_tampered_weights_fail_the_checksum(model_file):
    path, _ = model_file
    payload = torch.load(path, weights_only=True)
    key = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    payload["state_dict"][key] += 1
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(path)


def test_not_a_model_and_future_version(tmp_path, model_file):
    other = tmp_path / "other.pt"
    torch.save({"weights": 1}, other)
    with pytest.raises(ModelFileError, match="not a NuSeT model"):
        load_model(other)
    path, _ = model_file
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="upgrade NuSeT"):
        load_model(path)


def test_round_trip_keeps_per_level_widths(tmp_path):
    net = NuSeTNet(NetworkConfig(base_width=4, width_multipliers=(1, 2, 6, 12, 24)))
    loaded, _ = load_model(save_model(tmp_path / "wide.nuset.pt", net, {}))
    assert loaded.config == net.config and loaded.config.widths == [4, 8, 24, 48, 96]


def test_unknown_architecture_option_is_named(model_file):
    path, _ = model_file
    payload = torch.load(path, weights_only=True)
    payload["config"]["attention"] = True  # as if written by a newer NuSeT
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="m.nuset.pt: architecture not understood.*upgrade NuSeT"):
        load_model(path)
