"""``nuset evaluate``: the paper's metrics and AP/F1 on an annotated set."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ._common import load_segmenter, segment_options, split_params

TABLE = [
    ("ap@0.50", "AP at IoU 0.5"), ("f1@0.50", "F1 at IoU 0.5"), ("mean_ap", "mean AP, IoU 0.5-0.95"),
    ("ap@0.75", "AP at IoU 0.75"), ("mean_iu", "mean IU (pixel)"), ("f1", "F1 (pixel)"), ("rmse", "RMSE (pixel)"),
    ("pixel_accuracy", "pixel accuracy"), ("correct_detections", "correct detections"),
    ("incorrect_detections", "incorrect detections"), ("split", "split errors"), ("merge", "merge errors"),
    ("catastrophe", "catastrophe errors"), ("fn_rate", "false-negative rate (0.7 overlap)"),
    ("fp_rate", "false-positive rate (0.7 overlap)"), ("touching_separated", "touching nuclei separated"),
    ("n_gt", "ground-truth nuclei"), ("n_pred", "predicted nuclei"), ("n_images", "images"),
]


def _check_output_file(output: Path, overwrite: bool) -> None:
    """Before any work: the folder exists, and an existing file is not
    replaced unless asked (--overwrite)."""
    if not output.parent.is_dir():
        raise click.ClickException(f"{output}: the folder {output.parent} does not exist; create it or choose "
                                   "another --output")
    if output.exists() and not overwrite:
        raise click.ClickException(f"{output} exists; pass --overwrite to replace it, or choose another --output")


def format_table(summary: dict) -> str:
    rows = []
    for key, name in TABLE:
        value = summary[key]
        rows.append(f"{name:<38} {value:.4f}" if isinstance(value, float) else f"{name:<38} {value}")
    return "\n".join(rows)


@click.command(context_settings={"show_default": True})
@click.option("--images", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--labels", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--split", type=click.Choice(["validation", "training", "all"]), default="validation",
              help="Which images of the fixed hash split to evaluate.")
@click.option("--validation-fraction", type=click.FloatRange(0, 1), default=0.1, help="As given to `nuset train`.")
@click.option("--method", type=click.Choice(["nuset", "otsu"]), default="nuset",
              help="nuset, or the classical Otsu + watershed baseline.")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=1.0,
              help="Up-scale images and labels by this factor first (size robustness).")
@click.option("--output", type=click.Path(dir_okay=False), default=None, help="Also save the metrics as JSON.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output file.")
@segment_options
def evaluate(images, labels, split, validation_fraction, method, scale, output, overwrite, model, device, backend,
             **options) -> None:
    """Segment annotated images and print pixel, object and AP metrics (pooled over the set)."""
    import numpy as np
    from skimage.transform import rescale

    from nuset_engine import ImageTooLargeError
    from nuset_engine.baseline import otsu_watershed
    from nuset_engine.data import find_pairs, load_pairs, split_pairs
    from nuset_engine.io import atomic_write
    from nuset_engine.metrics import evaluate_pair, pool

    params, _ = split_params(options)
    if output:
        _check_output_file(Path(output), overwrite)
    try:
        pairs = find_pairs(images, labels)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if split != "all":
        training, validation = split_pairs(pairs, validation_fraction)
        pairs = validation if split == "validation" else training
    if not pairs:
        raise click.ClickException(f"no images in the {split} split (--validation-fraction {validation_fraction}); "
                                   "try --split all")
    if method == "otsu":
        segment, kwargs = otsu_watershed, {}
    else:
        segmenter = load_segmenter(model, device, backend)
        segment, kwargs = segmenter.segment, params
        if params["two_pass"] is None:  # record what ran
            params["two_pass"] = segmenter.two_pass
    try:
        samples = load_pairs(pairs)  # every file is checked before any work
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    except ImageTooLargeError as exc:  # evaluation holds whole images: tiles would not help here
        raise click.ClickException(f"{exc.path}: the image is too large to load whole, and evaluation needs whole "
                                   f"images; crop it, or segment it with `nuset segment --tile-size "
                                   f"{exc.tile_size}`") from exc
    results = []
    with click.progressbar(zip(pairs, samples), length=len(pairs), label=f"evaluating {len(pairs)} images",
                           file=sys.stderr) as bar:
        for (_, image_path, _), (image, truth) in bar:
            try:
                if scale != 1.0:
                    image = rescale(image.astype(np.float32), scale, order=1, preserve_range=True)
                    truth = rescale(truth, scale, order=0, preserve_range=True, anti_aliasing=False).astype(np.int32)
                results.append(evaluate_pair(truth, segment(image, **kwargs)))
            except ValueError as exc:  # e.g. a parameter the engine refuses
                raise click.ClickException(f"{image_path}: {exc}") from exc
    summary = pool(results)
    click.echo(format_table(summary))
    if output:
        record = json.dumps({"method": method, "split": split, "scale": scale, "params": params,
                             "model": model or "default", "metrics": summary}, indent=2)
        try:
            atomic_write(output, lambda tmp: Path(tmp).write_text(record))
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc}") from exc
