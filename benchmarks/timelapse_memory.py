"""Long time-lapses: peak memory of `nuset segment` on TYX TIFFs of 1 MP
frames, by number of frames, against one 1 MP frame segmented in 2-D.

Usage:
  python benchmarks/timelapse_memory.py [--frames 20 100 500] [--side 1024] [--device cpu]

The time-lapse is a 1024 x 1024 window moving over a 2048 x 2048 canvas of
the bundled sample's real nuclei (mirrored copies), about 5 pixels a frame
along a loop, so nuclei move, enter and leave; written as an ImageJ TYX
TIFF in a temporary folder, a frame at a time. `nuset segment movie.tif -o
out` runs in a child process as a user runs it (frames read one at a time,
labels kept in a scratch file on disk a frame at a time, tracked, written
as an ImageJ hyperstack). The script samples the child's resident memory
(psutil, every 0.5 s) and prints, per length: wall time, seconds per frame,
the peak RSS (the kernel's, ru_maxrss), the RSS at a quarter, half and
three quarters of the run, the rows of the tracks table and the tracks;
and the same for one frame of the movie segmented as a 2-D image.
Memory that does not grow with the number of frames, beyond the tracks
table, is the claim measured.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import psutil
import tifffile

import nuset_engine
from common import cpu_description


def canvas(side: int) -> np.ndarray:
    """Mirrored copies of the bundled sample (seamless), ``2 * side`` square."""
    sample = tifffile.imread(nuset_engine.SAMPLE_IMAGE)
    block = np.block([[sample, sample[:, ::-1]], [sample[::-1], sample[::-1, ::-1]]])
    reps = 2 * side // block.shape[0] + 1
    return np.tile(block, (reps, reps))[: 2 * side, : 2 * side]


def window_offsets(frames: int, side: int, step: float = 5.0) -> list[tuple[int, int]]:
    """Window corners along a circle of radius side/3 about the canvas's
    centre, ``step`` pixels apart (the loop repeats for long movies)."""
    radius = side / 3
    angles = np.arange(frames) * step / radius
    centre = side / 2
    return [(int(round(centre + radius * np.sin(a))), int(round(centre + radius * np.cos(a)))) for a in angles]


def write_movie(path: Path, frames: int, side: int) -> None:
    big = canvas(side)
    offsets = window_offsets(frames, side)
    tifffile.imwrite(path, (big[y : y + side, x : x + side] for y, x in offsets), shape=(frames, side, side),
                     dtype=big.dtype, imagej=True, metadata={"axes": "TYX"})


def run(command: list[str]) -> tuple[float, int, list[tuple[float, int]]]:
    """Wall seconds, peak RSS (bytes, the kernel's ru_maxrss) and (seconds, RSS) samples of a child command."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        watched, samples = psutil.Process(child.pid), []
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            try:
                samples.append((time.perf_counter() - t0, watched.memory_info().rss))
            except psutil.Error:
                pass
            time.sleep(0.5)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            errors.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed: {errors.read().decode()[-2000:]}")
    return time.perf_counter() - t0, usage.ru_maxrss * 1024, samples


def at_fraction(samples, fraction: float) -> float:
    if not samples:
        return float("nan")
    end = samples[-1][0]
    return min(samples, key=lambda s: abs(s[0] - fraction * end))[1] / 1024**3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[20, 100, 500])
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--keep", default=None, help="a folder to work in (kept) instead of a temporary one")
    args = parser.parse_args()
    nuset = Path(sys.executable).with_name("nuset")
    print(f"{cpu_description()}; frames of {args.side}x{args.side}; device {args.device}", flush=True)
    print("| input | frames | wall s | s/frame | peak RSS (GB) | RSS at 1/4, 1/2, 3/4 of the run (GB) | "
          "tracks table rows | tracks |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        frame = work / "frame.tif"
        tifffile.imwrite(frame, canvas(args.side)[: args.side, : args.side])
        wall, peak, samples = run([str(nuset), "segment", str(frame), "-o", str(work / "out_frame"), "--overwrite",
                                   "--device", args.device])
        print(f"| one frame, 2-D | 1 | {wall:.1f} | {wall:.2f} | {peak / 1024**3:.2f} | - | - | - |", flush=True)
        for frames in sorted(args.frames):
            movie = work / f"movie_{frames}.tif"
            write_movie(movie, frames, args.side)
            out = work / f"out_{frames}"
            wall, peak, samples = run([str(nuset), "segment", str(movie), "-o", str(out), "--overwrite",
                                       "--device", args.device])
            with open(out / f"movie_{frames}_tracks.csv") as fh:
                tracks = list(csv.DictReader(fh))
            fractions = ", ".join(f"{at_fraction(samples, f):.2f}" for f in (0.25, 0.5, 0.75))
            print(f"| time-lapse TYX | {frames} | {wall:.1f} | {wall / frames:.2f} | {peak / 1024**3:.2f} | "
                  f"{fractions} | {len(tracks)} | {len({r['track_id'] for r in tracks})} |", flush=True)
            movie.unlink()
            if not args.keep:
                for path in out.iterdir():
                    path.unlink()


if __name__ == "__main__":
    main()
