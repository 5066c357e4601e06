"""Does fine-tuning on a few of a user's images pay? The issue-18 measurement.

Usage:
  python benchmarks/finetune.py --images DIR --labels DIR --output runs/finetune_he \\
      [--modality histology_or_color] [--runs shipped ft3 ft10 ft20 scratch10] [--minutes 10]
      [--validation-images 40 | --split-file benchmarks/histology_split.json]
      [--fluo-images DIR --fluo-labels DIR --forgetting-images 20]
      [--rescale 1.6] [--set lr=1e-3 ...]

A domain is a folder pair (``--modality`` keeps the images of one modality
of its manifest.csv). Its images are ordered by SHA-1 of their ids, a fixed
order independent of the files present: the first ``--validation-images``
validate, the next 20 are the training pool, and the training sets are
nested (ft3's 3 images are among ft10's 10, ft10's among ft20's 20). With
``--split-file`` (``{"images": {id: {"split": "train" | "val"}}}``, as
``benchmarks/histology_split.py`` writes for the non-fluorescence set,
grouping tiles of one tissue section), its ``val`` images validate (at most
``--validation-images``) and the pool comes from its ``train`` side.

Runs (each under ``--output/NAME``, reused when its model exists):
``shipped`` (the shipped model as it is), ``ftN`` (``nuset train --from
default`` on N images), ``scratchN`` (the from-scratch recipe on the same N
images). Every training run gets the same budget: ``--minutes`` (epochs then
only bound it), or ``--epochs`` x ``--steps-per-epoch`` steps for all.
``--set KEY=VALUE`` changes a field of the fine-tuning recipe (to compare
recipes).

Each model segments the domain's validation images with its own
post-processing defaults and automatic scaling, and again enlarged
``--rescale`` times (auto scaling must still find the size), and a fixed
subset of the DSB fluorescence validation split (the first
``--forgetting-images`` of the fixed id hash split, sorted by id): what
fine-tuning forgot. Prints AP50, mean AP and false positives per image at
IoU 0.5, and the AP50 difference of ``ft10`` (or the first fine-tuned run)
to each other model, with a 95% interval from a paired bootstrap over the
domain's validation images. Prints the CPU.

Caveat for the non-fluorescence DSB set: many H&E tiles come from the same
tissue sections; without ``--split-file``, training and validation images
can be neighbours.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from skimage.transform import rescale as rescale_image

from nuset_engine import Segmenter
from nuset_engine.data import find_pairs, load_pairs, split_pairs
from nuset_engine.metrics import evaluate_pair, pool
from nuset_engine.train import TrainConfig, train

from common import cpu_description

POOL = 20  # training pool size: the largest training set


def domain_split(images: str, labels: str, modality: str | None, validation_images: int,
                 split_file: str | None) -> tuple[list, list]:
    """The domain's validation pairs and training pool, each in the fixed SHA-1 order."""
    pairs = find_pairs(images, labels)
    if modality:
        manifest = Path(images).parent / "manifest.csv"
        keep = {row["id"] for row in csv.DictReader(open(manifest)) if row["modality"] == modality}
        pairs = [p for p in pairs if p[0] in keep]
    pairs = sorted(pairs, key=lambda p: hashlib.sha1(p[0].encode()).hexdigest())
    if split_file is None:
        return pairs[:validation_images], pairs[validation_images:][:POOL]
    side = {k: v["split"] for k, v in json.loads(Path(split_file).read_text())["images"].items()}
    return ([p for p in pairs if side.get(p[0]) == "val"][:validation_images],
            [p for p in pairs if side.get(p[0]) == "train"][:POOL])


def link_folder(pairs, folder: Path) -> Path:
    """``folder/images`` and ``folder/labels`` holding links to ``pairs``."""
    for sub, index in (("images", 1), ("labels", 2)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for pair in pairs:
            link = folder / sub / pair[index].name
            if not link.exists():
                link.symlink_to(Path(pair[index]).resolve())
    return folder


def budget(args) -> dict:
    if args.minutes:
        return {"minutes": args.minutes, "epochs": 10_000}
    return {"epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch}


def overrides(items) -> dict:
    """``KEY=VALUE`` pairs as TrainConfig fields, typed like the field's default."""
    out = {}
    for item in items:
        key, _, text = item.partition("=")
        default = TrainConfig.__dataclass_fields__[key].default
        if isinstance(default, bool):
            out[key] = text.lower() in ("1", "true", "yes", "on")
        elif isinstance(default, (int, str)):
            out[key] = type(default)(text)
        else:
            out[key] = float(text)
    return out


def run_kind(name: str) -> tuple[str, int]:
    """``ft10`` -> ``("ft", 10)``; ``scratch3`` -> ``("scratch", 3)``."""
    kind = name.rstrip("0123456789")
    if kind not in ("ft", "scratch") or kind == name:
        raise SystemExit(f"unknown run {name!r}: use shipped, ftN or scratchN")
    return kind, int(name[len(kind):])


def train_run(name: str, pool_pairs, args) -> Path:
    """The model of run ``name`` (trained unless its file exists)."""
    out = Path(args.output) / name
    model = out / "run" / "model.nuset.pt"
    if model.exists():
        return model
    kind, count = run_kind(name)
    data = link_folder(pool_pairs[:count], out / "data")
    common = dict(images=str(data / "images"), labels=str(data / "labels"), output=str(out / "run"),
                  device="cpu", seed=args.seed, **budget(args))
    if kind == "ft":
        config = TrainConfig.fine_tuning("default", **common, **overrides(args.set))
    else:
        config = TrainConfig(**common)
    t0 = time.time()
    train(config, log=lambda m: print(f"  [{name}] {m}", flush=True) if not m.startswith("epoch ") else None)
    print(f"{name}: trained in {(time.time() - t0) / 60:.1f} min", flush=True)
    return model


def enlarge(samples, factor: float):
    return [(rescale_image(i.astype(np.float32), factor, order=1, preserve_range=True),
             rescale_image(lab, factor, order=0, preserve_range=True, anti_aliasing=False).astype(np.int32))
            for i, lab in samples]


def scores(segmenter: Segmenter, samples) -> list[dict]:
    """Per-image results with the model's own post-processing defaults."""
    defaults = segmenter.metadata.get("postprocessing", {})
    return [evaluate_pair(lab, segmenter.segment(img, **defaults)) for img, lab in samples]


def summary(results: list[dict]) -> dict:
    s = pool(results)
    fp = sum(r["matching"][0.5]["fp"] for r in results)
    return {"ap50": s["ap@0.50"], "mean_ap": s["mean_ap"], "fp_per_image": fp / len(results)}


def bootstrap(a: list[dict], b: list[dict], resamples: int, seed: int) -> tuple[float, float, float]:
    """AP50(a) - AP50(b) and its 95% interval, resampling images (paired)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(a), size=(resamples, len(a)))
    diffs = [pool([a[i] for i in d])["ap@0.50"] - pool([b[i] for i in d])["ap@0.50"] for d in draws]
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return pool(a)["ap@0.50"] - pool(b)["ap@0.50"], float(lo), float(hi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--output", required=True, help="folder for the runs (reused when run again)")
    parser.add_argument("--modality", default=None, help="keep this modality of the folder's manifest.csv")
    parser.add_argument("--runs", nargs="+", default=["shipped", "ft3", "ft10", "ft20", "scratch10"])
    parser.add_argument("--minutes", type=float, default=10.0, help="budget per training run (0: use --epochs)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps-per-epoch", type=int, default=40)
    parser.add_argument("--validation-images", type=int, default=40)
    parser.add_argument("--split-file", default=None, help="JSON of id -> split (train/val), e.g. "
                        "benchmarks/histology_split.json")
    parser.add_argument("--fluo-images", default="../shared/data/dsb2018_stage1_train_fluo/images")
    parser.add_argument("--fluo-labels", default="../shared/data/dsb2018_stage1_train_fluo/labels")
    parser.add_argument("--forgetting-images", type=int, default=20)
    parser.add_argument("--rescale", type=float, default=1.6, help="also score the validation images enlarged so")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change a field of the fine-tuning recipe")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"CPU: {cpu_description()}, {torch.get_num_threads()} threads")
    val_pairs, pool_pairs = domain_split(args.images, args.labels, args.modality, args.validation_images,
                                         args.split_file)
    largest = max([run_kind(r)[1] for r in args.runs if r != "shipped"], default=0)
    if len(pool_pairs) < largest or not val_pairs:
        raise SystemExit(f"{len(val_pairs)} validation images and a training pool of {len(pool_pairs)}: too few "
                         f"for the runs {args.runs}")
    val = load_pairs(val_pairs)
    enlarged = enlarge(val, args.rescale) if args.rescale != 1 else None
    fluo = sorted(split_pairs(find_pairs(args.fluo_images, args.fluo_labels))[1])[: args.forgetting_images]
    forgetting = load_pairs(fluo)
    print(f"domain: validation {len(val_pairs)} ({sum(len(np.unique(l)) - 1 for _, l in val)} nuclei), "
          f"training pool {len(pool_pairs)}; forgetting: {len(forgetting)} DSB fluorescence validation images; "
          f"budget {budget(args)}; fine-tuning changes {overrides(args.set)}", flush=True)

    results, rows = {}, {}
    for name in args.runs:
        model = None if name == "shipped" else train_run(name, pool_pairs, args)
        segmenter = Segmenter.load(model, device="cpu")
        results[name] = scores(segmenter, val)
        meta = segmenter.metadata
        rows[name] = {**summary(results[name]),
                      "enlarged_ap50": summary(scores(segmenter, enlarged))["ap50"] if enlarged else None,
                      "forgetting_ap50": summary(scores(segmenter, forgetting))["ap50"],
                      "minutes": meta.get("minutes"), "stopped": meta.get("stopped"),
                      "validation": meta.get("validation_method", "").split(":")[0],
                      "postprocessing": meta.get("postprocessing")}
        print(f"{name}: {json.dumps(rows[name])}", flush=True)

    reference = "ft10" if "ft10" in results else next((r for r in args.runs if r.startswith("ft")), args.runs[0])
    print(f"\n| model | AP50 | mean AP | FP/image | AP50 enlarged x{args.rescale:g} | AP50 DSB fluo (forgetting) | "
          f"Δ AP50 {reference} - model [95%] | minutes | stopped | validation | post-processing |")
    print("|---" * 11 + "|")
    for name, row in rows.items():
        diff = "-" if name == reference else "{:+.3f} [{:+.3f}, {:+.3f}]".format(
            *bootstrap(results[reference], results[name], args.resamples, args.seed))
        enlarged_cell = f"{row['enlarged_ap50']:.3f}" if row["enlarged_ap50"] is not None else "-"
        print(f"| {name} | {row['ap50']:.3f} | {row['mean_ap']:.3f} | {row['fp_per_image']:.1f} | {enlarged_cell} | "
              f"{row['forgetting_ap50']:.3f} | {diff} | {row['minutes'] or '-'} | {row['stopped'] or '-'} | "
              f"{row['validation'] or '-'} | {row['postprocessing'] or '-'} |")


if __name__ == "__main__":
    main()
