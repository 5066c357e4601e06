"""Where whole-image inference stops paying: whole against tiled, side by side.

Usage: python benchmarks/auto_tiling.py [--megapixels 1 2 4 8 16] [--tile-size 2048] [--repeats 2]

For each size, a square image made of mirrored copies of the bundled sample
(real nuclei) is segmented by ``Segmenter.segment`` in a fresh child process,
once whole (``tile_size=0``) and once in tiles (``tile_size=N``), alternating
so that a change in the machine's load affects both alike. Prints the best
wall time of the repeats (segmentation only, model loaded), seconds per
megapixel, each child's peak resident memory, and the nuclei found, with the
CPU and thread count. ``tile_size="auto"`` is chosen from these numbers
(docs/benchmarks.md, "Automatic tiling").
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import cpu_description  # noqa: E402

CHILD = """
import json, resource, sys, time
import numpy as np, tifffile, torch
import nuset_engine
from nuset_engine import Segmenter
side, tile_size = int(sys.argv[1]), int(sys.argv[2])
sample = tifffile.imread(nuset_engine.SAMPLE_IMAGE)
block = np.block([[sample, sample[:, ::-1]], [sample[::-1], sample[::-1, ::-1]]])
image = np.tile(block, (side // 1024 + 1, side // 1024 + 1))[:side, :side].copy()
segmenter = Segmenter.load(device="cpu")
segmenter.segment(image[:256, :256])  # warm-up
t0 = time.perf_counter()
labels = segmenter.segment(image, tile_size=tile_size)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "nuclei": int(labels.max()), "threads": torch.get_num_threads(),
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}))
"""


def run(side: int, tile_size: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(side), str(tile_size)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--tile-size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(cpu_description())
    print(f"| megapixels | mode | nuclei | s (best of {args.repeats}) | s/MP | peak RSS (GB) |")
    print("|---|---|---|---|---|---|")
    for mp in args.megapixels:
        side = int(round((mp * 1e6) ** 0.5))
        runs = {"whole": [], f"tiles of {args.tile_size}": []}
        for _ in range(args.repeats):
            runs["whole"].append(run(side, 0))
            runs[f"tiles of {args.tile_size}"].append(run(side, args.tile_size))
        for mode, results in runs.items():
            best = min(results, key=lambda r: r["seconds"])
            peak = max(r["peak_gb"] for r in results)
            print(f"| {side * side / 1e6:.1f} | {mode} | {best['nuclei']} | {best['seconds']:.2f} | "
                  f"{best['seconds'] / (side * side / 1e6):.2f} | {peak:.2f} |", flush=True)
    print(f"threads {best['threads']}")


if __name__ == "__main__":
    main()
