"""The command line the Fiji command "NuSeT Segment" runs.

    python -m fiji_bridge.command --input in.tif --output labels.tif [--rois rois.zip] [options]
    python -m fiji_bridge.command --input-dir DIR --output-dir OUT [--rois] [options]

One JSON object per image on stdout (``{"image", "labels", "rois",
"nuclei", "seconds"}``); on failure one readable line on stderr starting with
``NuSeT error:`` and exit code 1. The folder form pays Python and torch
start-up once for a whole folder.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cli._common import segment_options, split_params


def _fail(message: str) -> None:
    click.echo(f"NuSeT error: {message}", err=True)
    sys.exit(1)


@click.command(context_settings={"show_default": True})
@click.option("--input", "input_path", type=click.Path(dir_okay=False), help="One image.")
@click.option("--output", "output_path", type=click.Path(dir_okay=False), help="Label TIFF to write.")
@click.option("--input-dir", type=click.Path(file_okay=False), help="A folder of images.")
@click.option("--output-dir", type=click.Path(file_okay=False), help="Folder for <name>_labels.tif.")
@click.option("--rois", "rois", default=None, is_flag=False, flag_value="auto",
              help="Also write ImageJ ROIs (a zip path for --input; a flag for --input-dir).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@segment_options
def main(input_path, output_path, input_dir, output_dir, rois, overwrite, model, device, **options):
    """Segment for the Fiji command; JSON lines out, readable errors."""
    from nuset_engine import ModelFileError
    from nuset_engine.batch import BatchOptions, Job, OUTPUT_SUFFIXES, plan_jobs, preload, process_job

    params, _ = split_params(options)
    if bool(input_path) == bool(input_dir) or bool(input_path) != bool(output_path) or bool(input_dir) != bool(output_dir):
        _fail("give --input and --output, or --input-dir and --output-dir")
    # ImageJ 1.x opens only untiled TIFFs: labels of images segmented in tiles are written untiled here
    batch = BatchOptions(model=model, device=device, params=params, rois=rois is not None, overwrite=overwrite,
                         tiled_tiff=False)
    try:
        preload(batch)
    except (ModelFileError, ValueError) as exc:
        _fail(str(exc))
    if input_path:
        prefix = str(Path(output_path).with_suffix(""))
        prefix = prefix[: -len("_labels")] if prefix.endswith("_labels") else prefix
        jobs = [Job(input_path, prefix)]
    else:
        try:
            jobs = plan_jobs([input_dir], output_dir)
        except ValueError as exc:
            _fail(str(exc))
    failed = 0
    for job in jobs:
        row = process_job(job, batch)
        if row["status"] == "error":
            failed += 1
            click.echo(f"NuSeT error: {row['error']}", err=True)
            continue
        labels = job.prefix + OUTPUT_SUFFIXES["labels"]
        if input_path and Path(labels) != Path(output_path):
            Path(labels).replace(output_path)
            labels = output_path
        roi_path = job.prefix + OUTPUT_SUFFIXES["rois"] if rois is not None else None
        if input_path and roi_path and rois != "auto":
            Path(roi_path).replace(rois)
            roi_path = rois
        click.echo(json.dumps({"image": job.source, "labels": labels, "rois": roi_path,
                               "nuclei": row["nuclei"], "seconds": row["seconds"]}), nl=True)
        sys.stdout.flush()
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
