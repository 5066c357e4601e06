"""Seconds per megapixel and peak memory of full inference (the model's passes, or --passes).

Usage: python benchmarks/speed.py [--sizes 1 4 16] [--device cpu] [--repeats 3] [--passes one|two] [--augment]
                                  [--backends f32 bf16] [--model PATH ...]

All backends (and models) run side by side in one run (each size: every
backend and model in turn, repeats interleaved), so their ratios hold on a
machine shared with other jobs.

Images are tiles of the bundled sample (real nuclei at the training scale),
so the watershed and post-processing do realistic work; a colour (H&E)
model gets tiles of a real H&E tile (tests/data/real) instead, converted
as its file says (part of the time measured). Prints one line per
size plus the model, torch version and thread count; paste them into
docs/benchmarks.md with the machine they ran on.
"""
from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import tifffile
import torch

import nuset_engine
from nuset_engine import Segmenter
from nuset_engine.colour import model_input

from common import cpu_description

HE_TILE = (Path(__file__).parents[1] / "tests" / "data" / "real" / "dsb2018_stage1_train_nonfluo" / "images"
           / "00ae65c1c6631ae6f2be1a449902976e6eb8483bf6b0740d00530220832c6d3e.tif")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 4, 16], help="megapixels")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", nargs="+", default=[None], help="model files ('default': the shipped model)")
    parser.add_argument("--passes", choices=["as_trained", "one", "two"], default="as_trained")
    parser.add_argument("--augment", action="store_true", help="test-time augmentation (8 flips/transposes)")
    parser.add_argument("--backends", nargs="+", default=["auto"], help="f32, bf16, auto (side by side)")
    args = parser.parse_args()
    two_pass = {"as_trained": None, "one": False, "two": True}[args.passes]

    models = [None if model in (None, "default") else model for model in args.model]
    segmenters = {(model, name): Segmenter.load(model, device=args.device, backend=name)
                  for model in models for name in args.backends}
    segmenter = next(iter(segmenters.values()))
    sources = {False: tifffile.imread(nuset_engine.SAMPLE_IMAGE), True: tifffile.imread(HE_TILE)}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {segmenter.device}, passes "
          f"{args.passes}{', augmented' if args.augment else ''}, CPU {cpu_description()}")
    print("| image | megapixels | model | input | backend | nuclei | s/image (min of repeats) | s/MP | peak RSS (GB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for mp in args.sizes:
        side = int(round(np.sqrt(mp * 1e6)))
        images = {colour: tiled(source, side) for colour, source in sources.items()}
        times = {key: [] for key in segmenters}
        counts = {}
        for seg in segmenters.values():
            seg.segment(images[is_colour(seg)][:256, :256])  # warm-up
        for _ in range(args.repeats):
            for key, seg in segmenters.items():
                t0 = time.perf_counter()
                labels = seg.segment(images[is_colour(seg)], two_pass=two_pass, augment=args.augment)
                if seg.device.type == "cuda":
                    torch.cuda.synchronize()
                times[key].append(time.perf_counter() - t0)
                counts[key] = int(labels.max())
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        for (model, name), seg in segmenters.items():
            best = min(times[(model, name)])
            print(f"| {side}x{side} | {side * side / 1e6:.2f} | {Path(model).name if model else 'default'} "
                  f"(width {seg.net.config.base_width}) | {model_input(seg.metadata).name} | {seg.backend} ({name}) | "
                  f"{counts[(model, name)]} | {best:.2f} | {best / (side * side / 1e6):.2f} | {peak_gb:.2f} |",
                  flush=True)


def is_colour(segmenter: Segmenter) -> bool:
    return model_input(segmenter.metadata).colour


def tiled(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` repeated to ``side`` x ``side`` (colour samples kept last)."""
    reps = (side // image.shape[0] + 1, side // image.shape[1] + 1) + (1,) * (image.ndim - 2)
    return np.tile(image, reps)[:side, :side]


if __name__ == "__main__":
    main()
