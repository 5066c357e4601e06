"""Anchors, box coding, IoU and NMS for NuSeT's region proposal network.

Boxes are ``(x1, y1, x2, y2)`` in continuous pixel coordinates (a pixel ``i``
spans ``[i, i+1)``), as float tensors of shape ``(N, 4)``.

NuSeT's twist on Faster R-CNN anchors: the anchor base size is not fixed but
set per image to the median nucleus size, so one set of 21 anchor shapes
covers small and large nuclei alike.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage

__all__ = [
    "ANCHOR_SCALES",
    "ANCHOR_RATIOS",
    "DEFAULT_BASE_SIZE",
    "anchor_base_size",
    "anchor_shapes",
    "generate_anchors",
    "masks_to_boxes",
    "box_iou",
    "encode_boxes",
    "decode_boxes",
    "clip_boxes",
    "nms",
]

ANCHOR_SCALES = (0.5, 1.0, 2.0)
ANCHOR_RATIOS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # height / width
NUM_ANCHORS = len(ANCHOR_SCALES) * len(ANCHOR_RATIOS)  # 21
DEFAULT_BASE_SIZE = 20.0  # pixels; median DSB2018 nucleus size, used for empty masks
_MAX_DELTA = math.log(1000.0 / 16)  # clamp for dw/dh so exp() cannot overflow


def anchor_base_size(mask: np.ndarray, default: float = DEFAULT_BASE_SIZE) -> float:
    """Median over objects of ``max(bbox height, bbox width)``, in pixels.

    Parameters
    ----------
    mask : (H, W) array
        Instance labels, or a binary mask (then 8-connected components are
        the objects).
    default : float
        Returned when the mask has no object, so an empty mask never gives NaN.
    """
    mask = np.asarray(mask)
    if mask.dtype == bool or mask.max(initial=0) <= 1:
        mask, _ = ndimage.label(mask > 0, structure=np.ones((3, 3), int))
    slices = [s for s in ndimage.find_objects(mask) if s is not None]
    if not slices:
        return float(default)
    sizes = [max(s[0].stop - s[0].start, s[1].stop - s[1].start) for s in slices]
    return float(np.median(sizes))


def anchor_shapes(base_size: float) -> torch.Tensor:
    """The 21 anchor (height, width) pairs for a base size; shape ``(21, 2)``.

    Ratio-major order: for each ratio, the three scales. ``h = s*sqrt(r)*base``,
    ``w = s/sqrt(r)*base``, so every anchor of one scale has the same area.
    """
    shapes = []
    for r in ANCHOR_RATIOS:
        for s in ANCHOR_SCALES:
            shapes.append((s * math.sqrt(r) * base_size, s / math.sqrt(r) * base_size))
    return torch.tensor(shapes, dtype=torch.float32)


def generate_anchors(base_size: float, feat_h: int, feat_w: int, stride: int = 16) -> torch.Tensor:
    """All anchors of a ``feat_h x feat_w`` feature map, shape ``(feat_h*feat_w*21, 4)``.

    Ordered position-major (row, column, anchor) to match the RPN head's
    ``(A, H, W) -> (H, W, A)`` flattening. Anchors are centred on the centre
    of each stride cell (the original used the cell's top-left corner, which
    shifts every anchor by half a cell).
    """
    hw = anchor_shapes(base_size)  # (A, 2)
    cy = (torch.arange(feat_h, dtype=torch.float32) + 0.5) * stride
    cx = (torch.arange(feat_w, dtype=torch.float32) + 0.5) * stride
    cy, cx = torch.meshgrid(cy, cx, indexing="ij")
    centres = torch.stack([cx, cy], dim=-1).reshape(-1, 1, 2)  # (HW, 1, 2) as (x, y)
    half = torch.stack([hw[:, 1], hw[:, 0]], dim=-1).reshape(1, -1, 2) / 2  # (1, A, 2) as (w/2, h/2)
    return torch.cat([centres - half, centres + half], dim=-1).reshape(-1, 4)


def masks_to_boxes(labels: np.ndarray) -> torch.Tensor:
    """Tight boxes of every labelled object, shape ``(N, 4)``, in label order."""
    slices = ndimage.find_objects(np.asarray(labels))
    boxes = [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in slices if s is not None]
    return torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU, ``(N, 4) x (M, 4) -> (N, M)``."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / union.clamp(min=1e-6)


def _centre_size(boxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h, w, h


def encode_boxes(boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Faster R-CNN regression targets ``(dx, dy, dw, dh)`` of ``boxes`` w.r.t. ``anchors``."""
    ax, ay, aw, ah = _centre_size(anchors)
    bx, by, bw, bh = _centre_size(boxes)
    return torch.stack(
        [(bx - ax) / aw, (by - ay) / ah, torch.log(bw / aw), torch.log(bh / ah)], dim=-1
    )


def decode_boxes(deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`encode_boxes`; ``dw``/``dh`` are clamped to avoid overflow."""
    ax, ay, aw, ah = _centre_size(anchors)
    dx, dy = deltas[:, 0], deltas[:, 1]
    dw = deltas[:, 2].clamp(max=_MAX_DELTA)
    dh = deltas[:, 3].clamp(max=_MAX_DELTA)
    cx, cy = ax + dx * aw, ay + dy * ah
    w, h = aw * torch.exp(dw), ah * torch.exp(dh)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def clip_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Clip boxes to the image ``[0, width] x [0, height]``."""
    x = boxes[:, 0::2].clamp(0, width)
    y = boxes[:, 1::2].clamp(0, height)
    return torch.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], dim=-1)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression; indices kept, highest score first.

    Boxes are bucketed on a grid as coarse as the largest box, so each box is
    compared only with kept boxes in its 3x3 neighbourhood of cells (two boxes
    that overlap cannot be further apart): linear in the number of boxes,
    which matters for whole-slide images with tens of thousands of nuclei.
    (torchvision's compiled ``nms`` is not used: torchvision wheels do not
    load beside every torch build.)
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    order = torch.argsort(scores, descending=True)
    b = boxes[order].detach().cpu().double().numpy()
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    cell = max(1.0, float(np.max(b[:, 2:] - b[:, :2])))
    gx = np.floor((b[:, 0] + b[:, 2]) / 2 / cell).astype(np.int64)
    gy = np.floor((b[:, 1] + b[:, 3]) / 2 / cell).astype(np.int64)
    grid: dict[tuple[int, int], list[int]] = {}
    keep = []
    for k in range(len(b)):
        near = [m for dx in (-1, 0, 1) for dy in (-1, 0, 1) for m in grid.get((gx[k] + dx, gy[k] + dy), ())]
        if near:
            m = np.asarray(near)
            iw = np.clip(np.minimum(b[m, 2], b[k, 2]) - np.maximum(b[m, 0], b[k, 0]), 0, None)
            ih = np.clip(np.minimum(b[m, 3], b[k, 3]) - np.maximum(b[m, 1], b[k, 1]), 0, None)
            inter = iw * ih
            if np.any(inter / np.maximum(area[m] + area[k] - inter, 1e-6) > iou_threshold):
                continue
        keep.append(k)
        grid.setdefault((gx[k], gy[k]), []).append(k)
    return order[torch.as_tensor(keep, dtype=torch.long, device=order.device)]
