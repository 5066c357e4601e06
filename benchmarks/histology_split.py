"""A section-wise validation split of the non-fluorescence DSB2018 set.

Usage:
  python benchmarks/histology_split.py [--data ../shared/data/dsb2018_stage1_train_nonfluo]
                                       [--output benchmarks/histology_split.json]

Many of its H&E tiles are crops of the same tissue sections, so a random
per-image split puts near-copies on both sides. The files carry no source
information (ids are hashes), so tiles are grouped by how they look:

1. Each image is described by the 10th, 50th and 90th percentiles of its
   CIE Lab channels (9 numbers: the stain's colour and strength and the
   background, which tiles of one section share); features are
   standardized within each modality (H&E, brightfield).
2. Within each modality, average-linkage agglomerative clustering
   (scipy) with a distance threshold of :data:`THRESHOLD` (in standard
   deviations) makes the groups. The threshold was chosen by eye on
   montages of the groups: coarse on purpose (few, large groups), as
   tiles wrongly kept together cost nothing but tiles of one section
   split apart leak.
3. Whole groups go to validation, in the order of the SHA-1 of their
   smallest id (deterministic, independent of file order), each one taken
   if validation stays at most :data:`MAX_FRACTION` of the modality's
   images, until it holds at least :data:`MIN_FRACTION`.

The result, ``{id: {"modality", "group", "split"}}`` with the method, is
written as JSON (atomically; an existing file is replaced only with
``--overwrite``).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import tifffile
from scipy.cluster.hierarchy import fcluster, linkage
from skimage.color import gray2rgb, rgb2lab

from nuset_engine.io import atomic_write

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dsb2018_stage1_train_nonfluo"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "histology_split.json"
THRESHOLD = 2.0
MIN_FRACTION, MAX_FRACTION = 0.2, 0.3


def colour_features(image: np.ndarray) -> np.ndarray:
    """The 10th/50th/90th percentiles of the L, a, b channels of an image
    (gray or RGB(A)): 9 numbers."""
    rgb = gray2rgb(image) if image.ndim == 2 else image[..., :3]
    return np.percentile(rgb2lab(rgb).reshape(-1, 3), [10, 50, 90], axis=0).ravel()


def group_images(features: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Group labels 1..K (average linkage, standardized features)."""
    if len(features) < 2:
        return np.ones(len(features), int)
    spread = features.std(axis=0)
    standard = (features - features.mean(axis=0)) / np.where(spread > 0, spread, 1)
    return fcluster(linkage(standard, "average"), threshold, "distance")


def validation_groups(ids: list[str], groups: np.ndarray, low: float = MIN_FRACTION,
                      high: float = MAX_FRACTION) -> set[int]:
    """The groups held out for validation (see the module's docstring, step 3)."""
    members = {g: sorted(i for i, k in zip(ids, groups) if k == g) for g in set(groups.tolist())}
    order = sorted(members, key=lambda g: hashlib.sha1(members[g][0].encode()).hexdigest())
    held, count = set(), 0
    for g in order:
        if count >= low * len(ids):
            break
        if count + len(members[g]) <= high * len(ids):
            held.add(g)
            count += len(members[g])
    return held


def make_split(data: Path) -> dict:
    """``{id: {"modality", "group", "split"}}`` for the set in ``data``;
    groups are named ``<modality>-<k>``."""
    rows = list(csv.DictReader(open(data / "manifest.csv", newline="")))
    split = {}
    for modality in sorted({r["modality"] for r in rows}):
        ids = sorted(r["id"] for r in rows if r["modality"] == modality)
        features = np.array([colour_features(tifffile.imread(data / "images" / f"{i}.tif")) for i in ids])
        groups = group_images(features)
        held = validation_groups(ids, groups)
        for i, g in zip(ids, groups):
            split[i] = {"modality": modality, "group": f"{modality}-{int(g)}",
                        "split": "val" if g in held else "train"}
    return split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    if args.output.exists() and not args.overwrite:
        raise SystemExit(f"{args.output} exists; give --overwrite to replace it")
    split = make_split(args.data.resolve())
    document = {"method": __doc__.split("\n\n", 2)[2].split("\n\nThe result")[0],
                "threshold": THRESHOLD, "validation_fraction": [MIN_FRACTION, MAX_FRACTION], "images": split}
    atomic_write(args.output, lambda tmp: Path(tmp).write_text(json.dumps(document, indent=1) + "\n"))
    for modality in sorted({v["modality"] for v in split.values()}):
        entries = [v for v in split.values() if v["modality"] == modality]
        val = [v for v in entries if v["split"] == "val"]
        print(f"{modality}: {len(entries)} images in {len({v['group'] for v in entries})} groups; validation "
              f"{len(val)} images in groups {sorted({v['group'] for v in val})}")


if __name__ == "__main__":
    main()
