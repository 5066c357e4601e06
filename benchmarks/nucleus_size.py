"""The nucleus size measured at inference against the ground truth's.

Usage: python benchmarks/nucleus_size.py --images DIR --labels DIR [--factor K] [--limit N] [--model PATH]

Training stores the median over images of the ground truth's median
``max(bbox height, bbox width)`` (``anchor_base_size``: the model's
``nucleus_size``, ~19 px on DSB2018). For each validation image (enlarged
K times, as in ``enlarged.py``), pass 1's maps (the input's own
normalization, the input's scale) are measured as the segmenter can:

- ``cores``: the distance head's cores (what the segmenter measures);
- ``foreground``: the foreground mask's components (touching nuclei merge);
- ``grown``: each core grown back through the foreground along the predicted
  centre distance (a watershed, the final labelling's flood without its box
  seeds), i.e. whole nuclei, as in the ground truth.

Prints, per measure, the median and quartiles over images of the ratio of
the measured typical size (:func:`~nuset_engine.sizes.typical_size`) to the
ground truth's, and the mean absolute log ratio (0: always right).
"""
from __future__ import annotations

import argparse

import numpy as np
from scipy import ndimage
from skimage.segmentation import watershed

from nuset_engine import Segmenter
from nuset_engine.anchors import anchor_base_size
from nuset_engine.normalize import as_float_image, normalize_with
from nuset_engine.sizes import component_sizes, interior_mask, label_sizes, typical_size

from common import cpu_description, validation_samples
from enlarged import enlarge


def measures(segmenter: Segmenter, image: np.ndarray) -> dict[str, float | None]:
    """The typical size of pass 1's cores, foreground components and grown cores."""
    image = as_float_image(image)
    maps = segmenter.network_maps(normalize_with(image, float(image.mean(dtype=np.float64)),
                                                 float(image.std(dtype=np.float64))))[0]
    foreground = maps[0] > 0.5
    cores = ndimage.label(interior_mask(maps), structure=np.ones((3, 3), int))[0]
    grown = watershed(-maps[1], cores, mask=foreground, connectivity=2) if len(maps) > 1 else cores
    return {"cores": typical_size(*label_sizes(cores)), "foreground": typical_size(*component_sizes(foreground)),
            "grown": typical_size(*label_sizes(grown))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--factor", type=int, default=1, help="enlarge images and labels K times first")
    parser.add_argument("--limit", type=int, default=None, help="first N validation images only")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()

    _, samples = validation_samples(args.images, args.labels)
    samples = samples[: args.limit]
    segmenter = Segmenter.load(args.model, device="cpu")
    ratios: dict[str, list[float]] = {}
    for image, labels in samples:
        image, labels = enlarge(image, labels, args.factor)
        truth = anchor_base_size(labels)
        for name, size in measures(segmenter, image).items():
            if size is not None and labels.max() > 0:
                ratios.setdefault(name, []).append(size / truth)
    print(f"{len(samples)} validation images x{args.factor}, training nucleus size "
          f"{segmenter.training_nucleus_size:g} px; {cpu_description()}")
    print("| measure | median ratio to truth | quartiles | mean abs log ratio |")
    print("|---|---|---|---|")
    for name, values in ratios.items():
        values = np.asarray(values)
        q1, q2, q3 = np.percentile(values, [25, 50, 75])
        print(f"| {name} | {q2:.3f} | {q1:.3f}-{q3:.3f} | {np.mean(np.abs(np.log(values))):.3f} |")


if __name__ == "__main__":
    main()
