"""Training losses: weighted cross-entropy + soft Dice for the U-Net,
binary cross-entropy + smooth-L1 for the RPN (all weight 1, as in NuSeT),
and, for models with the distance head, binary cross-entropy against the
centre-distance map."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .rpn import flatten_head

__all__ = ["pixel_loss", "dice_loss", "rpn_loss", "distance_loss", "nuset_loss"]


def pixel_loss(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-pixel cross-entropy times the U-Net weight map, averaged.

    logits ``(B, 2, H, W)``, target ``(B, H, W)`` int64 in {0, 1}, weights ``(B, H, W)``.
    """
    return (F.cross_entropy(logits, target, reduction="none") * weights).mean()


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Soft Dice on softmax probabilities over both classes.

    The original applied Dice to raw logits, which rewards unbounded logits
    rather than overlap; on probabilities it is the usual overlap measure.
    """
    probs = torch.softmax(logits, dim=1)
    one_hot = F.one_hot(target, num_classes=logits.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    inter = (probs * one_hot).sum()
    return 1 - 2 * inter / ((probs**2).sum() + (one_hot**2).sum() + eps)


def rpn_loss(
    objectness: torch.Tensor, box_deltas: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Objectness BCE over sampled anchors and smooth-L1 (beta = 1/9, i.e.
    sigma = 3) over positive anchors, summed over the 4 coordinates.

    objectness ``(B, N)``, box_deltas ``(B, N, 4)``, labels ``(B, N)`` in
    {1, 0, -1}, targets ``(B, N, 4)``.
    """
    sampled = labels >= 0
    cls = F.binary_cross_entropy_with_logits(objectness[sampled], labels[sampled].float())
    positive = labels == 1
    if positive.any():
        box = F.smooth_l1_loss(box_deltas[positive], targets[positive], beta=1 / 9, reduction="sum")
        box = box / positive.sum()
    else:
        box = box_deltas.sum() * 0.0
    return cls, box


def distance_loss(logits: torch.Tensor, target: torch.Tensor, foreground: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against the soft centre-distance target: the mean over
    all pixels plus the mean over nucleus pixels, so that the hills inside
    nuclei (a small part of most images) weigh as much as the flat background.

    logits ``(B, 1, H, W)``, target ``(B, H, W)`` in [0, 1], foreground ``(B, H, W)`` bool.
    """
    per_pixel = F.binary_cross_entropy_with_logits(logits[:, 0], target, reduction="none")
    inside = per_pixel[foreground].mean() if foreground.any() else per_pixel.sum() * 0.0
    return per_pixel.mean() + inside


def nuset_loss(output, batch: dict) -> dict[str, torch.Tensor]:
    """All four terms and their sum for a network output and a training batch."""
    logits, deltas = zip(*(flatten_head(o, d) for o, d in zip(output.objectness, output.box_deltas)))
    terms = {
        "pixel": pixel_loss(output.foreground_logits, batch["target"], batch["weights"]),
        "dice": dice_loss(output.foreground_logits, batch["target"]),
    }
    terms["rpn_cls"], terms["rpn_box"] = rpn_loss(
        torch.stack(logits), torch.stack(deltas), batch["rpn_labels"], batch["rpn_targets"]
    )
    if output.distance_logits is not None:
        terms["distance"] = distance_loss(output.distance_logits, batch["distance"], batch["target"] > 0)
    terms["total"] = sum(terms.values())
    return terms
