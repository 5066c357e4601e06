"""Z-stacks: 3-D AP50 of the two ways of joining planes, against the mean
2-D AP50 of the planes, on the StarDist 3-D example (tests/data/stardist3d).

Usage:
  python benchmarks/stacks.py [--image tests/data/stardist3d/img3d.tif --labels tests/data/stardist3d/mask3d.tif]
                              [--z-steps 1 1.5 2 2.5 3]

Each plane is segmented once in 2-D (one nucleus size for the stack); the
planes' labels are then joined by the 3-D watershed and by overlap linking
(one missed plane tolerated), for each Z step (voxel size ``(z, 1, 1)``:
the example records none; its nuclei span a median 7 planes and 15 pixels,
so about 2). Prints a markdown table of AP50 (IoU > 0.5, one-to-one).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import tifffile

from nuset_engine import Segmenter
from nuset_engine.metrics import matching_counts
from nuset_engine.stacks import open_stack
from nuset_engine.volumes import default_min_planes, estimate_nucleus_diameter, join_watershed, link_planes

DATA = Path(__file__).parents[1] / "tests" / "data" / "stardist3d"


def ap50(gt, pred) -> float:
    c = matching_counts(gt, pred, [0.5])[0.5]
    return c["tp"] / max(c["tp"] + c["fp"] + c["fn"], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=DATA / "img3d.tif")
    parser.add_argument("--labels", default=DATA / "mask3d.tif")
    parser.add_argument("--z-steps", type=float, nargs="+", default=[1.0, 1.5, 2.0, 2.5, 3.0])
    args = parser.parse_args()
    truth = tifffile.imread(args.labels)
    segmenter = Segmenter.load(device="cpu")
    stack = open_stack(args.image, axes="ZYX")
    t0 = time.perf_counter()
    diameter = estimate_nucleus_diameter(segmenter, stack)
    planes = np.stack([segmenter.segment(p, nucleus_diameter=diameter) for p in stack.planes()]).astype(np.uint32)
    seconds = time.perf_counter() - t0
    per_plane = [ap50(g, p) for g, p in zip(truth, planes)]
    print(f"{stack.n_planes} planes of {stack.plane_shape}, nucleus diameter {diameter:.1f} px, "
          f"2-D segmentation {seconds:.1f} s; {len(np.unique(truth)) - 1} nuclei in the ground truth")
    print(f"mean 2-D AP50 of the planes: {np.mean(per_plane):.3f}\n")
    print("| Z step (x pixel) | watershed AP50 | nuclei | linking AP50 | nuclei |")
    print("|---|---|---|---|---|")
    for z_step in args.z_steps:
        voxel = (z_step, 1.0, 1.0)
        shed = planes.copy()
        n_shed = join_watershed(shed, diameter, voxel)
        linked = np.zeros_like(planes)
        n_linked = link_planes(iter(planes), linked, min_planes=default_min_planes(diameter, voxel))
        print(f"| {z_step:g} | {ap50(truth, shed):.3f} | {n_shed} | {ap50(truth, linked):.3f} | {n_linked} |")


if __name__ == "__main__":
    main()
