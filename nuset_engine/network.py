"""The NuSeT network: a U-Net and a region proposal network sharing one encoder.

Shapes (B = batch, H and W multiples of 16, A = 21 anchors per cell):

- input ``(B, 1, H, W)`` float32, normalized intensities;
- ``foreground_logits`` ``(B, 2, H, W)`` (background, nucleus);
- ``objectness`` ``(B, A, H/16, W/16)`` logits (sigmoid gives the score);
- ``box_deltas`` ``(B, 4*A, H/16, W/16)`` ``(dx, dy, dw, dh)`` per anchor;
- ``distance_logits`` ``(B, 1, H, W)`` (sigmoid gives the centre distance,
  :func:`~nuset_engine.weights.centre_distance`) with ``distance=True``,
  else ``None``.

Differences from the original TensorFlow graph, on purpose: batch
normalization after each convolution (trains in far fewer steps, which is
what makes CPU training feasible); a skip connection at every decoder level;
a ReLU after the RPN's shared 3x3 convolution; a single sigmoid logit per
anchor instead of a two-way softmax (equivalent, half the outputs); and,
optionally (``distance=True``), one more output map: each nucleus' distance
to its edge, scaled to 1 at its centre. The original's binary target has no
background between touching nuclei, so its U-Net cannot learn where they
part and the watershed must guess from the mask's shape alone; the distance
map has a valley there. (A thin "touching border" class was tried first: a
width-8 network had not learned the 2-pixel strip after 6 epochs; the smooth
map is far easier to learn.)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import nn

from .anchors import NUM_ANCHORS

__all__ = ["NetworkConfig", "NuSeTNet", "NetworkOutput"]

STRIDE = 16  # four 2x2 poolings
DOUBLING = (1, 2, 4, 8, 16)  # the paper's channels per level, in multiples of the base width


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture hyper-parameters. ``base_width=64`` is the paper's layout
    (64/128/256/512/1024); narrower widths trade accuracy for CPU speed.

    ``width_multipliers`` gives the channels of the four encoder levels and
    the bottleneck as multiples of ``base_width`` (the paper doubles at each
    level: 1, 2, 4, 8, 16). The full-resolution level costs most of a pass on
    a CPU, so widening only the deep levels (e.g. 1, 2, 6, 12, 24) adds
    capacity for little time.
    """

    base_width: int = 16
    batch_norm: bool = True
    distance: bool = False  # centre-distance output map (splits touching nuclei)
    width_multipliers: tuple[int, ...] = DOUBLING

    def __post_init__(self) -> None:
        # Stored models carry the config as JSON, where tuples become lists.
        object.__setattr__(self, "width_multipliers", tuple(int(m) for m in self.width_multipliers))
        if len(self.width_multipliers) != 5 or min(self.width_multipliers) < 1:
            raise ValueError("width_multipliers needs 5 positive integers (4 encoder levels and the bottleneck), "
                             f"got {self.width_multipliers}")

    @property
    def widths(self) -> list[int]:
        """Channels of the encoder levels 1-4 and the bottleneck."""
        return [self.base_width * m for m in self.width_multipliers]

    def to_dict(self) -> dict:
        return asdict(self)


class NetworkOutput(NamedTuple):
    foreground_logits: torch.Tensor
    objectness: torch.Tensor
    box_deltas: torch.Tensor
    distance_logits: torch.Tensor | None = None


def _conv_block(cin: int, cout: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c_in in (cin, cout):
        layers.append(nn.Conv2d(c_in, cout, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class RPNHead(nn.Module):
    """3x3 shared convolution, then 1x1 objectness and 1x1 box outputs."""

    def __init__(self, channels: int, num_anchors: int = NUM_ANCHORS):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.objectness = nn.Conv2d(channels, num_anchors, 1)
        self.box_deltas = nn.Conv2d(channels, 4 * num_anchors, 1)
        for layer, std in ((self.conv, 0.01), (self.objectness, 0.01), (self.box_deltas, 0.001)):
            nn.init.normal_(layer.weight, std=std)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.relu(self.conv(x))
        return self.objectness(x), self.box_deltas(x)


class NuSeTNet(nn.Module):
    """U-Net (depth 4) with an RPN head on the stride-16 encoder features."""

    def __init__(self, config: NetworkConfig | None = None):
        super().__init__()
        self.config = config or NetworkConfig()
        bn = self.config.batch_norm
        *widths, bottleneck = self.config.widths
        self.encoders = nn.ModuleList()
        cin = 1
        for c in widths:
            self.encoders.append(_conv_block(cin, c, bn))
            cin = c
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _conv_block(widths[-1], bottleneck, bn)
        self.upsamplers = nn.ModuleList()
        self.decoders = nn.ModuleList()
        cin = bottleneck
        for c in reversed(widths):
            self.upsamplers.append(nn.ConvTranspose2d(cin, c, 2, stride=2))
            self.decoders.append(_conv_block(2 * c, c, bn))
            cin = c
        self.classifier = nn.Conv2d(widths[0], 3 if self.config.distance else 2, 1)
        self.rpn = RPNHead(widths[-1])

    def forward(self, x: torch.Tensor) -> NetworkOutput:
        if x.shape[-1] % STRIDE or x.shape[-2] % STRIDE:
            raise ValueError(f"input height and width must be multiples of {STRIDE}, got {tuple(x.shape)}")
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        objectness, box_deltas = self.rpn(x)  # pool4 output, stride 16
        x = self.bottleneck(x)
        for up, decoder, skip in zip(self.upsamplers, self.decoders, reversed(skips)):
            x = decoder(torch.cat([up(x), skip], dim=1))
        x = self.classifier(x)
        if self.config.distance:
            return NetworkOutput(x[:, :2], objectness, box_deltas, x[:, 2:])
        return NetworkOutput(x, objectness, box_deltas)
