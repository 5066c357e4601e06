"""Where a model's errors are, on the validation split: which images, which
nucleus sizes, the image border, and whether it underfits.

Usage:
  python benchmarks/errors.py --images DIR --labels DIR [--model PATH] [--widths 8 10 12]

Prints, with the model's default settings:

- one row per validation image (nuclei, TP/FP/FN at IoU 0.5, AP50, median
  nucleus side, merges, splits), worst images first;
- the share of ground-truth nuclei matched (IoU > 0.5) by nucleus area;
- how many unmatched nuclei touch the image border, and their area relative
  to the image's median nucleus;
- AP50 on a fixed subset of the training images (every 8th) beside the
  validation AP50: similar scores mean the model underfits;
- with ``--widths``, the time of one network pass on a 1024x1024 image per
  base width (random weights; network only, no post-processing).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from nuset_engine import Segmenter
from nuset_engine.data import find_pairs, load_pairs, split_pairs
from nuset_engine.metrics import best_iou, evaluate_pair, pool
from nuset_engine.network import NetworkConfig, NuSeTNet

AREA_BINS = [0, 64, 144, 400, 1600, np.inf]


def per_image(segmenter, pairs, samples):
    rows, matched_by_area, border = [], [], []
    for (image_id, _, _), (image, truth) in zip(pairs, samples):
        pred = segmenter.segment(image)
        result = evaluate_pair(truth, pred)
        m, o = result["matching"][0.5], result["objects"]
        best, area_gt = best_iou(truth, pred)
        matched = best > 0.5
        matched_by_area += list(zip(area_gt, matched))
        edge = np.unique(np.concatenate([truth[0], truth[-1], truth[:, 0], truth[:, -1]]))
        at_edge = np.isin(np.unique(truth[truth > 0]), edge)
        median = float(np.median(area_gt)) if len(area_gt) else 1.0
        border += [(e, a / median) for e, a, ok in zip(at_edge, area_gt, matched) if not ok]
        ap = m["tp"] / max(m["tp"] + m["fp"] + m["fn"], 1)
        side = float(np.median(np.sqrt(area_gt))) if len(area_gt) else 0.0
        rows.append((image_id[:10], image.shape, len(area_gt), m["tp"], m["fp"], m["fn"], ap, side,
                     o.get("merge", 0), o.get("split", 0)))
    return rows, np.array(matched_by_area, float).reshape(-1, 2), border


def network_pass_seconds(width: int, repeats: int = 3) -> float:
    net = NuSeTNet(NetworkConfig(base_width=width, distance=True)).eval().to(memory_format=torch.channels_last)
    x = torch.randn(1, 1, 1024, 1024).contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        net(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--widths", type=int, nargs="*", default=[])
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    args = parser.parse_args()

    train_pairs, val_pairs = split_pairs(find_pairs(args.images, args.labels), args.validation_fraction)
    train_pairs = train_pairs[::8]
    segmenter = Segmenter.load(args.model, device="cpu")
    rows, by_area, border = per_image(segmenter, val_pairs, load_pairs(val_pairs))

    print("| image | shape | nuclei | TP | FP | FN | AP50 | median side (px) | merges | splits |")
    print("|---" * 10 + "|")
    for r in sorted(rows, key=lambda r: -(r[4] + r[5])):
        print(f"| {r[0]} | {r[1][0]}x{r[1][1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {r[6]:.3f} | {r[7]:.1f} "
              f"| {r[8]} | {r[9]} |")
    tp, fp, fn = (sum(r[k] for r in rows) for k in (3, 4, 5))
    print(f"\nvalidation: TP {tp}, FP {fp}, FN {fn}, AP50 {tp / (tp + fp + fn):.3f}")

    print("\n| nucleus area (px) | nuclei | matched (IoU > 0.5) |\n|---|---|---|")
    for lo, hi in zip(AREA_BINS[:-1], AREA_BINS[1:]):
        k = (by_area[:, 0] >= lo) & (by_area[:, 0] < hi)
        share = f"{by_area[k, 1].mean():.3f}" if k.any() else "-"
        print(f"| {lo:g}-{hi:g} | {int(k.sum())} | {share} |")

    at_border = [rel for edge, rel in border if edge]
    print(f"\nunmatched nuclei: {len(border)}, touching the image border: {len(at_border)}", end="")
    if at_border:
        q = np.percentile(at_border, [25, 50, 75])
        print(f" (area / image median: quartiles {q[0]:.2f} {q[1]:.2f} {q[2]:.2f})")
    else:
        print()

    fit = pool([evaluate_pair(lab, segmenter.segment(img)) for img, lab in load_pairs(train_pairs)])
    print(f"training subset (every 8th training image, {len(train_pairs)} images, {fit['n_gt']} nuclei): "
          f"AP50 {fit['ap@0.50']:.3f}, F1 {fit['f1@0.50']:.3f}, mean AP {fit['mean_ap']:.3f}")

    for width in args.widths:
        print(f"width {width}: one network pass on 1024x1024 {network_pass_seconds(width):.2f} s")


if __name__ == "__main__":
    main()
