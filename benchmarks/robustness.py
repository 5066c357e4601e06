"""Accuracy under the intensity conditions of other microscopes, on the
fixed validation split: which training recipe generalizes.

Usage:
  python benchmarks/robustness.py --images DIR --labels DIR --model NAME=PATH [--model NAME=PATH ...]

The DSB 2018 validation images mostly have a black background and bright
nuclei. Users' images often do not: a camera offset and shot noise lift the
background, and dim nuclei sit beside bright ones. Each validation image
(intensities ``x``, ``p`` = its 99.5th percentile) is shown to every model
as it is and transformed, the labels unchanged:

- ``offset+noise``: ``x + 0.4 p`` plus Gaussian noise of s.d. ``0.03 p``
  (fixed seed), as a raised camera background;
- ``gamma 2``: ``p (x / p)^2``, dim nuclei dimmer still;
- ``dim half``: nuclei intensities kept on one half of the image and scaled
  by 0.3 on the other (uneven staining or illumination).

Prints one markdown row per model and condition (AP/F1 at IoU 0.5, mean AP),
each model run with its default passes. ``default`` as PATH is the shipped
model.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from nuset_engine.metrics import evaluate_pair, pool

from common import named_model, validation_samples


def offset_noise(image: np.ndarray, seed: int) -> np.ndarray:
    x = image.astype(np.float32)
    p = float(np.percentile(x, 99.5)) or 1.0
    noise = np.random.default_rng(seed).normal(0.0, 0.03 * p, x.shape).astype(np.float32)
    return x + 0.4 * p + noise


def gamma2(image: np.ndarray, seed: int) -> np.ndarray:
    x = image.astype(np.float32)
    p = float(np.percentile(x, 99.5)) or 1.0
    return p * np.clip(x / p, 0, None) ** 2


def dim_half(image: np.ndarray, seed: int) -> np.ndarray:
    x = image.astype(np.float32)
    background = float(np.median(x))
    out = x.copy()
    half = x.shape[1] // 2
    out[:, half:] = background + 0.3 * (x[:, half:] - background)
    return out


CONDITIONS = {"as is": None, "offset+noise": offset_noise, "gamma 2": gamma2, "dim half": dim_half}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--model", action="append", required=True, help="NAME=PATH (PATH 'default': shipped)")
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    args = parser.parse_args()

    _, samples = validation_samples(args.images, args.labels, args.validation_fraction)
    print(f"{len(samples)} validation images, {sum(int(lab.max()) for _, lab in samples)} nuclei")
    print("| model | passes | condition | AP50 | F1@0.5 | mean AP | FN rate | FP rate | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for spec in args.model:
        name, segmenter = named_model(spec)
        for condition in args.conditions:
            transform = CONDITIONS[condition]
            t0 = time.perf_counter()
            results = [evaluate_pair(lab, segmenter.segment(img if transform is None else transform(img, seed)))
                       for seed, (img, lab) in enumerate(samples)]
            s = pool(results)
            print(f"| {name} | {2 if segmenter.two_pass else 1} | {condition} | {s['ap@0.50']:.3f} | "
                  f"{s['f1@0.50']:.3f} | {s['mean_ap']:.3f} | {s['fn_rate']:.3f} | {s['fp_rate']:.3f} | "
                  f"{time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
