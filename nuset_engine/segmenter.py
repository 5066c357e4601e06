"""The user-facing engine: ``Segmenter.load()`` then ``segmenter.segment(image)``.

One call runs NuSeT's pipeline: pass 1 (whole-image normalization) gives a
coarse foreground mask; its median nucleus size sets the scale (images whose
nuclei are much larger or smaller than the training data are resized so the
network sees familiar sizes); pass 2 (foreground normalization from the
pass-1 mask) gives the final mask and proposal boxes; the RPN-aided
watershed turns them into an instance label image at the input size.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from skimage.segmentation import relabel_sequential
from skimage.transform import resize

from .anchors import anchor_base_size
from .model_io import load_model
from .network import STRIDE, NuSeTNet
from .normalize import as_float_image, foreground_normalize, whole_image_normalize
from .rpn import propose_boxes
from .tiling import tiled_forward
from .watershed import label_dtype, mask_to_objects, rpn_aided_watershed

__all__ = ["Segmenter", "SegmentationDetails", "resolve_device"]

_SHARED: dict[tuple, "Segmenter"] = {}  # see Segmenter.shared
# Internal resize factors allowed: nuclei up to 8x larger than in training
# are shrunk; smaller ones are enlarged at most 2x (beyond that an image
# would grow by 4x per axis for little gain, and a noisy coarse mask could
# blow a small image up to gigapixels).
SCALE_LIMITS = (0.125, 2.0)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" picks CUDA when available; asking for CUDA without one is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available; use device='cpu' or 'auto'")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device}; use 'auto', 'cpu' or 'cuda'")
    return device


def _fold_batch_norm(net: torch.nn.Module) -> torch.nn.Module:
    """Fold every Conv2d + BatchNorm2d pair (eval mode) into one Conv2d."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in net.modules():
        if isinstance(module, torch.nn.Sequential):
            layers = list(module)
            for i in range(len(layers) - 1):
                if isinstance(layers[i], torch.nn.Conv2d) and isinstance(layers[i + 1], torch.nn.BatchNorm2d):
                    module[i] = fuse_conv_bn_eval(layers[i], layers[i + 1])
                    module[i + 1] = torch.nn.Identity()
    return net


def _empty_result(shape, params, return_details):
    labels = np.zeros(shape, np.uint16)
    if not return_details:
        return labels
    return labels, SegmentationDetails(np.zeros(shape, np.float32), np.zeros((0, 4)), np.zeros(0), 1.0, 0.0, params)


@dataclass
class SegmentationDetails:
    """What :meth:`Segmenter.segment` computed besides the labels.

    Coordinates are in input-image pixels. ``boxes`` ``(N, 4)`` as
    ``(x1, y1, x2, y2)`` with ``scores`` ``(N,)``; ``foreground_probability``
    ``(H, W)`` float32 from the final pass; ``scale`` is the factor the image
    was resized by internally; ``nucleus_size`` the median nucleus size
    (pixels, input scale) used for the anchors.
    """

    foreground_probability: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    scale: float
    nucleus_size: float
    params: dict = field(default_factory=dict)


class Segmenter:
    """A NuSeT model ready to segment 2-D grayscale images.

    Examples
    --------
    >>> seg = Segmenter.load()                      # the shipped model
    >>> labels = seg.segment(image)                 # (H, W) uint16
    >>> labels, details = seg.segment(image, return_details=True)
    """

    def __init__(self, net: NuSeTNet, metadata: dict | None = None, device: str | torch.device = "auto"):
        self.device = resolve_device(device)
        # Inference copy: batch norm folded into the convolutions (same function,
        # ~15% less time) and channels-last (roughly halves CPU convolution time).
        # A copy, so that a network still being trained is left untouched.
        self.net = _fold_batch_norm(copy.deepcopy(net).eval()).to(self.device, memory_format=torch.channels_last)
        self.metadata = dict(metadata or {})
        # Nucleus size (pixels, max bbox side) the model saw most in training.
        self.training_nucleus_size = float(self.metadata.get("nucleus_size", 20.0))

    @classmethod
    def load(cls, path: str | Path | None = None, device: str = "auto") -> "Segmenter":
        """Load a model file (``None``: the model shipped with the package)."""
        net, metadata = load_model(path)
        return cls(net, metadata, device)

    @classmethod
    def shared(cls, path: str | Path | None = None, device: str = "auto") -> "Segmenter":
        """Like :meth:`load`, but loaded once per process and reused, for
        wrappers that segment many images (batch workers, the Fiji bridge)."""
        key = (None if path is None else str(path), str(device))
        if key not in _SHARED:
            _SHARED[key] = cls.load(path, device)
        return _SHARED[key]

    def foreground_probability(self, normalized: np.ndarray, tile_size: int | None = None):
        """Run the network on a normalized ``(H, W)`` image of any size.

        The image is padded (mirror) to a multiple of 16 and the outputs are
        cropped back, so no border pixel is lost. With ``tile_size`` (pixels)
        larger images run in overlapping tiles (see :mod:`.tiling`).

        Returns
        -------
        The ``(H, W)`` foreground probability, and the RPN objectness
        ``(A, Hp/16, Wp/16)`` and box deltas ``(4A, Hp/16, Wp/16)`` of the
        padded image.
        """
        h, w = normalized.shape
        padded = np.pad(normalized, ((0, -h % STRIDE), (0, -w % STRIDE)), mode="symmetric")
        if tile_size and max(padded.shape) > tile_size:
            prob, objectness, deltas = tiled_forward(self._forward, padded, tile_size)
        else:
            prob, objectness, deltas = self._forward(padded)
        return prob[:h, :w], objectness, deltas

    @torch.inference_mode()
    def _forward(self, padded: np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(padded, np.float32))[None, None].to(self.device)
        out = self.net(x.contiguous(memory_format=torch.channels_last))
        prob = torch.softmax(out.foreground_logits.float(), dim=1)[0, 1]
        return prob.cpu().numpy(), out.objectness[0], out.box_deltas[0]

    def _choose_scale(self, coarse_mask: np.ndarray, nucleus_diameter: float | None, auto_scale: bool) -> float:
        if nucleus_diameter is not None:
            if not nucleus_diameter > 0:
                raise ValueError(f"nucleus_diameter must be positive pixels, got {nucleus_diameter}")
            size = float(nucleus_diameter)
        elif auto_scale and coarse_mask.any():
            size = anchor_base_size(mask_to_objects(coarse_mask))
        else:
            return 1.0
        scale = float(np.clip(self.training_nucleus_size / max(size, 1.0), *SCALE_LIMITS))
        # Within a factor 1.5 the network copes (it trained with scale jitter);
        # resizing then would only cost time and blur.
        return 1.0 if abs(math.log(scale)) < math.log(1.5) and nucleus_diameter is None else scale

    def segment(
        self,
        image: np.ndarray,
        *,
        min_score: float = 0.85,
        nms_threshold: float = 0.3,
        watershed: bool = True,
        two_pass: bool = True,
        min_size_fraction: float = 0.2,
        nucleus_diameter: float | None = None,
        auto_scale: bool = True,
        tile_size: int | None = None,
        return_details: bool = False,
    ):
        """Segment nuclei in one 2-D grayscale image.

        Parameters
        ----------
        image : (H, W) array, any integer, bool or float dtype (finite values).
        min_score : minimum RPN box score (0-1) for a box to seed the watershed.
        nms_threshold : IoU above which overlapping proposals are suppressed.
        watershed : use the RPN-aided watershed; ``False`` gives one object per
            connected component of the foreground mask (plain U-Net).
        two_pass : foreground normalization pass; ``False`` stops after pass 1.
        min_size_fraction : objects below this fraction of the mean nucleus
            area are removed and holes below it filled (0 disables).
        nucleus_diameter : typical nucleus diameter in pixels; overrides the
            automatic estimate from pass 1.
        auto_scale : resize images whose estimated nucleus size is far from
            the training size.
        tile_size : run the network in overlapping tiles of this many pixels
            (a multiple of 16, at least 144) on larger images, to bound memory;
            ``None`` runs whole images.
        return_details : also return a :class:`SegmentationDetails`.

        Returns
        -------
        labels : (H, W) uint16 (uint32 above 65535 nuclei), 0 = background.
        details : only when ``return_details``.
        """
        image = as_float_image(image)
        params = dict(min_score=min_score, nms_threshold=nms_threshold, watershed=watershed, two_pass=two_pass,
                      min_size_fraction=min_size_fraction, nucleus_diameter=nucleus_diameter, auto_scale=auto_scale,
                      tile_size=tile_size)
        h, w = image.shape
        if image.min() == image.max():  # no contrast, no nuclei; spares the network a blank input
            return _empty_result(image.shape, params, return_details)
        prob, objectness, deltas = self.foreground_probability(whole_image_normalize(image), tile_size)
        scale = self._choose_scale(prob > 0.5, nucleus_diameter, auto_scale)
        work = image
        if scale != 1.0:
            shape = (max(1, round(h * scale)), max(1, round(w * scale)))
            work = resize(image, shape, order=1, preserve_range=True, anti_aliasing=scale < 1).astype(np.float32)
            prob, objectness, deltas = self.foreground_probability(whole_image_normalize(work), tile_size)
        if two_pass:
            prob, objectness, deltas = self.foreground_probability(foreground_normalize(work, prob > 0.5), tile_size)
        mask = prob > 0.5
        objects = mask_to_objects(mask, min_size_fraction)
        base = anchor_base_size(objects)
        # Only boxes scoring >= min_score can seed; no caps, so large images keep every nucleus.
        boxes, scores = propose_boxes(objectness, deltas, base, work.shape, score_threshold=min_score,
                                      pre_nms_top_n=None, post_nms_top_n=None, nms_threshold=nms_threshold)
        boxes, scores = boxes.cpu().numpy(), scores.cpu().numpy()
        if watershed:
            labels = rpn_aided_watershed(mask, boxes, scores, min_score=min_score,
                                         min_size_fraction=min_size_fraction)
        else:
            labels = objects
        if scale != 1.0:
            labels = resize(labels, (h, w), order=0, preserve_range=True, anti_aliasing=False)
            # nuclei thinner than a pixel at the input scale vanish: keep ids 1..N
            labels, _, _ = relabel_sequential(labels.astype(np.int64))
            labels = labels.astype(label_dtype(int(labels.max(initial=0))))
            prob = resize(prob, (h, w), order=1, preserve_range=True).astype(np.float32)
            boxes = boxes / scale
        if not return_details:
            return labels
        return labels, SegmentationDetails(prob.astype(np.float32), boxes, scores, scale, base / scale, params)
