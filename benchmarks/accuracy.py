"""Accuracy of the shipped model on the fixed validation split, against the
classical baseline, and its robustness to nucleus size.

Usage:
  python benchmarks/accuracy.py --images DIR --labels DIR [--scales 1 2 3 4] [--model PATH]

Prints a markdown table (pooled over the validation images) for:
NuSeT at each scale (images and labels up-scaled alike) and the Otsu +
watershed baseline at scale 1. Same numbers as `nuset evaluate`.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from skimage.transform import rescale

from nuset_engine import Segmenter
from nuset_engine.baseline import otsu_watershed
from nuset_engine.metrics import evaluate_pair, pool

from common import validation_samples

COLUMNS = ["ap@0.50", "f1@0.50", "mean_ap", "ap@0.75", "mean_iu", "correct_detections", "split", "merge",
           "catastrophe", "fn_rate", "fp_rate", "touching_separated", "n_pred", "n_gt"]


def scaled(samples, factor):
    if factor == 1:
        return samples
    return [(rescale(i.astype(np.float32), factor, order=1, preserve_range=True),
             rescale(lab, factor, order=0, preserve_range=True, anti_aliasing=False).astype(np.int32))
            for i, lab in samples]


def run(name, segment, samples):
    t0 = time.perf_counter()
    summary = pool([evaluate_pair(lab, segment(img)) for img, lab in samples])
    seconds = time.perf_counter() - t0
    cells = [f"{summary[c]:.3f}" if isinstance(summary[c], float) else str(summary[c]) for c in COLUMNS]
    print(f"| {name} | " + " | ".join(cells) + f" | {seconds:.0f} |", flush=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    args = parser.parse_args()

    _, samples = validation_samples(args.images, args.labels, args.validation_fraction)
    segmenter = Segmenter.load(args.model, device="cpu")
    print(f"{len(samples)} validation images, {sum(int(l.max() > 0) for _, l in samples)} with nuclei")
    print("| method | " + " | ".join(COLUMNS) + " | seconds |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for factor in args.scales:
        run(f"NuSeT, images x{factor:g}", segmenter.segment, scaled(samples, factor))
    run("Otsu + watershed (baseline)", otsu_watershed, samples)


if __name__ == "__main__":
    main()
