"""Sweep the post-processing parameters (minimum box score, NMS threshold,
and for models with the distance head the core level) on the fixed
validation split; prints AP50, F1@0.5 and mean AP per setting.

Usage: python benchmarks/tune_postprocessing.py --images DIR --labels DIR [--model PATH]

Tuning happens on the validation split only (the hash split of `nuset
train`); the chosen defaults are then fixed in Segmenter.segment.
"""
from __future__ import annotations

import argparse
import itertools

import nuset_engine.segmenter
from nuset_engine import Segmenter
from nuset_engine.metrics import evaluate_pair, pool

from common import validation_samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--min-scores", type=float, nargs="+", default=[0.5, 0.7, 0.85, 0.95])
    parser.add_argument("--nms-thresholds", type=float, nargs="+", default=[0.1, 0.3])
    parser.add_argument("--core-levels", type=float, nargs="+", default=[nuset_engine.segmenter.CORE_LEVEL],
                        help="centre-distance levels of nucleus cores (segmenter.CORE_LEVEL)")
    args = parser.parse_args()
    _, samples = validation_samples(args.images, args.labels)
    segmenter = Segmenter.load(args.model, device="cpu")
    print("| core level | min_score | nms_threshold | AP50 | F1@0.5 | mean AP | split | merge |")
    print("|---|---|---|---|---|---|---|---|")
    for level, min_score, nms in itertools.product(args.core_levels, args.min_scores, args.nms_thresholds):
        nuset_engine.segmenter.CORE_LEVEL = level  # a module constant: set here for the sweep only
        s = pool([evaluate_pair(lab, segmenter.segment(img, min_score=min_score, nms_threshold=nms))
                  for img, lab in samples])
        print(f"| {level} | {min_score} | {nms} | {s['ap@0.50']:.3f} | {s['f1@0.50']:.3f} | {s['mean_ap']:.3f} | "
              f"{s['split']} | {s['merge']} |", flush=True)


if __name__ == "__main__":
    main()
