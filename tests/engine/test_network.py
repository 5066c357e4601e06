import pytest
import torch

from nuset_engine.network import NetworkConfig, NuSeTNet


@pytest.mark.parametrize("width", [4, 8])
def test_one_forward_gives_all_three_outputs(width):
    net = NuSeTNet(NetworkConfig(base_width=width)).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 1, 64, 96))
    assert out.foreground_logits.shape == (2, 2, 64, 96)
    assert out.objectness.shape == (2, 21, 4, 6)
    assert out.box_deltas.shape == (2, 84, 4, 6)


def test_paper_layout_is_available():
    net = NuSeTNet(NetworkConfig(base_width=64))
    widths = [block[0].out_channels for block in net.encoders]
    assert widths == [64, 128, 256, 512]
    assert net.bottleneck[0].out_channels == 1024


def test_sizes_not_multiple_of_16_are_refused():
    with pytest.raises(ValueError, match="multiples of 16"):
        NuSeTNet(NetworkConfig(base_width=4))(torch.zeros(1, 1, 40, 48))


def test_distance_head_adds_one_output_map():
    net = NuSeTNet(NetworkConfig(base_width=4, distance=True)).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 1, 32, 32))
    assert out.foreground_logits.shape == (1, 2, 32, 32) and out.distance_logits.shape == (1, 1, 32, 32)
    with torch.no_grad():
        assert NuSeTNet(NetworkConfig(base_width=4)).eval()(torch.randn(1, 1, 32, 32)).distance_logits is None
    # model files written before the option existed load without the head
    assert not NetworkConfig(**{"base_width": 8, "batch_norm": True}).distance


def test_width_multipliers_set_each_levels_channels():
    net = NuSeTNet(NetworkConfig(base_width=4, width_multipliers=(1, 2, 6, 12, 24))).eval()
    assert [block[0].out_channels for block in net.encoders] == [4, 8, 24, 48]
    assert net.bottleneck[0].out_channels == 96
    assert net.rpn.conv.in_channels == 48 and net.classifier.in_channels == 4
    with torch.no_grad():
        assert net(torch.randn(1, 1, 32, 32)).foreground_logits.shape == (1, 2, 32, 32)
    # model files store the config as plain data (lists); files from before the option load as doubling
    assert NetworkConfig(base_width=4, width_multipliers=[1, 2, 6, 12, 24]).widths == [4, 8, 24, 48, 96]
    assert NetworkConfig(**{"base_width": 8, "batch_norm": True}).widths == [8, 16, 32, 64, 128]
    with pytest.raises(ValueError, match="5 positive integers"):
        NetworkConfig(width_multipliers=(1, 2, 4, 8))
