"""The command line the Fiji command "NuSeT Segment" runs.

    python -m fiji_bridge.command --input in.tif --output labels.tif [--rois rois.zip] [options]
    python -m fiji_bridge.command --input-dir DIR --output-dir OUT [--rois] [options]

Each segmentation option of the table (``nuset_engine.options``) the Fiji
command offers is a flag taking the text typed in the dialog or macro:
``--min-score 0.9``, ``--tile-size auto``, ``--two-pass one``,
``--watershed false``; the table parses and checks it.

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

from nuset_engine.options import SEGMENT_OPTIONS, OptionError

FIJI_OPTIONS = tuple(o for o in SEGMENT_OPTIONS if "fiji" in o.hosts)


def _fail(message: str) -> None:
    click.echo(f"NuSeT error: {message}", err=True)
    sys.exit(1)


def table_options(func):
    """One text-valued flag per option of the table the Fiji command offers."""
    for entry in reversed(FIJI_OPTIONS):
        func = click.option(entry.flag, entry.name, default=None, metavar="TEXT",
                            help=f"{entry.help} Macro key: {entry.key}.")(func)
    return func


def parse_params(texts: dict) -> dict:
    """The engine parameters from the texts given (``None``: not given)."""
    return {entry.name: entry.parse(texts[entry.name]) for entry in FIJI_OPTIONS if texts[entry.name] is not None}


@click.command(context_settings={"show_default": True})
@click.option("--input", "input_path", type=click.Path(dir_okay=False), help="One image.")
@click.option("--output", "output_path", type=click.Path(dir_okay=False), help="Label TIFF to write.")
@click.option("--input-dir", type=click.Path(file_okay=False), help="A folder of images.")
@click.option("--output-dir", type=click.Path(file_okay=False), help="Folder for <name>_labels.tif.")
@click.option("--rois", "rois", default=None, is_flag=False, flag_value="auto",
              help="Also write ImageJ ROIs (a zip path for --input; a flag for --input-dir).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--model", type=click.Path(dir_okay=False), default=None, help="Model file (default: the shipped one).")
@click.option("--device", default="auto", help="auto, cpu or cuda.")
@table_options
def main(input_path, output_path, input_dir, output_dir, rois, overwrite, model, device, **texts):
    """Segment for the Fiji command; JSON lines out, readable errors."""
    from nuset_engine import ModelFileError
    from nuset_engine.batch import BatchOptions, Job, OUTPUT_SUFFIXES, plan_jobs, preload, process_job

    try:
        params = parse_params(texts)
    except OptionError as exc:
        _fail(str(exc))
    if bool(input_path) == bool(input_dir) or bool(input_path) != bool(output_path) or bool(input_dir) != bool(output_dir):
        _fail("give --input and --output, or --input-dir and --output-dir")
    try:
        # ImageJ 1.x opens only untiled TIFFs: labels of images segmented in tiles are written untiled here
        batch = BatchOptions(model=model, device=device, params=params, rois=rois is not None, overwrite=overwrite,
                             tiled_tiff=False)
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
