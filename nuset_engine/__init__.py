"""NuSeT: nuclear segmentation with a U-Net and a region proposal network
sharing one encoder, RPN-aided watershed and two-pass foreground
normalization (Yang et al. 2020, PLoS Comput Biol), in PyTorch.

Framework-neutral: numpy arrays in, label images out.

>>> from nuset_engine import Segmenter
>>> labels = Segmenter.load().segment(image)
"""
from __future__ import annotations

import importlib
from pathlib import Path

# Imported on first use (PEP 562): ``nuset --help``, the option table and the
# CellProfiler module read the package without paying for torch. Every name
# here can be imported from the package; those in __all__ (below) are the API,
# the others are kept for existing imports (their modules are the place to
# import them from).
_LAZY = {
    "anchor_base_size": "anchors",
    "evaluate_pair": "metrics",
    "pool": "metrics",
    "ModelFileError": "model_io",
    "default_model_path": "model_io",
    "load_model": "model_io",
    "save_model": "model_io",
    "foreground_normalize": "normalize",
    "whole_image_normalize": "normalize",
    "Option": "options",
    "OptionError": "options",
    "SegmentOptions": "options",
    "SegmentationDetails": "results",
    "Segmenter": "segmenter",
    "synthetic_image": "synthetic",
    "rpn_aided_watershed": "watershed",
    "OutputExistsError": "errors",
    "ImageTooLargeError": "errors",
    "OutputClashError": "errors",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

#: The bundled sample image (512x512 uint16, DSB2018 via StarDist, CC0/BSD-3)
#: and its ground-truth labels; see sample/README.txt.
SAMPLE_IMAGE = Path(__file__).parent / "sample" / "img2d.tif"
SAMPLE_LABELS = Path(__file__).parent / "sample" / "img2d_truth.tif"

#: The user API (README.md, "Use"): ``from nuset_engine import *`` gives these.
__all__ = [
    "Segmenter",
    "SegmentOptions",
    "SegmentationDetails",
    "OptionError",
    "ModelFileError",
    "OutputExistsError",
    "ImageTooLargeError",
    "OutputClashError",
    "SAMPLE_IMAGE",
    "SAMPLE_LABELS",
    "__version__",
]
