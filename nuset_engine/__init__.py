"""NuSeT: nuclear segmentation with a U-Net and a region proposal network
sharing one encoder, RPN-aided watershed and two-pass foreground
normalization (Yang et al. 2020, PLoS Comput Biol), in PyTorch.

Framework-neutral: numpy arrays in, label images out.

>>> from nuset_engine import Segmenter
>>> labels = Segmenter.load().segment(image)
"""
from pathlib import Path

from .anchors import anchor_base_size
from .metrics import evaluate_pair, pool
from .model_io import ModelFileError, default_model_path, load_model, save_model
from .normalize import foreground_normalize, whole_image_normalize
from .segmenter import SegmentationDetails, Segmenter
from .synthetic import synthetic_image
from .watershed import rpn_aided_watershed

__version__ = "0.1.0"

#: The bundled sample image (512x512 uint16, DSB2018 via StarDist, CC0/BSD-3)
#: and its ground-truth labels; see sample/README.txt.
SAMPLE_IMAGE = Path(__file__).parent / "sample" / "img2d.tif"
SAMPLE_LABELS = Path(__file__).parent / "sample" / "img2d_truth.tif"

__all__ = [
    "SAMPLE_IMAGE",
    "SAMPLE_LABELS",
    "Segmenter",
    "SegmentationDetails",
    "ModelFileError",
    "anchor_base_size",
    "default_model_path",
    "evaluate_pair",
    "foreground_normalize",
    "load_model",
    "pool",
    "rpn_aided_watershed",
    "save_model",
    "synthetic_image",
    "whole_image_normalize",
    "__version__",
]
