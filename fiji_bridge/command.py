"""The Python side of the Fiji commands "NuSeT Segment" and "NuSeT Segment Folder".

    python -m fiji_bridge.command --input in.tif --output labels.tif [--rois rois.zip] [options]
    python -m fiji_bridge.command --input-dir DIR --output-dir OUT [--rois] [options]
    python -m fiji_bridge.command --serve

Each segmentation option of the table (``nuset_engine.options``) the Fiji
command offers is a flag taking the text typed in the dialog or macro:
``--min-score 0.9``, ``--tile-size auto``, ``--two-pass one``,
``--watershed false``; the table parses and checks it.

One JSON object per image on stdout (``{"image", "labels", "rois",
"nuclei", "seconds"}``); on failure one readable line on stderr starting with
``NuSeT error:`` and exit code 1. The folder form pays Python and torch
start-up once for a whole folder.

An ``--input`` with Z planes or T frames (an ImageJ hyperstack TIFF: its
axes are in the file) is segmented as a stack: nuclei joined in 3-D, a
time-lapse's nuclei tracked (labels = track ids); ``--output`` is then a
label hyperstack with the same Z and T, and ``--rois`` one ROI per nucleus
per plane with its Z/T position. ``--voxel-size Z Y X`` gives the voxel size
(ImageJ's calibration: voxel depth, pixel height, pixel width, in one unit).

``--serve`` is the worker one ImageJ session keeps: it reads requests from
stdin, one JSON line each (``{"args": [the arguments above]}``), and answers
each with the same JSON objects on stdout, ``{"error": "..."}`` for each
failure, and a last line ``{"done": true}``. Python, torch and the model
load once per session instead of once per image. It ends when stdin closes
(ImageJ quits).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np

from nuset_engine.options import BACKENDS, SEGMENT_OPTIONS, OptionError

FIJI_OPTIONS = tuple(o for o in SEGMENT_OPTIONS if "fiji" in o.hosts)


class Failure(Exception):
    """A request that cannot run at all (its message is for the ImageJ Log)."""


def table_options(func):
    """One text-valued flag per option of the table the Fiji command offers."""
    for entry in reversed(FIJI_OPTIONS):
        func = click.option(entry.flag, entry.name, default=None, metavar="TEXT",
                            help=f"{entry.help} Macro key: {entry.key}.")(func)
    return func


def in_fiji_terms(exc: BaseException) -> str:
    """An engine error as the Fiji commands say it: their macro keys and
    dialog fields, not the Python API's keywords (module-level: picklable)."""
    from nuset_engine.errors import ImageTooLargeError, OutputClashError, OutputExistsError

    if isinstance(exc, OutputExistsError):  # the commands never replace a file silently, and have no resume
        return f"{exc.path} exists; delete it or choose another output folder"
    if isinstance(exc, ImageTooLargeError):
        return exc.phrase(tile_size="tile_size={}")
    if isinstance(exc, OutputClashError):
        return exc.phrase(output="output")
    return str(exc)


def parse_params(texts: dict) -> dict:
    """The engine parameters from the texts given (``None``: not given)."""
    return {entry.name: entry.parse(texts[entry.name]) for entry in FIJI_OPTIONS if texts[entry.name] is not None}


def segment_request(input_path, output_path, input_dir, output_dir, rois, overwrite, model, device, texts,
                    emit, error, backend="auto", voxel_size=None) -> int:
    """Segment one image or a folder; ``emit(dict)`` per image done,
    ``error(message)`` per image failed. Returns the number failed; raises
    :class:`Failure` when nothing can run."""
    from nuset_engine import ModelFileError
    from nuset_engine.batch import BatchOptions, Job, OUTPUT_SUFFIXES, plan_jobs, preload, process_job

    try:
        params = parse_params(texts)
    except OptionError as exc:
        raise Failure(str(exc)) from None
    if bool(input_path) == bool(input_dir) or bool(input_path) != bool(output_path) or bool(input_dir) != bool(output_dir):
        raise Failure("give --input and --output, or --input-dir and --output-dir")
    try:
        # ImageJ 1.x opens only untiled TIFFs: labels of images segmented in tiles are written untiled here
        batch = BatchOptions(model=model, device=device, backend=backend, params=params, rois=rois is not None, overwrite=overwrite,
                             tiled_tiff=False)
        preload(batch)
    except (ModelFileError, ValueError) as exc:
        raise Failure(str(exc)) from None
    if input_path and _is_stack(input_path):
        return segment_stack_file(input_path, output_path, rois, batch, voxel_size, emit, error)
    if input_path:
        prefix = str(Path(output_path).with_suffix(""))
        prefix = prefix[: -len("_labels")] if prefix.endswith("_labels") else prefix
        jobs = [Job(input_path, prefix)]
    else:
        try:
            jobs = plan_jobs([input_dir], output_dir)
        except ValueError as exc:
            raise Failure(in_fiji_terms(exc)) from None
    failed = 0
    for job in jobs:
        row = process_job(job, batch, phrase=in_fiji_terms)
        if row["status"] == "error":
            failed += 1
            # one image from ImageJ travels as a temporary file: its path means nothing to the user
            error(row["error"].replace(f"{input_path}: ", "") if input_path else row["error"])
            continue
        labels = job.prefix + OUTPUT_SUFFIXES["labels"]
        if input_path and Path(labels) != Path(output_path):
            Path(labels).replace(output_path)
            labels = output_path
        roi_path = job.prefix + OUTPUT_SUFFIXES["rois"] if rois is not None else None
        if input_path and roi_path and rois != "auto":
            Path(roi_path).replace(rois)
            roi_path = rois
        emit({"image": job.source, "labels": labels, "rois": roi_path, "nuclei": row["nuclei"],
              "seconds": row["seconds"]})
    return failed


def _is_stack(path) -> bool:
    from nuset_engine.stacks import is_stack

    return str(path).lower().endswith((".tif", ".tiff")) and is_stack(path)


def segment_stack_file(input_path, output_path, rois, batch, voxel_size, emit, error) -> int:
    """Segment one ImageJ hyperstack TIFF (Z and/or T) into a label
    hyperstack with the same Z and T, and its ROIs with their positions.
    ``emit``/``error`` as for :func:`segment_request`; returns 0 or 1."""
    import time

    from nuset_engine.batch import preload
    from nuset_engine.stacks import open_stack, series_axes, write_stack_labels

    from .hyperstacks import segment_hyperstack
    from .rois import write_stack_rois

    t0 = time.perf_counter()
    if Path(output_path).exists() and not batch.overwrite:
        error(f"{output_path} exists; delete it or choose another output file")
        return 1
    try:
        stack = open_stack(input_path, voxel_size=tuple(voxel_size) if voxel_size else None)
        labels, _ = segment_hyperstack(preload(batch), stack, batch.params)  # the labels are track ids
    except (ValueError, RuntimeError, OSError) as exc:  # the image, the model's input kind, laptrack missing
        error(in_fiji_terms(exc).replace(f"{input_path}: ", ""))
        return 1
    axes = series_axes(*labels.shape[:2])
    write_stack_labels(output_path, labels.reshape([n for n in labels.shape[:2] if n > 1] + list(labels.shape[2:])),
                       stack.voxel_size, overwrite=True, axes=axes)
    if rois is not None:
        write_stack_rois(rois, labels)
    nuclei = int(np.count_nonzero(np.bincount(labels.ravel())[1:]))  # of a time-lapse: its tracks
    emit({"image": str(input_path), "labels": str(output_path), "rois": rois, "nuclei": nuclei,
          "seconds": round(time.perf_counter() - t0, 3), "axes": axes})
    return 0


def _print_json(obj: dict) -> None:
    click.echo(json.dumps(obj))
    sys.stdout.flush()


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
@click.option("--model", type=click.Path(dir_okay=False), default=None, help="Model file (default: the shipped one).")
@click.option("--device", default="auto", help="auto, cpu or cuda.")
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", help="auto, f32 or bf16 (as nuset segment).")
@click.option("--voxel-size", type=float, nargs=3, default=None, metavar="Z Y X",
              help="Voxel size of a stack (depth, height, width; one unit). Default: from the file.")
@click.option("--serve", is_flag=True, help="Run as the worker of an ImageJ session: requests on stdin.")
@table_options
def main(input_path, output_path, input_dir, output_dir, rois, overwrite, model, device, backend, voxel_size, serve,
         **texts):
    """Segment for the Fiji commands; JSON lines out, readable errors."""
    if serve:
        sys.exit(serve_requests(sys.stdin, _print_json))

    def error(message):
        click.echo(f"NuSeT error: {message}", err=True)

    try:
        failed = segment_request(input_path, output_path, input_dir, output_dir, rois, overwrite, model, device,
                                 texts, _print_json, error, backend, voxel_size)
    except Failure as exc:
        _fail(str(exc))
    if failed:
        sys.exit(1)


def serve_requests(lines, answer) -> int:
    """The worker loop: each line of ``lines`` a request, each answered with
    ``answer(dict)`` lines ending with ``{"done": true}``. Returns 0 at the end
    of input."""
    answer({"ready": True})
    for line in lines:
        if not line.strip():
            continue
        try:
            args = json.loads(line)["args"]
            with main.make_context("fiji_bridge.command", list(args)) as ctx:
                given = dict(ctx.params)
            given.pop("serve")
            fixed = {k: given.pop(k) for k in ("input_path", "output_path", "input_dir", "output_dir", "rois",
                                               "overwrite", "model", "device", "backend", "voxel_size")}
            segment_request(**fixed, texts=given, emit=answer, error=lambda m: answer({"error": m}))
        except Failure as exc:
            answer({"error": str(exc)})
        except click.ClickException as exc:
            answer({"error": exc.format_message()})
        except (ValueError, KeyError, TypeError) as exc:  # a request that is not one
            answer({"error": f"bad request {line.strip()[:200]!r}: {exc}"})
        except Exception as exc:  # noqa: BLE001 - the worker outlives one image's failure, and says what it was
            answer({"error": f"{type(exc).__name__}: {exc}"})
        answer({"done": True})
    return 0


if __name__ == "__main__":
    main()
