"""Is one model really better than another on the validation split? A paired
bootstrap over images.

Usage:
  python benchmarks/compare_models.py --images DIR --labels DIR --model NAME=PATH --model NAME=PATH [...]
                                     [--augment NAME ...]

Each model segments every validation image once (its default settings).
Pooled scores over 47 images move by a few hundredths when a handful of
images are swapped for others, so the differences between training recipes
are only worth reading with their spread: the script resamples the images
with replacement (the same draw for every model: a paired comparison) and
prints, for each model after the first, the difference to the first in AP50,
F1 at 0.5 and mean AP with its 95% interval. ``default`` as PATH is the
shipped model; ``--augment NAME`` runs model NAME with test-time
augmentation (the same file may be listed twice under two names). Also
prints each model's scores on the bundled sample image (an image from
outside the DSB preparation).
"""
from __future__ import annotations

import argparse

import numpy as np
import tifffile

import nuset_engine
from nuset_engine.metrics import evaluate_pair, pool

from common import named_model, validation_samples

METRICS = ("ap@0.50", "f1@0.50", "mean_ap")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--model", action="append", required=True, help="NAME=PATH (PATH 'default': shipped)")
    parser.add_argument("--augment", action="append", default=[], metavar="NAME",
                        help="run this model with test-time augmentation")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    args = parser.parse_args()

    _, samples = validation_samples(args.images, args.labels, args.validation_fraction)
    sample = tifffile.imread(nuset_engine.SAMPLE_IMAGE), tifffile.imread(nuset_engine.SAMPLE_LABELS)
    names, per_image, on_sample = [], [], []
    for spec in args.model:
        name, segmenter = named_model(spec)
        names.append(name)
        augment = name in args.augment
        per_image.append([evaluate_pair(lab, segmenter.segment(img, augment=augment)) for img, lab in samples])
        on_sample.append(pool([evaluate_pair(sample[1], segmenter.segment(sample[0], augment=augment))]))

    rng = np.random.default_rng(args.seed)
    draws = rng.integers(0, len(samples), size=(args.resamples, len(samples)))
    boot = [np.array([[pool([results[i] for i in draw])[m] for m in METRICS] for draw in draws])
            for results in per_image]
    print(f"{len(samples)} validation images; {args.resamples} paired bootstrap resamples of the images")
    print("| model | " + " | ".join(METRICS) + " | difference to " + names[0] + " (95% interval) | sample image AP50 |")
    print("|---" * (len(METRICS) + 3) + "|")
    first = pool(per_image[0])
    for k, name in enumerate(names):
        scores = pool(per_image[k])
        cells = [f"{scores[m]:.3f}" for m in METRICS]
        if k == 0:
            diff = "-"
        else:
            d = boot[k] - boot[0]
            lo, hi = np.percentile(d, [2.5, 97.5], axis=0)
            point = [scores[m] - first[m] for m in METRICS]
            diff = "; ".join(f"{m} {p:+.3f} [{a:+.3f}, {b:+.3f}]" for m, p, a, b in zip(METRICS, point, lo, hi))
        print(f"| {name} | " + " | ".join(cells) + f" | {diff} | {on_sample[k]['ap@0.50']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
