"""Tracking time-lapses: the Cell Tracking Challenge's DET and TRA, ID
switches and link accuracy on time-lapses with known tracks, and the speed
of 2-D+t against plain 2-D on the same frames.

Usage:
  python benchmarks/tracking.py [--synthetic 3 --frames 30 --side 384]
                                [--real ../shared/data/dsb2018_stage1_train_fluo --real-images 4 --real-frames 8]
                                [--device cpu] [--seed 0]

Needs the scoring package py-ctcmetrics (the Cell Tracking Challenge's own
metrics, ``pip install py-ctcmetrics``; in the ``dev`` extra) and laptrack
(the ``tracking`` extra).

Two sets of time-lapses with known tracks:

- synthetic: nuclei drawn as blurred, textured ellipses with noise, moving
  (a random walk, pushed apart where they would overlap), dividing (about
  3% of nuclei a frame, daughters moving apart), entering and leaving the
  field; the ground-truth label movie and lineage (CTC man_track) are made
  with the images;
- real nuclei moved: real images and their annotations
  (DSB 2018 fluorescence, a few images with 30 nuclei or more) moved frame
  after frame by a shift in a random direction plus a small rotation,
  scaling and shear, no point moving more than half the median nucleus
  diameter per step; images and labels moved alike.

Each movie is segmented with the shipped model
(:func:`~nuset_engine.volumes.segment_series`: one nucleus size for all
frames), tracked without and with divisions
(:func:`~nuset_engine.tracking.track_series`), and written in the CTC
format (gap-closed tracks split into segments linked as parent and child,
as the CTC format requires) for py-ctcmetrics' DET, TRA, CLEAR-MOT ID
switches (IDSW, on tracks merged across gaps) and division scores (BC(0));
tracking alone is also scored with the ground truth as the segmentation.
Link accuracy: a link is a truth nucleus in two consecutive frames (at
least half of its area in the field in both); it is kept when the labels
matched to it (IoU > 0.5) in both frames carry one track id. The issue's
target is >= 99% on real nuclei moved by up to half a nucleus.

Speed: every frame also segmented by plain 2-D ``Segmenter.segment`` (its
own nucleus size per frame), in the same run: seconds per megapixel per
frame of both, and of tracking. The CPU model is printed first.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import tifffile
from scipy import ndimage
from skimage.draw import ellipse
from skimage.transform import AffineTransform, warp

from common import cpu_description
from nuset_engine import Segmenter
from nuset_engine.stacks import ArrayStack
from nuset_engine.tracking import track_series
from nuset_engine.volumes import segment_series

REAL = Path(__file__).parents[2] / "shared" / "data" / "dsb2018_stage1_train_fluo"


# ---------------------------------------------------------------- synthetic time-lapses with known tracks


def synthetic_timelapse(rng, frames: int = 30, side: int = 384, nuclei: int = 50, margin: int = 40,
                        division_rate: float = 0.03):
    """Nuclei that move, divide, enter and leave a ``side`` square field.

    Returns
    -------
    movie : numpy.ndarray
        ``(T, side, side)`` uint8 images.
    truth : numpy.ndarray
        ``(T, side, side)`` uint16 ground-truth labels, by CTC track label.
    lineage : numpy.ndarray
        ``(N, 4)`` CTC tracks: label, first frame, last frame, parent label
        (0: none). A nucleus that leaves the field and comes back starts
        a new track; daughters' tracks have their mother's as parent.
    """
    extent = side + 2 * margin  # nuclei live in the field and a margin around it, so they enter and leave
    cells = []  # dicts: id, pos, vel, radii (now and grown), angle, brightness, age

    def new_cell(pos, vel, radii, full=None):
        cells.append({"id": len(cells_ever) + 1, "pos": np.asarray(pos, float), "vel": np.asarray(vel, float),
                      "radii": np.asarray(radii, float), "full": np.asarray(radii if full is None else full, float),
                      "angle": rng.uniform(0, np.pi), "brightness": rng.uniform(0.6, 1.0), "age": 0})
        cells_ever.append(cells[-1]["id"])

    cells_ever: list[int] = []
    for _ in range(nuclei):
        r = rng.uniform(7, 10)
        new_cell(rng.uniform(0, extent, 2), rng.normal(0, 1.5, 2), (r, r * rng.uniform(0.7, 0.95)))
    id_maps, images, mother_of = [], [], {}
    yy, xx = np.mgrid[:side, :side]
    for t in range(frames):
        if t:
            for cell in list(cells):  # divisions
                if cell["age"] >= 6 and rng.random() < division_rate:
                    cells.remove(cell)
                    axis = rng.uniform(0, 2 * np.pi)
                    direction = np.array([np.sin(axis), np.cos(axis)])
                    for sign in (-1, 1):
                        new_cell(cell["pos"] + sign * 0.6 * cell["radii"][0] * direction,
                                 cell["vel"] * 0.5 + sign * 1.5 * direction, cell["full"] * 0.8, cell["full"])
                        mother_of[cells[-1]["id"]] = cell["id"]
            for cell in cells:  # motion: a damped random walk, bounded by the margin
                cell["vel"] = 0.7 * cell["vel"] + rng.normal(0, 1.2, 2)
                speed = np.hypot(*cell["vel"])
                if speed > 6:
                    cell["vel"] *= 6 / speed
                cell["pos"] += cell["vel"]
                for i in range(2):
                    if not 0 <= cell["pos"][i] <= extent:
                        cell["pos"][i] = np.clip(cell["pos"][i], 0, extent)
                        cell["vel"][i] *= -1
                cell["radii"] = np.minimum(cell["radii"] * 1.02, cell["full"])  # daughters grow back
                cell["age"] += 1
            for _ in range(3):  # push overlapping nuclei apart
                for i, a in enumerate(cells):
                    for b in cells[i + 1 :]:
                        gap = b["pos"] - a["pos"]
                        distance = max(np.hypot(*gap), 1e-6)
                        need = 1.1 * (a["radii"][0] + b["radii"][0])
                        if distance < need:
                            push = (need - distance) / 2 * gap / distance
                            a["pos"] -= push
                            b["pos"] += push
        ids = np.zeros((side, side), np.uint32)
        signal = np.zeros((side, side))
        for cell in cells:
            y, x = cell["pos"] - margin
            rr, cc = ellipse(y, x, cell["radii"][0], cell["radii"][1], shape=(side, side), rotation=cell["angle"])
            ids[rr, cc] = cell["id"]
            texture = 1 + 0.15 * np.sin(0.8 * (yy[rr, cc] - y) + cell["id"]) * np.cos(0.7 * (xx[rr, cc] - x))
            signal[rr, cc] = cell["brightness"] * texture
        image = ndimage.gaussian_filter(signal, 1.5) * 170 + 20 + rng.normal(0, 7, signal.shape)
        images.append(np.clip(image, 0, 255).astype(np.uint8))
        id_maps.append(ids)
    truth, lineage = _ctc_tracks(np.stack(id_maps), mother_of)
    return np.stack(images), truth, lineage


def _ctc_tracks(id_maps: np.ndarray, mother_of: dict[int, int]):
    """Cell ids per frame → CTC track labels and lineage: a track is a run
    of consecutive frames in which a cell is seen."""
    label_of: dict[tuple[int, int], int] = {}  # (cell, frame) → track label
    tracks, last_label = [], {}  # last_label: cell → (label, last frame seen)
    truth = np.zeros(id_maps.shape, np.uint16)
    for t, ids in enumerate(id_maps):
        present = np.unique(ids)[1:]
        lut = np.zeros(int(ids.max(initial=0)) + 1, np.uint16)
        for cell in present.tolist():
            label, seen = last_label.get(cell, (0, -2))
            if seen != t - 1:  # new, or back in the field: a new track
                mother = mother_of.get(cell, 0)
                parent = last_label.get(mother, (0, -2))
                parent_label = parent[0] if mother and seen == -2 and parent[1] == t - 1 else 0
                label = len(tracks) + 1
                tracks.append([label, t, t, parent_label])
            tracks[label - 1][2] = t
            last_label[cell] = (label, t)
            lut[cell] = label
        truth[t] = lut[ids]
    return truth, np.array(tracks, int).reshape(-1, 4)


# ---------------------------------------------------------------- real nuclei moved


def median_diameter(labels: np.ndarray) -> float:
    areas = np.bincount(labels.ravel())[1:]
    return float(np.median(2 * np.sqrt(areas[areas > 0] / np.pi)))


def moved_real(image: np.ndarray, truth: np.ndarray, frames: int, rng, fraction: float = 0.5):
    """``(movie, truth movie)``: the image and its labels moved alike, frame
    after frame, by a shift in a random direction and a small rotation,
    scaling and shear about the centre; no point moves more than
    ``fraction`` of the median nucleus diameter per step."""
    diameter, (h, w) = median_diameter(truth), truth.shape
    centre = np.array([w / 2, h / 2])
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], float)
    radius = np.hypot(*centre)
    whole, movie, labels = AffineTransform(), [image], [truth]
    while len(movie) < frames:
        angle, scale, shear = rng.uniform(-1, 1, 3) * 0.1 * diameter / radius
        direction = rng.uniform(0, 2 * np.pi)
        shift = rng.uniform(0.25, 0.45) * diameter * np.array([np.cos(direction), np.sin(direction)])
        step = (AffineTransform(translation=-centre) + AffineTransform(rotation=angle, scale=1 + scale, shear=shear)
                + AffineTransform(translation=centre + shift))
        if np.abs(step(corners) - corners).max() > fraction * diameter:
            continue
        whole = whole + step
        movie.append(warp(image, whole.inverse, order=1, preserve_range=True, mode="reflect").astype(image.dtype))
        labels.append(warp(truth, whole.inverse, order=0, preserve_range=True).astype(truth.dtype))
    return np.stack(movie), np.stack(labels)


def real_pairs(folder: Path, count: int, least_nuclei: int = 30):
    """The first ``count`` fluorescence images (by name) with at least
    ``least_nuclei`` annotated nuclei: ``[(name, image, labels)]``."""
    import csv

    with open(folder / "manifest.csv") as fh:
        chosen = sorted(r["id"] for r in csv.DictReader(fh) if int(r["n_nuclei"]) >= least_nuclei)[:count]
    return [(name, tifffile.imread(folder / "images" / f"{name}.tif"), tifffile.imread(folder / "labels" /
                                                                                       f"{name}.tif"))
            for name in chosen]


# ---------------------------------------------------------------- scoring


def majority_labels(truth: np.ndarray, labels: np.ndarray) -> dict[int, tuple[int, float]]:
    """{truth id: (the label covering most of it, their IoU)} (label 0: background)."""
    base = int(labels.max()) + 1
    pairs, counts = np.unique(truth.astype(np.int64) * base + labels, return_counts=True)
    ids, found = np.divmod(pairs, base)
    order = np.lexsort((-counts, ids))
    ids, found, counts = ids[order], found[order], counts[order]
    first = np.r_[True, ids[1:] != ids[:-1]]
    area_t = np.bincount(truth.ravel())
    area_l = np.bincount(labels.ravel(), minlength=base)
    result = {}
    for g, f, n in zip(ids[first], found[first], counts[first]):
        if g:
            result[int(g)] = (int(f), n / (area_t[g] + area_l[f] - n) if f else 0.0)
    return result


def link_accuracy(truth: np.ndarray, tracked: np.ndarray, min_fraction: float = 0.5) -> dict:
    """Links of truth nuclei between consecutive frames (see the module's
    docstring): ``links``, ``found`` (matched at IoU > 0.5 in both frames),
    ``kept`` (of those found, one track id in both)."""
    size = int(truth.max()) + 1
    areas = np.stack([np.bincount(frame.ravel(), minlength=size) for frame in truth])
    inside = areas >= min_fraction * areas.max(0)
    matched = [majority_labels(f, lab) for f, lab in zip(truth, tracked)]
    links = found = kept = 0
    for t in range(len(truth) - 1):
        for g in matched[t].keys() & matched[t + 1].keys():
            if inside[t, g] and inside[t + 1, g]:
                links += 1
                (a, iou_a), (b, iou_b) = matched[t][g], matched[t + 1][g]
                if iou_a > 0.5 and iou_b > 0.5:
                    found += 1
                    kept += a == b
    return {"links": links, "found": found, "kept": kept}


def ctc_result(tracked: np.ndarray, rows: list[dict]):
    """Tracked labels (by track id) and :func:`track_series` rows → CTC
    masks and tracks: a track seen in frames with a gap (gap closing) is
    split into segments, each later one the child of the one before."""
    frames_of: dict[int, list[int]] = {}
    parent_of: dict[int, int] = {}
    for r in rows:
        frames_of.setdefault(r["track_id"], []).append(r["frame"])
        parent_of[r["track_id"]] = r["parent_track_id"]
    segments, label_at, last_label = [], {}, {}
    for track in sorted(frames_of):
        frames = sorted(frames_of[track])
        runs = np.split(np.array(frames), np.flatnonzero(np.diff(frames) > 1) + 1)
        parent = 0
        for i, run in enumerate(runs):
            label = len(segments) + 1
            segments.append([label, int(run[0]), int(run[-1]), parent if i else -track])  # -track: resolved below
            for f in run.tolist():
                label_at[(track, f)] = label
            parent = label
        last_label[track] = parent
    for segment in segments:  # a track's first segment: its parent track's last segment
        if segment[3] < 0:
            segment[3] = last_label.get(parent_of[-segment[3]], 0)
    masks = np.zeros(tracked.shape, np.uint16)
    for t, frame in enumerate(tracked):
        lut = np.zeros(int(frame.max(initial=0)) + 1, np.uint16)
        for track in np.unique(frame)[1:].tolist():
            lut[track] = label_at[(track, t)]
        masks[t] = lut[frame]
    return masks, np.array(segments, int).reshape(-1, 4)


def _write_ctc(folder: Path, masks: np.ndarray, tracks: np.ndarray, mask_name: str, track_file: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    digits = max(3, len(str(len(masks) - 1)))
    for t, mask in enumerate(masks):
        tifffile.imwrite(folder / f"{mask_name}{t:0{digits}d}.tif", mask)
    np.savetxt(folder / track_file, tracks, fmt="%d")


def ctc_scores(truth: np.ndarray, lineage: np.ndarray, tracked: np.ndarray, rows: list[dict]) -> dict:
    """py-ctcmetrics' DET, TRA, IDSW (CLEAR MOT, on tracks merged across
    gaps) and BC(0) (divisions found in the right frame) of a tracking
    result against the truth."""
    from ctc_metrics import evaluate_sequence

    masks, tracks = ctc_result(tracked, rows)
    with tempfile.TemporaryDirectory() as tmp:
        _write_ctc(Path(tmp) / "gt" / "TRA", truth, lineage, "man_track", "man_track.txt")
        _write_ctc(Path(tmp) / "res", masks, tracks, "mask", "res_track.txt")
        with contextlib.redirect_stdout(io.StringIO()):
            scores = evaluate_sequence(str(Path(tmp) / "res"), str(Path(tmp) / "gt"),
                                       ["Valid", "DET", "TRA", "MOTA", "BC"], threads=1)
    if not scores.get("Valid"):
        raise RuntimeError("py-ctcmetrics found the result invalid (CTC format)")
    return scores


def renumbered(labels: np.ndarray) -> np.ndarray:
    """``(T, H, W)`` labels numbered anew in each frame (as segmented), ``(T, 1, H, W)`` uint32."""
    out = np.zeros((labels.shape[0], 1, *labels.shape[1:]), np.uint32)
    for t, frame in enumerate(labels):
        ids = np.unique(frame)[1:]
        lut = np.zeros(int(frame.max(initial=0)) + 1, np.uint32)
        lut[ids] = np.arange(1, len(ids) + 1)[::-1]
        out[t, 0] = lut[frame]
    return out


# ---------------------------------------------------------------- the run


class Timer:
    def __init__(self):
        self.seconds = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


def score_movie(segmenter, movie, truth, lineage, timer: Timer, results: dict, kind: str) -> None:
    """Segment (2-D+t and plain 2-D), track (with and without divisions) and
    score one movie; accumulate into ``results[(kind, variant)]``."""
    with timer("2-D"):
        for frame in movie:
            segmenter.segment(frame)
    with timer("2-D+t segmentation"):
        labels = segment_series(segmenter, ArrayStack(movie, "TYX"))
    timer.seconds["megapixels"] = timer.seconds.get("megapixels", 0.0) + movie.size / 1e6
    variants = {"segmented": labels, "truth as segmentation": renumbered(truth)}
    for source, base in variants.items():
        for divisions in (False, True):
            tracked = base.copy()
            with timer("tracking" if source == "segmented" and not divisions else "other"):
                rows = track_series(tracked, divisions=divisions)
            scores = ctc_scores(truth, lineage, tracked[:, 0], rows)
            scores |= link_accuracy(truth, tracked[:, 0])
            key = (kind, source, "divisions" if divisions else "no divisions")
            results.setdefault(key, []).append(scores)


def print_table(results: dict) -> None:
    print("| time-lapses | segmentation | tracking | DET | TRA | IDSW | BC(0) divisions | links kept / found "
          "(found / all) |")
    print("|---|---|---|---|---|---|---|---|")
    for (kind, source, variant), runs in results.items():
        det, tra = np.mean([r["DET"] for r in runs]), np.mean([r["TRA"] for r in runs])
        idsw = sum(int(r["IDSW"]) for r in runs)
        bc = [r["BC(0)"] for r in runs if r.get("BC(0)") is not None and r.get("gt_divisions")]
        divisions = f"{np.mean(bc):.3f} ({sum(r['gt_divisions'] for r in runs)})" if bc else "-"
        links, found, kept = (sum(r[k] for r in runs) for k in ("links", "found", "kept"))
        print(f"| {kind} | {source} | {variant} | {det:.4f} | {tra:.4f} | {idsw} | {divisions} | "
              f"{kept / max(found, 1):.2%} of {found} ({found / max(links, 1):.1%} of {links}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=3, help="synthetic time-lapses")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--side", type=int, default=384)
    parser.add_argument("--real", type=Path, default=REAL)
    parser.add_argument("--real-images", type=int, default=4)
    parser.add_argument("--real-frames", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import torch

    segmenter = Segmenter.load(device=args.device)
    print(f"{cpu_description()}; torch {torch.__version__}, {torch.get_num_threads()} threads, device "
          f"{args.device}", flush=True)
    rng = np.random.default_rng(args.seed)
    timer, results = Timer(), {}
    for i in range(args.synthetic):
        movie, truth, lineage = synthetic_timelapse(rng, args.frames, args.side)
        print(f"synthetic {i}: {args.frames} frames of {args.side}x{args.side}, {len(lineage)} tracks, "
              f"{int((lineage[:, 3] > 0).sum())} daughters", flush=True)
        score_movie(segmenter, movie, truth, lineage, timer, results, "synthetic")
    if args.real_images:
        for name, image, labels in real_pairs(args.real, args.real_images):
            movie, truth = moved_real(image, labels, args.real_frames, rng)
            truth_tracks, lineage = _ctc_tracks(truth.astype(np.uint32), {})
            print(f"real {name[:12]}: {args.real_frames} frames of {image.shape[0]}x{image.shape[1]}, "
                  f"{len(np.unique(labels)) - 1} nuclei, median diameter {median_diameter(labels):.1f} px",
                  flush=True)
            score_movie(segmenter, movie, truth_tracks, lineage, timer, results, "real nuclei moved")
    print()
    print_table(results)
    mp = timer.seconds["megapixels"]
    print(f"\nspeed over {mp:.2f} MP of frames: plain 2-D {timer.seconds['2-D'] / mp:.2f} s/MP; 2-D+t "
          f"{(timer.seconds['2-D+t segmentation'] + timer.seconds['tracking']) / mp:.2f} s/MP "
          f"(segmentation {timer.seconds['2-D+t segmentation'] / mp:.2f}, tracking "
          f"{timer.seconds['tracking'] / mp:.3f})")


if __name__ == "__main__":
    main()
