"""Inference backends side by side: are their labels equivalent to float32's
on the validation split, and how much faster is one network pass?

Usage: python benchmarks/backends.py --images DIR --labels DIR [--backends f32 bf16] [--limit N]

For each backend: AP50 and mean AP against the truth, and, against the
float32 labels, the share of float32's nuclei matched at IoU >= 0.9. A
backend may be chosen automatically only where AP50 is within 0.005 of
float32's and >= 99% of nuclei are matched (nuset_engine/backends.py).
Then the time of one network pass on a 1024 x 1024 input, best of 5, all
backends in one run, with the CPU's model name and flags.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from nuset_engine import Segmenter
from nuset_engine.metrics import evaluate_pair, matching_counts, pool

from common import cpu_description, validation_samples


def pass_seconds(segmenter: Segmenter, side: int = 1024, repeats: int = 5) -> float:
    image = np.random.default_rng(0).normal(size=(side, side)).astype(np.float32)
    segmenter.network_maps(image)  # warm-up (oneDNN picks its kernels)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        segmenter.network_maps(image)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--backends", nargs="+", default=["f32", "bf16"])
    parser.add_argument("--model", default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N validation images only")
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    _, samples = validation_samples(args.images, args.labels)
    samples = samples[: args.limit]
    reference = None
    print("| backend | images | AP50 | mean AP | nuclei matched to f32 at IoU 0.9 | one pass, 1024x1024 (s) | "
          "speed-up |")
    print("|---|---|---|---|---|---|---|")
    f32_seconds = None
    for name in args.backends:
        segmenter = Segmenter.load(args.model, device="cpu", backend=name)
        labels = [segmenter.segment(image) for image, _ in samples]
        scores = pool([evaluate_pair(truth, pred) for (_, truth), pred in zip(samples, labels)])
        if reference is None:
            reference = labels
        matched = sum(matching_counts(ref, pred, thresholds=(0.9,))[0.9]["tp"] for ref, pred in zip(reference, labels))
        total = sum(int(len(np.unique(ref)) - 1) for ref in reference)
        seconds = pass_seconds(segmenter)
        f32_seconds = f32_seconds or seconds
        print(f"| {segmenter.backend} | {len(samples)} | {scores['ap@0.50']:.4f} | {scores['mean_ap']:.4f} | "
              f"{matched / max(total, 1):.2%} | {seconds:.3f} | {f32_seconds / seconds:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
