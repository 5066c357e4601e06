"""Per-image time of the Fiji folder command ("NuSeT Segment Folder") against
a macro loop of one "NuSeT Segment" call per image, with the session's NuSeT
worker (Python and torch start once) and without it (``no_worker``: a Python
per call, as before the worker), in a real ImageJ under Xvfb.

Usage: python benchmarks/fiji_folder.py [--images 20] [--ij-jar /usr/share/java/ij.jar]
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

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_description  # noqa: E402

FOLDER = 'run("NuSeT Segment Folder", "input={src} output={out} python={py}");\n'
PER_IMAGE = 'list = getFileList("{src}/"); for (i = 0; i < list.length; i++) {{ open("{src}/" + list[i]); ' \
            'run("NuSeT Segment", "python={py}{extra}"); close("*"); }}\n'


def run_macro(jar, home, text, tmp):
    macro = Path(tmp) / "m.ijm"
    macro.write_text(text)
    t0 = time.perf_counter()
    out = subprocess.run(["xvfb-run", "-a", "java", "-jar", str(jar), "-ijpath", str(home), "-batch", str(macro)],
                         capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
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
        loops = {}
        for name, extra in (("worker", ""), ("no_worker", " no_worker")):
            loops[name], log = run_macro(args.ij_jar, home, PER_IMAGE.format(src=src, py=sys.executable, extra=extra),
                                         tmp)
            assert len(re.findall(r"NuSeT: \d+ nuclei in", log)) == args.images, log
    print(f"{args.images} images of 512x512, ImageJ {args.ij_jar}, whole macro wall time including ImageJ start; "
          f"CPU: {cpu_description()}")
    print("| command | s per image |\n|---|---|")
    print(f"| NuSeT Segment Folder (one Python start) | {folder_s / args.images:.2f} |")
    print(f"| NuSeT Segment in a macro loop, session worker (one Python start) | {loops['worker'] / args.images:.2f} |")
    print(f"| NuSeT Segment in a macro loop, no_worker (a Python start per image) | "
          f"{loops['no_worker'] / args.images:.2f} |")


if __name__ == "__main__":
    main()
