"""Per-image time of the Fiji folder command ("NuSeT Segment Folder") against
one "NuSeT Segment" call per image, in a real ImageJ under Xvfb.

Usage: python benchmarks/fiji_folder.py [--images 5] [--ij-jar /usr/share/java/ij.jar]
Needs Debian's libij-java, xvfb and a JDK (as `make test` installs).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

import nuset_engine
from fiji_bridge.build import build_jar

FOLDER = 'run("NuSeT Segment Folder", "input={src} output={out} python={py}");\n'
PER_IMAGE = 'list = getFileList("{src}/"); for (i = 0; i < list.length; i++) {{ open("{src}/" + list[i]); ' \
            'run("NuSeT Segment", "python={py}"); close("*"); }}\n'


def run_macro(jar, home, text, tmp):
    macro = Path(tmp) / "m.ijm"
    macro.write_text(text)
    t0 = time.perf_counter()
    out = subprocess.run(["xvfb-run", "-a", "java", "-jar", str(jar), "-ijpath", str(home), "-batch", str(macro)],
                         capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--ij-jar", default="/usr/share/java/ij.jar")
    args = parser.parse_args()
    sample = tifffile.imread(nuset_engine.SAMPLE_IMAGE)
    with tempfile.TemporaryDirectory() as tmp:
        home, src = Path(tmp) / "ij", Path(tmp) / "in"
        build_jar(args.ij_jar, home / "plugins")
        src.mkdir()
        for i in range(args.images):
            tifffile.imwrite(src / f"img{i}.tif", np.ascontiguousarray(np.rot90(sample, i)))
        folder_s, log = run_macro(args.ij_jar, home, FOLDER.format(src=src, out=Path(tmp) / "out", py=sys.executable),
                                  tmp)
        assert f"NuSeT: {args.images} images segmented, 0 failed" in log, log
        single_s, log = run_macro(args.ij_jar, home, PER_IMAGE.format(src=src, py=sys.executable), tmp)
        assert len(re.findall(r"NuSeT: \d+ nuclei in", log)) == args.images, log
    print(f"{args.images} images of 512x512, ImageJ {args.ij_jar}, whole macro wall time including ImageJ start:")
    print("| command | s per image |\n|---|---|")
    print(f"| NuSeT Segment Folder (one Python start) | {folder_s / args.images:.2f} |")
    print(f"| NuSeT Segment per image (Python start each time) | {single_s / args.images:.2f} |")


if __name__ == "__main__":
    main()
