"""Seconds per megapixel and peak memory of full inference (the model's passes, or --passes).

Usage: python benchmarks/speed.py [--sizes 1 4 16] [--device cpu] [--repeats 3] [--passes one|two] [--augment]
                                  [--backends f32 bf16]

All backends run side by side in one run (each size: every backend in turn,
repeats interleaved), so their ratio holds on a machine shared with other jobs.

Images are tiles of the bundled sample (real nuclei at the training scale),
so the watershed and post-processing do realistic work. Prints one line per
size plus the model, torch version and thread count; paste them into
docs/benchmarks.md with the machine they ran on.
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import tifffile
import torch

import nuset_engine
from nuset_engine import Segmenter

from common import cpu_description


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 4, 16], help="megapixels")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None)
    parser.add_argument("--passes", choices=["as_trained", "one", "two"], default="as_trained")
    parser.add_argument("--augment", action="store_true", help="test-time augmentation (8 flips/transposes)")
    parser.add_argument("--backends", nargs="+", default=["auto"], help="f32, bf16, auto (side by side)")
    args = parser.parse_args()
    two_pass = {"as_trained": None, "one": False, "two": True}[args.passes]

    segmenters = {name: Segmenter.load(args.model, device=args.device, backend=name) for name in args.backends}
    segmenter = next(iter(segmenters.values()))
    sample = tifffile.imread(nuset_engine.SAMPLE_IMAGE)
    print(f"model {args.model or 'default'} (base width {segmenter.net.config.base_width}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {segmenter.device}, passes {args.passes}"
          f"{', augmented' if args.augment else ''}, CPU {cpu_description()}")
    print("| image | megapixels | backend | nuclei | s/image (min of repeats) | s/MP | peak RSS (GB) |")
    print("|---|---|---|---|---|---|---|")
    for mp in args.sizes:
        side = int(round(np.sqrt(mp * 1e6)))
        image = np.tile(sample, (side // 512 + 1, side // 512 + 1))[:side, :side]
        times = {name: [] for name in segmenters}
        counts = {}
        for name, seg in segmenters.items():
            seg.segment(image[:256, :256])  # warm-up
        for _ in range(args.repeats):
            for name, seg in segmenters.items():
                t0 = time.perf_counter()
                labels = seg.segment(image, two_pass=two_pass, augment=args.augment)
                if seg.device.type == "cuda":
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - t0)
                counts[name] = int(labels.max())
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        for name, seg in segmenters.items():
            best = min(times[name])
            print(f"| {side}x{side} | {side * side / 1e6:.2f} | {seg.backend} ({name}) | {counts[name]} | {best:.2f} | "
                  f"{best / (side * side / 1e6):.2f} | {peak_gb:.2f} |", flush=True)


if __name__ == "__main__":
    main()
