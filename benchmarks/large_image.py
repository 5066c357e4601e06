"""Large images end to end: `nuset segment` (default: --tile-size auto) on 1 to 100 MP TIFFs.

Usage: python benchmarks/large_image.py [--megapixels 1 16 100] [--tile-size auto|0|2048] [--device cpu]
                                      [--passes two|one]

Each image is a tiled TIFF made of mirrored copies of the bundled sample
(real nuclei), written to a temporary folder. The command runs in a child
process exactly as a user runs it (input read tile by tile, labels streamed
to a tiled TIFF); the script prints wall time, seconds per megapixel
(including start-up and writing), the child's peak resident memory and the
nuclei found. Paste the table into docs/benchmarks.md with the machine.
"""
from __future__ import annotations

import argparse
import csv
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import tifffile
import torch

import nuset_engine
from common import cpu_description


def make_image(path: Path, side: int) -> None:
    sample = tifffile.imread(nuset_engine.SAMPLE_IMAGE)
    block = np.block([[sample, sample[:, ::-1]], [sample[::-1], sample[::-1, ::-1]]])  # seamless 1024 x 1024
    reps = side // block.shape[0] + 1
    tifffile.imwrite(path, np.tile(block, (reps, reps))[:side, :side], tile=(512, 512))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, nargs="+", default=[1, 16, 100])
    parser.add_argument("--tile-size", default="auto", help="auto (the default of nuset segment), 0 or pixels")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default=None)
    parser.add_argument("--passes", choices=["as_trained", "one", "two"], default="as_trained")
    args = parser.parse_args()
    nuset = Path(sys.executable).with_name("nuset")
    print(f"model {args.model or 'default'}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"device {args.device}, tile size {args.tile_size}, passes {args.passes}, {cpu_description()}")
    print("| image | megapixels | nuclei | wall s | s/MP | peak RSS of the command (GB) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for mp in sorted(args.megapixels):  # ascending: RUSAGE_CHILDREN keeps the largest child's peak
            side = int(round(np.sqrt(mp * 1e6)))
            image = Path(tmp) / f"image_{side}.tif"
            make_image(image, side)
            command = [str(nuset), "segment", str(image), "-o", str(Path(tmp) / f"out_{side}"),
                       "--tile-size", str(args.tile_size), "--device", args.device]
            if args.model:
                command += ["--model", args.model]
            if args.passes != "as_trained":
                command.append("--two-pass" if args.passes == "two" else "--no-two-pass")
            t0 = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            wall = time.perf_counter() - t0
            peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
            with open(Path(tmp) / f"out_{side}" / "summary.csv") as fh:
                nuclei = next(csv.DictReader(fh))["nuclei"]
            print(f"| {side}x{side} | {side * side / 1e6:.1f} | {nuclei} | {wall:.1f} | "
                  f"{wall / (side * side / 1e6):.2f} | {peak_gb:.2f} |", flush=True)
            image.unlink()


if __name__ == "__main__":
    main()
