"""Accuracy and time on the validation split enlarged k times (large nuclei).

Usage: python benchmarks/enlarged.py --images DIR --labels DIR [--factors 1 3 4] [--model PATH]
                                     [--limit N]
       python benchmarks/enlarged.py --sample 5 --factors 3     # the bundled sample, 5 times

Each validation image is enlarged k times (linear interpolation; each
nucleus of the labels too), so its nuclei are k times larger than the model saw in
training, as on a high-magnification microscope. Two runs per factor:
``auto`` (default options: the nucleus size is estimated) and ``diameter``
(``nucleus_diameter`` given: k x the model's training nucleus size, i.e. the
scale a user who knows the magnification would give). Prints pooled AP at
IoU 0.5 and 0.75, mean AP (0.5-0.95) and the seconds per image, with the CPU
and thread count. The two runs of a factor alternate image by image, so a
change in the machine's load affects both alike.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import tifffile
import torch
from scipy import ndimage

import nuset_engine
from nuset_engine import Segmenter
from nuset_engine.metrics import evaluate_pair, pool

from common import cpu_description, validation_samples


def enlarge(image: np.ndarray, labels: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """The image enlarged by linear interpolation; each nucleus of the
    labels too (its mask interpolated, > 0.5), so that true outlines are as
    smooth as a microscope's, not steps of ``factor`` pixels that would
    favour predictions made on the same coarse grid."""
    if factor == 1:
        return image, labels
    big = ndimage.zoom(image.astype(np.float32), factor, order=1, grid_mode=True, mode="grid-mirror")
    out = np.zeros(big.shape, labels.dtype)
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        pad = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in sl)
        mask = ndimage.zoom((labels[pad] == index).astype(np.float32), factor, order=1, grid_mode=True,
                            mode="grid-constant") > 0.5
        window = tuple(slice(s.start * factor, s.start * factor + n) for s, n in zip(pad, mask.shape))
        out[window][mask & (out[window] == 0)] = index
    return big, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images")
    parser.add_argument("--labels")
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 3, 4])
    parser.add_argument("--model", default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N validation images only")
    parser.add_argument("--sample", type=int, default=0, metavar="N",
                        help="the bundled sample image N times instead of the validation split (for timing)")
    args = parser.parse_args()

    if args.sample:
        samples = [(tifffile.imread(nuset_engine.SAMPLE_IMAGE), tifffile.imread(nuset_engine.SAMPLE_LABELS))]
        samples *= args.sample
    else:
        _, samples = validation_samples(args.images, args.labels)
        samples = samples[: args.limit]
    segmenter = Segmenter.load(args.model, device="cpu")
    print(f"{len(samples)} {'sample' if args.sample else 'validation'} images; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{cpu_description()}")
    print("| enlarged | options | AP50 | AP75 | mean AP | s/image |")
    print("|---|---|---|---|---|---|")
    for factor in args.factors:
        results = {"auto": [], "diameter": []}
        seconds = {"auto": 0.0, "diameter": 0.0}
        for image, labels in samples:
            image, labels = enlarge(image, labels, factor)
            for name, options in (("auto", {}), ("diameter", {"nucleus_diameter": factor * segmenter.training_nucleus_size})):
                t0 = time.perf_counter()
                pred = segmenter.segment(image, **options)
                seconds[name] += time.perf_counter() - t0
                results[name].append(evaluate_pair(labels, pred))
        for name, per_image in results.items():
            scores = pool(per_image)
            print(f"| {factor}x | {name} | {scores['ap@0.50']:.3f} | {scores['ap@0.75']:.3f} | "
                  f"{scores['mean_ap']:.3f} | {seconds[name] / len(samples):.2f} |", flush=True)


if __name__ == "__main__":
    main()
