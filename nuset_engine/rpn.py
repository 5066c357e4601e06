"""Region proposal network logic: turning head outputs into boxes, and
building the training targets for the head.

Anchor tensors follow :func:`nuset_engine.anchors.generate_anchors`: ``(N, 4)``
with ``N = h * w * 21`` ordered (row, column, anchor).
"""
from __future__ import annotations

import torch

from .anchors import box_iou, clip_boxes, decode_boxes, encode_boxes, generate_anchors, nms
from .network import STRIDE

__all__ = ["flatten_head", "propose_boxes", "rpn_targets"]


def flatten_head(objectness: torch.Tensor, box_deltas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One image's head outputs ``(A, h, w)``, ``(4A, h, w)`` -> ``(N,)``, ``(N, 4)``."""
    a, h, w = objectness.shape
    logits = objectness.permute(1, 2, 0).reshape(-1)
    deltas = box_deltas.reshape(a, 4, h, w).permute(2, 3, 0, 1).reshape(-1, 4)
    return logits, deltas


def propose_boxes(
    objectness: torch.Tensor,
    box_deltas: torch.Tensor,
    base_size: float,
    image_size: tuple[int, int],
    *,
    score_threshold: float = 0.0,
    pre_nms_top_n: int | None = 2000,
    post_nms_top_n: int | None = 500,
    nms_threshold: float = 0.3,
    min_box_size: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Proposals for one image.

    Parameters
    ----------
    objectness, box_deltas : head outputs for one image, ``(A, h, w)`` and ``(4A, h, w)``.
    base_size : anchor base size in pixels (median nucleus size).
    image_size : ``(height, width)`` of the valid (unpadded) image, in pixels.
    score_threshold : drop proposals scoring below this before NMS (NMS is
        greedy by score, so this does not change the boxes kept above it).
    pre_nms_top_n, post_nms_top_n : caps before/after NMS (None: no cap; the
        segmenter uses no caps so that large images keep all their nuclei).

    Returns
    -------
    boxes ``(K, 4)`` and scores ``(K,)`` in [0, 1], highest score first.
    """
    logits, deltas = flatten_head(objectness.float(), box_deltas.float())
    anchors = generate_anchors(base_size, objectness.shape[1], objectness.shape[2], STRIDE).to(logits.device)
    scores = torch.sigmoid(logits)
    top = torch.nonzero(scores >= score_threshold).flatten()
    if pre_nms_top_n is not None and top.numel() > pre_nms_top_n:
        top = top[torch.topk(scores[top], pre_nms_top_n).indices]
    boxes = clip_boxes(decode_boxes(deltas[top], anchors[top]), *image_size)
    scores = scores[top]
    size_ok = ((boxes[:, 2] - boxes[:, 0]) >= min_box_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_box_size)
    boxes, scores = boxes[size_ok], scores[size_ok]
    keep = nms(boxes, scores, nms_threshold)[:post_nms_top_n]
    return boxes[keep], scores[keep]


def rpn_targets(
    anchors: torch.Tensor,
    gt_boxes: torch.Tensor,
    *,
    positive_iou: float = 0.7,
    negative_iou: float = 0.3,
    batch_size: int = 256,
    positive_fraction: float = 0.5,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampled anchor labels and box regression targets for one image.

    Anchors with IoU >= ``positive_iou`` to a nucleus box, and each nucleus's
    best anchor, are positive; IoU < ``negative_iou`` negative; the rest are
    ignored. ``batch_size`` anchors are sampled, at most ``positive_fraction``
    of them positive.

    Returns
    -------
    labels ``(N,)`` int64 in {1 positive, 0 negative, -1 ignored};
    targets ``(N, 4)`` float32 encoded boxes (meaningful where label is 1).
    """
    n = anchors.shape[0]
    labels = torch.full((n,), -1, dtype=torch.long)
    targets = torch.zeros((n, 4), dtype=torch.float32)
    if gt_boxes.numel() == 0:
        labels[:] = 0
    else:
        iou = box_iou(anchors, gt_boxes)  # (N, G)
        best_iou, best_gt = iou.max(dim=1)
        labels[best_iou < negative_iou] = 0
        gt_best = iou.max(dim=0).values  # (G,)
        is_best = (iou == gt_best[None, :]) & (gt_best[None, :] > 0)
        labels[is_best.any(dim=1)] = 1
        labels[best_iou >= positive_iou] = 1
        targets = encode_boxes(gt_boxes[best_gt], anchors)
    _subsample(labels, 1, int(batch_size * positive_fraction), generator)
    _subsample(labels, 0, batch_size - int((labels == 1).sum()), generator)
    return labels, targets


def _subsample(labels: torch.Tensor, value: int, limit: int, generator: torch.Generator | None) -> None:
    index = torch.nonzero(labels == value).flatten()
    if index.numel() > limit:
        drop = index[torch.randperm(index.numel(), generator=generator)[limit:]]
        labels[drop] = -1
