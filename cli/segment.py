"""``nuset segment``: images in; labels, ROIs, measurements, overlays and a
run summary out. Parses options and reports; the work is ``nuset_engine.batch``."""
from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import click

from nuset_engine.options import option

from ._common import click_option, in_cli_terms, input_option, load_config, segment_options, split_params

RUN_FILES = ("summary.csv", "nuset_run.json")  # per run, in the --output folder


def _check_output_folder(output: Path, replace_run_files: bool) -> None:
    """Before any work: the folder can be made, and an earlier run's summary
    is not replaced unless asked (--overwrite, or --resume to continue it)."""
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"cannot create the output folder {output}: {exc}") from exc
    for name in RUN_FILES:
        if (output / name).exists() and not replace_run_files:
            raise click.ClickException(
                f"{output / name} exists (an earlier run's); pass --overwrite to replace it, --resume to continue "
                "that run, or choose another --output folder")


@click.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, required=True)
@click.option("--config", type=click.Path(exists=True, dir_okay=False), callback=load_config, is_eager=True,
              expose_value=False, help="TOML file of option defaults (keys as option names, e.g. min_score = 0.9).")
@click.option("--output", "-o", type=click.Path(file_okay=False), default=None,
              help="Output folder (input sub-folders are mirrored). Default: next to each image.")
@click.option("--recursive", "-r", is_flag=True, help="Descend into sub-folders (and ** in patterns).")
@input_option("channel")
@click.option("--rois", is_flag=True, help="Also write <name>_rois.zip (ImageJ ROIs, one per nucleus).")
@click.option("--measurements", is_flag=True, help="Also write <name>_measurements.csv (one row per nucleus).")
@click.option("--overlay", is_flag=True, help="Also write <name>_overlay.png (outlines on the image).")
@click.option("--pixel-size", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Microns per pixel for measurements (default: from TIFF metadata, else pixels).")
@click.option("--axes", default=None, metavar="AXES",
              help="Axes of TIFFs that do not record them (or to override them), one letter per dimension from "
                   "T, Z, C, S, Y, X, e.g. ZYX or TZCYX. Z-stacks and time-lapses are segmented plane by plane.")
@click.option("--voxel-size", type=(click.FloatRange(min=0, min_open=True),) * 3, default=None,
              metavar="Z Y X", help="Voxel size of stacks in microns (default: from TIFF metadata).")
@click_option(option("divisions"))
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (and an earlier run's summary); an "
              "interrupted stack or time-lapse starts again from its first frame.")
@click.option("--resume", is_flag=True, help="Skip images whose outputs are all present. (An interrupted stack or "
              "time-lapse always continues from its last finished frame when run again with the same options.)")
@click.option("--workers", type=click.IntRange(min=0), default=0, help="Run on a local Dask cluster with this many processes.")
@click.option("--scheduler", default=None, help="Address of an existing Dask scheduler (tcp://host:8786).")
@segment_options
def segment(inputs, output, recursive, channel, rois, measurements, overlay, pixel_size, axes, voxel_size, divisions,
            overwrite, resume, workers, scheduler, model, device, backend, **options) -> None:
    """Segment nuclei in INPUTS (image files, folders or glob patterns).

    Per image: <name>_labels.tif (uint16 labels, 0 = background) and the
    optional outputs; per run (with --output): summary.csv and
    nuset_run.json (parameters and versions). A bad image is reported and
    skipped; the exit code is 1 when any image failed.

    Z-stacks and time-lapses (TIFFs whose axes, or --axes, have Z or T):
    <name>_labels.tif is an ImageJ hyperstack of 3-D labels (voxel size
    kept) and --measurements writes volumes, centroids and extents; the
    nuclei of time-lapses are tracked (<name>_tracks.csv; labels are track
    ids; --divisions links daughters to their mother). A stack or
    time-lapse interrupted (Ctrl-C, killed) continues from its last
    finished frame when the command is run again. See docs/cli.md, "Stacks
    and time-lapses".
    """
    from nuset_engine import ModelFileError
    from nuset_engine.batch import BatchOptions, plan_jobs, preload, run_batch, write_run_record, write_summary

    params, _ = split_params(options)
    try:
        jobs = plan_jobs(inputs, output, recursive)
    except ValueError as exc:
        raise click.ClickException(in_cli_terms(exc)) from exc
    if output:
        _check_output_folder(Path(output), overwrite or resume)
    try:
        batch = BatchOptions(model=model, device=device, backend=backend, params=params, channel=channel, rois=rois,
                             measurements=measurements, overlay=overlay, pixel_size=pixel_size,
                             overwrite=overwrite, resume=resume, axes=axes, voxel_size=voxel_size,
                             divisions=divisions)
        preload(batch)
    except (ModelFileError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    started = time.time()
    # On SIGTERM (a cluster job's time limit, kill) unwind like Ctrl-C, so the
    # file being written is removed instead of left half-written.
    signal.signal(signal.SIGTERM, _terminate)
    show_bar = sys.stderr.isatty() and len(jobs) > 1
    with click.progressbar(length=len(jobs), label="segmenting", file=sys.stderr, show_eta=True,
                           show_pos=True) if show_bar else _NoBar() as bar:

        def report(row):
            bar.update(1)
            if row["status"] == "error":
                click.echo(f"error: {row['error']}", err=True)
            elif not show_bar:
                click.echo(f"{row['image']}: {row['nuclei']} nuclei ({row['status']})")

        try:
            rows = run_batch(jobs, batch, workers=workers, scheduler=scheduler, on_result=report, phrase=in_cli_terms)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc
    failed = [r for r in rows if r["status"] == "error"]
    if output:
        try:
            write_summary(Path(output) / RUN_FILES[0], rows)
            write_run_record(Path(output) / RUN_FILES[1], batch, jobs, started)
        except OSError as exc:
            raise click.ClickException(f"cannot write the run summary: {exc}") from exc
    done = sum(r["status"] == "ok" for r in rows)
    click.echo(f"{done} segmented, {len(rows) - done - len(failed)} skipped, {len(failed)} failed"
               + (f"; summary in {Path(output) / 'summary.csv'}" if output else ""), err=True)
    if failed:
        sys.exit(1)


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        pass
