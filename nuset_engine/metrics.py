"""Segmentation metrics: the paper's pixel and object metrics, and AP/F1 at
IoU thresholds (AP = TP / (TP + FP + FN), as in the DSB 2018 and StarDist).

All functions take ``(H, W)`` integer label images (0 = background) and
accumulate raw counts, so scores over a dataset are pooled over nuclei
(``pool``) rather than averaged over images; pixel metrics are averaged over
images, as the paper does.

Object error kinds (after Caicedo et al. 2019 and the DeepCell toolbox):
ground-truth and predicted nuclei are linked when either covers at least half
of the other; each connected group of links is then classified: one GT to one
prediction with IoU >= 0.5 is a correct detection; one GT to several
predictions a split; several GT to one prediction a merge; several to several
a catastrophe; a lone GT a miss; a lone prediction a false detection.
Incorrect detections are the predictions not in a correct pair.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["overlap_table", "best_iou", "matching_counts", "pixel_metrics", "object_metrics", "evaluate_pair",
           "pool", "IOU_THRESHOLDS"]

IOU_THRESHOLDS = tuple(np.round(np.arange(0.5, 1.0, 0.05), 2))


def overlap_table(gt: np.ndarray, pred: np.ndarray):
    """Intersections ``(G, P)`` and areas of GT objects ``(G,)`` and predictions ``(P,)``,
    over the objects actually present (relabelled 1..G and 1..P)."""
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"label images differ in shape: {gt.shape} vs {pred.shape}")
    _, g = np.unique(gt, return_inverse=True)
    _, p = np.unique(pred, return_inverse=True)
    g, p = g.reshape(-1), p.reshape(-1)
    if not (gt == 0).any():
        g = g + 1
    if not (pred == 0).any():
        p = p + 1
    ng, npred = int(g.max()) + 1, int(p.max()) + 1
    inter = np.bincount(g * npred + p, minlength=ng * npred).reshape(ng, npred)
    return inter[1:, 1:], inter[1:, :].sum(1), inter[:, 1:].sum(0)


def _iou(inter, area_g, area_p):
    union = area_g[:, None] + area_p[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def best_iou(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each GT nucleus (overlap_table order): its best IoU with any
    prediction (0 without one), and its area in pixels."""
    inter, area_g, area_p = overlap_table(gt, pred)
    best = _iou(inter, area_g, area_p).max(1) if len(area_p) else np.zeros(len(area_g))
    return best, area_g


def matching_counts(gt: np.ndarray, pred: np.ndarray, thresholds=IOU_THRESHOLDS) -> dict:
    """TP/FP/FN per IoU threshold; for thresholds >= 0.5 matches are unique."""
    inter, ag, ap = overlap_table(gt, pred)
    iou = _iou(inter, ag, ap)
    counts = {}
    for t in thresholds:
        tp = int(((iou > t) if t >= 0.5 else (iou >= t)).any(1).sum()) if iou.size else 0
        counts[float(t)] = {"tp": tp, "fp": len(ap) - tp, "fn": len(ag) - tp}
    return counts


def pixel_metrics(gt: np.ndarray, pred: np.ndarray) -> dict:
    """Mean IU and F1 over the two classes, RMSE, pixel accuracy, precision, recall."""
    g, p = np.asarray(gt) > 0, np.asarray(pred) > 0
    tp, tn = np.sum(g & p), np.sum(~g & ~p)
    fp, fn = np.sum(~g & p), np.sum(g & ~p)
    n = g.size

    def ratio(a, b):
        return float(a / b) if b else 1.0

    return {
        "mean_iu": (ratio(tp, tp + fp + fn) + ratio(tn, tn + fp + fn)) / 2,
        "f1": (ratio(2 * tp, 2 * tp + fp + fn) + ratio(2 * tn, 2 * tn + fp + fn)) / 2,
        "rmse": float(np.sqrt((fp + fn) / n)),
        "pixel_accuracy": float((tp + tn) / n),
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
    }


def _touching(gt: np.ndarray) -> np.ndarray:
    """For each GT nucleus (overlap_table order): does it touch another one
    (8-neighbourhood)?"""
    ids = np.unique(gt[gt > 0])
    gt64 = gt.astype(np.int64)
    big = int(gt64.max()) + 1
    larger = ndimage.grey_dilation(gt64, size=(3, 3)) != gt64
    smaller = ndimage.grey_erosion(np.where(gt64 > 0, gt64, big), size=(3, 3)) != gt64
    return np.isin(ids, np.unique(gt64[(gt64 > 0) & (larger | smaller)]))


def object_metrics(gt: np.ndarray, pred: np.ndarray) -> dict:
    """Counts for the paper's object-level metrics on one image."""
    gt, pred = np.asarray(gt), np.asarray(pred)
    inter, ag, ap = overlap_table(gt, pred)
    ng, npred = len(ag), len(ap)
    iou = _iou(inter, ag, ap)
    out = Counter(n_gt=ng, n_pred=npred)
    if ng:
        out["missing"] = int(((inter.max(1) if npred else np.zeros(ng)) / ag < 0.7).sum())
        touch = _touching(gt)
        out["touching"] = int(touch.sum())
        separated = (iou > 0.5).any(1) if npred else np.zeros(ng, bool)
        out["touching_separated"] = int((touch & separated).sum())
    if npred:
        out["mis_detections"] = int(((inter.max(0) if ng else np.zeros(npred)) / ap < 0.7).sum())
    link = (inter >= 0.5 * ag[:, None]) | (inter >= 0.5 * ap[None, :]) if ng and npred else np.zeros((ng, npred), bool)
    link &= inter > 0
    rows, cols = np.nonzero(link)
    graph = coo_matrix((np.ones(len(rows)), (rows, ng + cols)), shape=(ng + npred, ng + npred))
    _, comp = connected_components(graph, directed=False)
    for c in np.unique(comp):
        members = np.flatnonzero(comp == c)
        gs, ps = members[members < ng], members[members >= ng] - ng
        if len(gs) == 1 and len(ps) == 1:
            if iou[gs[0], ps[0]] >= 0.5:
                out["correct"] += 1
            else:
                out["incorrect"] += 1
        elif len(gs) == 1 and len(ps) > 1:
            out["split"] += 1
            out["incorrect"] += len(ps)
        elif len(gs) > 1 and len(ps) == 1:
            out["merge"] += 1
            out["incorrect"] += 1
        elif len(gs) > 1 and len(ps) > 1:
            out["catastrophe"] += 1
            out["incorrect"] += len(ps)
        elif len(gs) == 1:
            out["missed"] += 1
        else:
            out["false_detection"] += 1
            out["incorrect"] += 1
    return dict(out)


def evaluate_pair(gt: np.ndarray, pred: np.ndarray) -> dict:
    """Everything for one image: pixel metrics, object counts, matching counts."""
    return {"pixel": pixel_metrics(gt, pred), "objects": object_metrics(gt, pred),
            "matching": matching_counts(gt, pred)}


def pool(results: list[dict]) -> dict:
    """Dataset scores from :func:`evaluate_pair` results.

    Pixel metrics are means over images; object metrics pool counts over all
    nuclei; AP/F1 pool TP/FP/FN over images.
    """
    if not results:
        raise ValueError("no images to evaluate")
    summary = {k: float(np.mean([r["pixel"][k] for r in results])) for k in results[0]["pixel"]}
    obj = Counter()
    for r in results:
        obj.update(r["objects"])
    n_gt = max(obj["n_gt"], 1)
    summary.update({
        "n_images": len(results), "n_gt": obj["n_gt"], "n_pred": obj["n_pred"],
        "correct_detections": obj["correct"], "incorrect_detections": obj["incorrect"],
        "split": obj["split"], "merge": obj["merge"], "catastrophe": obj["catastrophe"],
        "fn_rate": obj["missing"] / n_gt, "fp_rate": obj["mis_detections"] / n_gt,
        "touching_separated": obj["touching_separated"] / max(obj["touching"], 1),
    })
    aps = []
    for t in results[0]["matching"]:
        tp = sum(r["matching"][t]["tp"] for r in results)
        fp = sum(r["matching"][t]["fp"] for r in results)
        fn = sum(r["matching"][t]["fn"] for r in results)
        ap = tp / max(tp + fp + fn, 1)
        aps.append(ap)
        summary[f"ap@{t:.2f}"] = ap
        summary[f"f1@{t:.2f}"] = 2 * tp / max(2 * tp + fp + fn, 1)
        summary[f"precision@{t:.2f}"] = tp / max(tp + fp, 1)
        summary[f"recall@{t:.2f}"] = tp / max(tp + fn, 1)
    summary["mean_ap"] = float(np.mean(aps))
    return summary
