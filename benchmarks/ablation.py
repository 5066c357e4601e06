"""The paper's ablation (its S1 Table) on the fixed validation split.

Usage:
  python benchmarks/ablation.py --images DIR --labels DIR \
      --unet-only MODEL --unet-synthetic MODEL --nuset MODEL [--foreground MODEL --both MODEL]

The three models come from equal-budget `nuset train` runs (commands in
docs/benchmarks.md): ``--unet-only`` with ``--normalization whole
--synthetic-ratio 0``, ``--unet-synthetic`` with ``--normalization whole
--synthetic-ratio 1``, ``--nuset`` with ``--normalization both
--synthetic-ratio 1``. Rows:

1. U-Net only, whole-image normalization, no synthetic data;
2. + synthetic data;
3. + two-pass foreground normalization;
4. + RPN-aided watershed on the plain foreground mask (the paper's NuSeT);
5. + the centre-distance head guiding the watershed (this project's NuSeT);
6. the classical baseline (Otsu + distance-transform watershed);
7. row 1's model with row 5's watershed (one pass: it never saw foreground
   normalization), to separate the training recipe from the post-processing;
8. row 2's model with row 5's watershed (one pass): synthetic data with the
   full post-processing (compare row 7);
9. two weight sets, as in the paper, without synthetic data: row 1's model
   for pass 1 and a model trained on foreground normalization only
   (``--foreground``) for pass 2, row 5's watershed;
10. one weight set for both passes without synthetic data (``--both``:
    ``--normalization both --synthetic-ratio 0``), row 5's watershed:
    compare row 9 (two weight sets or one) and row 7 (is pass 2 worth it).

Rows 9 and 10 leave synthetic data out because rows 1/2 and 7/8 show it
does not help here; all models have the same training budget.

Rows 1-3 give one object per connected component of the foreground mask
(the U-Net alone). Prints one markdown table with the paper's pixel and
object metrics and AP/F1 at IoU 0.5, pooled over the validation images.
"""
from __future__ import annotations

import argparse
import functools
import time

from nuset_engine import Segmenter
from nuset_engine.baseline import otsu_watershed
from nuset_engine.metrics import evaluate_pair, pool

from common import validation_samples

COLUMNS = ["mean_iu", "f1", "rmse", "pixel_accuracy", "correct_detections", "incorrect_detections", "split",
           "merge", "catastrophe", "fn_rate", "fp_rate", "touching_separated", "ap@0.50", "f1@0.50", "mean_ap"]


class PaperWatershed(Segmenter):
    """The same network with its centre-distance output ignored, so the
    watershed splits the plain foreground mask as in the paper."""

    def network_maps(self, normalized, foreground=False):
        maps, objectness, deltas = super().network_maps(normalized, foreground)
        return maps[:1], objectness, deltas


def row(name, segment, samples, only=None):
    if only and int(name.split(".")[0]) not in only:
        return
    t0 = time.perf_counter()
    summary = pool([evaluate_pair(lab, segment(img)) for img, lab in samples])
    cells = [f"{summary[c]:.3f}" if isinstance(summary[c], float) else str(summary[c]) for c in COLUMNS]
    print(f"| {name} | " + " | ".join(cells) + f" | {time.perf_counter() - t0:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--unet-only", required=True, help="model trained: whole normalization, no synthetic data")
    parser.add_argument("--unet-synthetic", default=None,
                        help="model trained: whole normalization, synthetic 1:1 (row 2 is skipped without it)")
    parser.add_argument("--nuset", required=True, help="model trained: both normalizations, synthetic 1:1")
    parser.add_argument("--foreground", default=None,
                        help="model trained: foreground normalization only, no synthetic data (row 9)")
    parser.add_argument("--both", default=None,
                        help="model trained: both normalizations, no synthetic data (row 10)")
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("--rows", type=int, nargs="+", default=None, help="run only these rows")
    args = parser.parse_args()
    run = functools.partial(row, only=args.rows)

    _, samples = validation_samples(args.images, args.labels, args.validation_fraction)
    print(f"{len(samples)} validation images, {sum(int(lab.max()) for _, lab in samples)} nuclei")
    print("| row | " + " | ".join(COLUMNS) + " | seconds |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    unet_only = Segmenter.load(args.unet_only, device="cpu")
    nuset = Segmenter.load(args.nuset, device="cpu")
    plain = PaperWatershed(nuset.net, nuset.metadata, "cpu")
    run("1. U-Net, whole-image norm., no synthetic",
        lambda img: unet_only.segment(img, two_pass=False, watershed=False), samples)
    if args.unet_synthetic:
        unet_synthetic = Segmenter.load(args.unet_synthetic, device="cpu")
        run("2. + synthetic data", lambda img: unet_synthetic.segment(img, two_pass=False, watershed=False), samples)
    run("3. + two-pass foreground norm.", lambda img: nuset.segment(img, watershed=False), samples)
    run("4. + RPN-aided watershed (paper's NuSeT)", plain.segment, samples)
    run("5. + centre-distance head (this NuSeT)", nuset.segment, samples)
    run("6. Otsu + watershed (baseline)", otsu_watershed, samples)
    run("7. row 1's model + row 5's watershed", lambda img: unet_only.segment(img, two_pass=False), samples)
    if args.unet_synthetic:
        run("8. row 2's model + row 5's watershed", lambda img: unet_synthetic.segment(img, two_pass=False), samples)
    if args.foreground:
        foreground = Segmenter.load(args.foreground, device="cpu")
        two_sets = Segmenter(unet_only.net, unet_only.metadata, "cpu", foreground_net=foreground.net)
        run("9. two weight sets, no synthetic (row 1's model, then a foreground-only one)",
            lambda img: two_sets.segment(img, two_pass=True), samples)
    if args.both:
        both = Segmenter.load(args.both, device="cpu")
        run("10. one weight set for both passes, no synthetic", lambda img: both.segment(img, two_pass=True), samples)


if __name__ == "__main__":
    main()
