"""NuSeT on colour (H&E) and brightfield images: the section-wise validation
split of the non-fluorescence DSB2018 set (benchmarks/histology_split.json).

Usage:
  python benchmarks/histology.py [--data DIR] [--modality M] [--plane-model NAME=PATH ...]
                                 [--model NAME=PATH ...]
  python benchmarks/histology.py --prepare OUT   # training folders for `nuset train`

Prints a markdown table per modality: AP50, mean AP (IoU 0.5-0.95) and
false positives per image (at IoU 0.5), pooled over the validation images,
for

- the Otsu + watershed baseline (:func:`~nuset_engine.baseline.otsu_watershed`)
  on the haematoxylin plane (H&E) or the inverted gray image (brightfield);
- each ``--plane-model NAME=PATH`` (default: the shipped model) given
  each input as a plane: luminance (what NuSeT did before input kinds: an
  RGB image read as gray), the haematoxylin plane (``rgb2hed``), and
  inverted luminance;
- each ``--model NAME=PATH`` given the images as read: its file's
  ``"input"`` says what it does with them (:mod:`nuset_engine.colour`).

``--prepare OUT`` writes the training side of the split, H&E tiles only,
as two folders of float32 planes with links to their labels:
``OUT/hed/{images,labels}`` (haematoxylin) and
``OUT/inverted/{images,labels}`` (inverted luminance), to train the two
input kinds on the same images and budget.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import tifffile

from nuset_engine.baseline import otsu_watershed
from nuset_engine.colour import haematoxylin
from nuset_engine.metrics import evaluate_pair, pool

from common import cpu_description, named_model
from histology_split import DEFAULT_DATA, DEFAULT_OUTPUT as SPLIT

LUMINANCE = np.array([0.2989, 0.5870, 0.1140], np.float32)  # as nuset_engine.io.to_grayscale


def luminance(image: np.ndarray) -> np.ndarray:
    """Gray as NuSeT reads RGB without an input kind (float32)."""
    return image[..., :3].astype(np.float32) @ LUMINANCE if image.ndim == 3 else image.astype(np.float32)


def inverted(image: np.ndarray) -> np.ndarray:
    """Inverted luminance: nuclei bright on a dark background."""
    return -luminance(image)


def hed_or_inverted(image: np.ndarray) -> np.ndarray:
    """The haematoxylin plane of RGB; inverted gray for gray images."""
    return haematoxylin(image) if image.ndim == 3 else inverted(image)


def load_split(data: Path, split_file: Path, side: str = "val") -> dict[str, list]:
    """``{modality: [(id, image, labels)]}`` for one side of the split."""
    split = json.loads(split_file.read_text())["images"]
    out: dict[str, list] = {}
    for image_id, entry in sorted(split.items()):
        if entry["split"] == side:
            out.setdefault(entry["modality"], []).append(
                (image_id, tifffile.imread(data / "images" / f"{image_id}.tif"),
                 tifffile.imread(data / "labels" / f"{image_id}.tif")))
    return out


def score(segment, samples) -> tuple[dict, float]:
    """Pooled scores of ``segment(image) -> labels`` and the seconds it took."""
    t0 = time.perf_counter()
    results = [evaluate_pair(labels, segment(image)) for _, image, labels in samples]
    summary = pool(results)
    summary["fp_per_image"] = sum(r["matching"][0.5]["fp"] for r in results) / len(results)
    return summary, time.perf_counter() - t0


def prepare(data: Path, split_file: Path, out: Path) -> None:
    """Write the training folders described in the module's docstring."""
    samples = load_split(data, split_file, "train")["histology_or_color"]
    for name, transform in (("hed", haematoxylin), ("inverted", inverted)):
        for sub in ("images", "labels"):
            (out / name / sub).mkdir(parents=True, exist_ok=False)
        for image_id, image, _ in samples:
            tifffile.imwrite(out / name / "images" / f"{image_id}.tif", transform(image).astype(np.float32))
            (out / name / "labels" / f"{image_id}.tif").symlink_to((data / "labels" / f"{image_id}.tif").resolve())
    print(f"{len(samples)} H&E training tiles written to {out}/hed and {out}/inverted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", type=Path, default=SPLIT)
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                        help="A model to score on the images as read (repeatable).")
    parser.add_argument("--plane-model", action="append", default=[], metavar="NAME=PATH",
                        help="A gray model to score on each plane: luminance, haematoxylin, inverted luminance "
                             "(repeatable; default: the shipped model).")
    parser.add_argument("--modality", choices=["histology_or_color", "brightfield_gray"],
                        help="Score one modality only (default: both).")
    parser.add_argument("--prepare", type=Path, metavar="OUT", help="Write training folders and stop.")
    args = parser.parse_args()
    data = args.data.resolve()
    if args.prepare:
        prepare(data, args.split, args.prepare)
        return
    hne = {"histology_or_color"}
    rows = [("Otsu + watershed on H (H&E) / inverted gray", lambda im: otsu_watershed(hed_or_inverted(im)), None)]
    for name, plane_model in map(named_model, args.plane_model or ["shipped model=default"]):
        rows += [(f"{name}, luminance (before)", lambda im, m=plane_model: m.segment(luminance(im)), None),
                 (f"{name}, haematoxylin plane", lambda im, m=plane_model: m.segment(haematoxylin(im)), hne),
                 (f"{name}, inverted luminance", lambda im, m=plane_model: m.segment(inverted(im)), None)]
    rows += [(name, segmenter.segment, None) for name, segmenter in map(named_model, args.model)]
    print(f"CPU: {cpu_description()}; split: {args.split.name}")
    for modality, samples in load_split(data, args.split).items():
        if args.modality and modality != args.modality:
            continue
        print(f"\n{modality}: {len(samples)} validation images, {sum(int(lab.max()) for *_, lab in samples)} nuclei")
        print("| method | AP50 | mean AP | FP per image | s |\n|---|---|---|---|---|")
        for name, segment, modalities in rows:
            if modalities is not None and modality not in modalities:
                continue
            try:
                summary, seconds = score(segment, samples)
            except ValueError as exc:  # a model for another input kind says why
                print(f"| {name} | refused: {str(exc)[:100]}... | | | |", flush=True)
                continue
            print(f"| {name} | {summary['ap@0.50']:.3f} | {summary['mean_ap']:.3f} | "
                  f"{summary['fp_per_image']:.1f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
