"""Shared fixtures. The shipped model and the bundled sample image are real
files inside the package; tests that need them use these fixtures."""
from __future__ import annotations

import numpy as np
import pytest
import tifffile

import nuset_engine
from nuset_engine import Segmenter


@pytest.fixture(scope="session")
def sample():
    """(image, ground-truth labels) of the bundled sample."""
    return tifffile.imread(nuset_engine.SAMPLE_IMAGE), tifffile.imread(nuset_engine.SAMPLE_LABELS)


@pytest.fixture(scope="session")
def segmenter():
    """The shipped default model on the CPU."""
    return Segmenter.load(device="cpu")


def disk(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


@pytest.fixture
def network_inputs(segmenter, monkeypatch):
    """The shapes of the images the network runs on, in order, while the
    test runs (the shipped model's ``network_maps`` is recorded)."""
    shapes = []
    original = type(segmenter).network_maps

    def recording(self, normalized, foreground=False, augment=False):
        shapes.append(normalized.shape)
        return original(self, normalized, foreground, augment)

    monkeypatch.setattr(type(segmenter), "network_maps", recording)
    return shapes
