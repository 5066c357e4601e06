"""Batch segmentation: many images in, labels/ROIs/measurements/overlays out,
serially or on a Dask cluster, resumable, one bad image never stopping the rest.

Framework-neutral: the ``nuset segment`` command and anything else (a
notebook, a workflow manager) drive it with :func:`plan_jobs` and
:func:`run_batch`.
"""
from __future__ import annotations

import glob
import json
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .errors import OutputClashError, OutputExistsError
from .io import IMAGE_SUFFIXES, atomic_write, write_csv, write_labels
from .options import SegmentOptions, options_from

__all__ = ["Job", "BatchOptions", "plan_jobs", "process_job", "run_batch", "write_summary", "write_run_record",
           "OUTPUT_SUFFIXES", "IMAGE_SUFFIXES", "preload"]

OUTPUT_SUFFIXES = {"labels": "_labels.tif", "rois": "_rois.zip", "measurements": "_measurements.csv",
                   "overlay": "_overlay.png", "tracks": "_tracks.csv"}  # tracks: time-lapses only
SUMMARY_COLUMNS = ["image", "status", "nuclei", "mean_area", "seconds", "error"]


@dataclass(frozen=True)
class Job:
    """One image of a batch.

    Attributes
    ----------
    source : str
        The image file.
    prefix : str
        The outputs' path without suffix: ``<prefix>_labels.tif``... (see
        :data:`OUTPUT_SUFFIXES`).
    """

    source: str
    prefix: str


@dataclass(frozen=True)
class BatchOptions:
    """Everything a worker needs to process a job (picklable, for Dask).

    Attributes
    ----------
    model : str, optional
        Model file; ``None``: the shipped model.
    device : str, default ``"auto"``
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    backend : str, default ``"auto"``
        ``"auto"``, ``"f32"`` or ``"bf16"`` (:mod:`nuset_engine.backends`).
    params : SegmentOptions
        The segmentation options; a dict of option values is checked into one.
    channel : int, optional
        The channel of multi-channel images (0-based).
    rois, measurements, overlay : bool, default False
        Also write ``<prefix>_rois.zip``, ``_measurements.csv``, ``_overlay.png``.
    pixel_size : float, optional
        Microns per pixel for the measurements; default: from TIFF metadata,
        else pixels.
    overwrite : bool, default False
        Replace existing outputs (otherwise an image with outputs is an error).
    resume : bool, default False
        Skip images whose outputs are all present.
    threads : int, optional
        Torch threads per process.
    tiled_tiff : bool, default True
        Labels of images segmented in tiles are written as tiled TIFF (read in
        regions by QuPath, napari, Bio-Formats); plain ImageJ 1.x cannot open
        tiled TIFFs, so the Fiji command turns this off.
    axes : str, optional
        The axes of TIFFs that do not record them (or to override them), one
        letter per dimension from T, Z, C, S, Y, X (e.g. ``"ZYX"``,
        ``"TZCYX"``). Z-stacks and time-lapses are segmented plane by plane
        and joined in 3-D (:mod:`nuset_engine.volumes`).
    voxel_size : tuple of 3 float, optional
        ``(z, y, x)`` microns of stacks; default: from the TIFF's metadata.
    divisions : bool, default False
        Link the daughters of a dividing nucleus to their mother in the
        tracks of time-lapses (``parent_track_id``;
        :func:`~nuset_engine.tracking.track_series`).
    """

    model: str | None = None
    device: str = "auto"
    backend: str = "auto"
    params: SegmentOptions = field(default_factory=SegmentOptions)  # a dict of option values is checked into one
    channel: int | None = None
    rois: bool = False
    measurements: bool = False
    overlay: bool = False
    pixel_size: float | None = None
    overwrite: bool = False
    resume: bool = False
    threads: int | None = None
    tiled_tiff: bool = True
    axes: str | None = None
    voxel_size: tuple[float, float, float] | None = None
    divisions: bool = False

    def __post_init__(self):
        if not isinstance(self.params, SegmentOptions):
            object.__setattr__(self, "params", options_from(self.params))
        if self.axes is not None:
            from .stacks import parse_axes

            object.__setattr__(self, "axes", parse_axes(self.axes))
        if self.voxel_size is not None:
            object.__setattr__(self, "voxel_size", tuple(float(v) for v in self.voxel_size))

    def outputs(self) -> list[str]:
        """The outputs written per image: ``"labels"`` and the optional ones asked for."""
        return ["labels"] + [k for k in ("rois", "measurements", "overlay") if getattr(self, k)]


def plan_jobs(inputs: Iterable[str], output: str | None = None, recursive: bool = False) -> list[Job]:
    """Expand files, folders and glob patterns into jobs.

    Images found in a folder keep their path relative to that folder under
    ``output`` (sub-folders mirrored); single files and glob matches go to
    ``output`` directly. Without ``output`` results go next to each image.

    Parameters
    ----------
    inputs : iterable of str
        Image files, folders and glob patterns.
    output : str, optional
        The output folder.
    recursive : bool, default False
        Descend into sub-folders (and let ``**`` in patterns match them).

    Returns
    -------
    list of Job

    Raises
    ------
    OutputClashError
        A ``ValueError``: two images would write the same outputs.
    ValueError
        Nothing matches an input, or no image was found at all.
    """
    jobs: list[Job] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            pairs = [(p, p.relative_to(path)) for p in found]
        elif path.exists():
            pairs = [(path, Path(path.name))]
        else:
            matches = sorted(Path(p) for p in glob.glob(item, recursive=recursive) if Path(p).is_file())
            if not matches:
                raise ValueError(f"{item}: no such file, folder or matching image")
            pairs = [(p, Path(p.name)) for p in matches]
        for source, relative in pairs:
            base = Path(output) / relative.parent if output else source.parent
            jobs.append(Job(str(source), str(base / relative.stem)))
    seen: dict[str, str] = {}
    for job in jobs:
        if job.prefix in seen:
            raise OutputClashError(seen[job.prefix], job.source, job.prefix)
        seen[job.prefix] = job.source
    if not jobs:
        raise ValueError("no images found in the given inputs (TIFF, PNG or JPEG)")
    return jobs


def preload(options: BatchOptions):
    """Load (and cache) the model in this process, so that a missing or
    corrupt model file fails the run at once with a clear error.

    Parameters
    ----------
    options : BatchOptions

    Returns
    -------
    Segmenter
        The process's shared model (:meth:`Segmenter.shared`).

    Raises
    ------
    ModelFileError, ValueError
        The model file cannot be used; the device is unknown or absent.
    """
    return _segmenter(options)


def _segmenter(options: BatchOptions):
    """The model is loaded once per process (per worker on a cluster)."""
    from .segmenter import Segmenter

    if options.threads:
        import torch

        torch.set_num_threads(options.threads)
    return Segmenter.shared(options.model, options.device, options.backend)


def _row(job: Job, **values) -> dict:
    return {"image": job.source, "status": "ok", "nuclei": "", "mean_area": "", "seconds": "", "error": ""} | values


def process_job(job: Job, options: BatchOptions, phrase: Callable[[BaseException], str] = str) -> dict:
    """Segment one image and write its outputs.

    Errors with the input or outputs are reported in the row, not raised, so
    that a batch goes on past a bad image.

    Parameters
    ----------
    job : Job
    options : BatchOptions
    phrase : callable, default ``str``
        Turns an error into the row's message. The engine's own messages speak
        the Python API's terms (``overwrite=True``); a wrapper gives a function
        that phrases the typed errors (:class:`OutputExistsError`,
        :class:`ImageTooLargeError`) in its own (the command line's
        ``--overwrite``). Picklable (a module-level function) for Dask.

    Returns
    -------
    dict
        The summary row: ``image``, ``status`` (``ok``, ``skipped
        (complete)`` or ``error``), ``nuclei``, ``mean_area`` (pixels),
        ``seconds``, ``error`` (the message; named after the image when the
        image is the problem, after the output file when that is).
    """
    try:
        skipped = _check_outputs(job, options)
    except OutputExistsError as exc:  # the message names the output file
        return _row(job, status="error", error=phrase(exc))
    if skipped is not None:
        return skipped
    t0 = time.perf_counter()
    scratch, _ = _partial_files(job)
    stack_job = False
    try:
        if _is_stack_job(job, options):
            stack_job = True  # its partial work is kept for a rerun, and removed once done
            n, mean_size = _stack_job(job, options)
            return _row(job, nuclei=n, mean_area=round(mean_size, 2), seconds=round(time.perf_counter() - t0, 3))
        image, labels = _segment_job(job, options, scratch)
        pixel_size = options.pixel_size
        if pixel_size is None and job.source.lower().endswith((".tif", ".tiff")):
            from .outputs import pixel_size_from_tiff

            pixel_size = pixel_size_from_tiff(job.source)
        n = _max_label(labels)
        _write_outputs(job, options, image, labels, pixel_size, n)
        mean_area = float(_count_nonzero(labels) / n) if n else 0.0
    except (OSError, ValueError, MemoryError) as exc:
        message = phrase(exc)
        return _row(job, status="error", error=message if job.source in message else f"{job.source}: {message}")
    except Exception as exc:  # a batch must go on: report anything else with its type
        return _row(job, status="error", error=f"{job.source}: {type(exc).__name__}: {phrase(exc)}")
    finally:
        labels = None  # release the memory map before its file goes
        try:
            if not stack_job:
                scratch.unlink(missing_ok=True)
        except OSError:  # an unusable output folder: the error above says so
            pass
    return _row(job, nuclei=n, mean_area=round(mean_area, 2), seconds=round(time.perf_counter() - t0, 3))


def _check_outputs(job: Job, options: BatchOptions) -> dict | None:
    """Before any work: the row of an image a resumed run skips, or ``None``
    to segment it (stale temporary files of a killed run removed).

    Raises
    ------
    OutputExistsError
        Outputs exist and neither overwriting nor resuming was asked for, or
        a resumed run cannot read the existing labels.
    """
    targets = [Path(job.prefix + OUTPUT_SUFFIXES[k]) for k in options.outputs()]
    existing = [t for t in targets if t.exists()]
    if options.resume and len(existing) == len(targets):
        import tifffile

        try:
            labels = tifffile.imread(targets[0])
        except Exception as exc:  # noqa: BLE001 - whatever the reader says, the file is not usable
            raise OutputExistsError(targets[0], resumable=True, unreadable=str(exc)) from exc
        return _row(job, status="skipped (complete)", nuclei=int(labels.max(initial=0)))
    if existing and not (options.overwrite or options.resume):
        raise OutputExistsError(existing[0], resumable=True)
    kept = set(_partial_files(job))  # a stack's frames done so far: the stack path decides
    for target in targets:  # temp files of a run that was killed mid-write
        for stale in target.parent.glob(f".{target.name}.*"):
            if stale not in kept:
                stale.unlink(missing_ok=True)
    return None


def _partial_files(job: Job) -> tuple[Path, Path]:
    """The hidden files beside an image's labels that hold work in progress:
    the memory-mapped scratch labels, and (for stacks) the record of the
    frames done in them (``.<name>_labels.tif.scratch.npy``, ``.resume.json``)."""
    labels = Path(job.prefix + OUTPUT_SUFFIXES["labels"])
    return labels.parent / f".{labels.name}.scratch.npy", labels.parent / f".{labels.name}.resume.json"


def _segment_job(job: Job, options: BatchOptions, scratch: Path):
    """Read and segment one image. With a tile size, a TIFF larger than a
    tile is read tile by tile and its labels go to a memory-mapped scratch
    file, so neither needs to fit in memory."""
    from .tiling import tile_size_for

    tile_size = options.params.tile_size
    if tile_size and job.source.lower().endswith((".tif", ".tiff")):
        from .io import open_plane

        plane = open_plane(job.source, options.channel)
        if tile_size_for(tile_size, plane.shape):
            scratch.parent.mkdir(parents=True, exist_ok=True)
            out = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.uint32, shape=plane.shape)
            return plane, _segmenter(options).segment(plane, options.params, out=out)
    if options.axes:  # a file without (or with wrong) axes that is not a stack
        from .io import read_image, to_grayscale

        image = to_grayscale(read_image(job.source), options.channel, job.source, axes=options.axes.strip().upper())
    else:
        from .colour import read_input

        # as the model wants it: an RGB file for a gray model without a channel is refused, naming the choices
        image = read_input(job.source, _segmenter(options).metadata, options.channel)
    return image, _segmenter(options).segment(image, options.params)


def _is_stack_job(job: Job, options: BatchOptions) -> bool:
    if not job.source.lower().endswith((".tif", ".tiff")):
        if options.axes:
            raise ValueError(f"{job.source}: axes can be given for TIFF files only (stacks are read from TIFF)")
        return False
    from .stacks import is_stack

    return is_stack(job.source, options.axes)


def _stack_job(job: Job, options: BatchOptions) -> tuple[int, float]:
    """Segment a Z-stack or time-lapse (:func:`~nuset_engine.volumes.segment_series`)
    into an ImageJ hyperstack of labels (and 3-D measurements).

    Planes are read one at a time; the labels go to a scratch file on disk,
    a frame at a time (:class:`_FrameFile`), so that memory holds about one
    frame and the tracks table however long the time-lapse. A time-lapse's
    nuclei are tracked (``<prefix>_tracks.csv``) and labelled by track id as
    the labels are written. The scratch file and a record of the frames
    done in it stay beside the output until the image is done: a run
    interrupted (Ctrl-C, killed, an error) and started again with the same
    input and segmentation options continues after the last frame done
    (:func:`_resume_point`).
    Returns the number of nuclei (tracks of a time-lapse) and their mean
    size (voxels; pixels for time-lapses of single planes)."""
    from .stacks import open_stack, series_axes, write_stack_labels
    from .tracking import track_nuclei, write_tracks
    from .volumes import measure_objects_3d, segment_series, write_measurements_3d

    if options.rois or options.overlay:
        raise ValueError(f"{job.source}: ROIs and overlays are made for 2-D images, not for stacks; segment "
                         "stacks without them")
    stack = open_stack(job.source, options.axes, options.channel, options.voxel_size)
    tracks_path = Path(job.prefix + OUTPUT_SUFFIXES["tracks"])
    n_frames = stack.n_frames
    if n_frames > 1 and tracks_path.exists() and not (options.overwrite or options.resume):
        raise OutputExistsError(tracks_path, resumable=True)
    shape = (n_frames, stack.n_planes, *stack.plane_shape)
    scratch, record_path = _partial_files(job)
    key = _resume_key(job, options, stack)
    done, diameter = _resume_point(scratch, record_path, key, options.overwrite)
    if n_frames > 1:
        store = _FrameFile(scratch, shape, create=done == 0)
    else:  # one Z-stack: memory-mapped whole, for its 3-D join in slabs (volumes.join_watershed)
        scratch.parent.mkdir(parents=True, exist_ok=True)
        store = np.lib.format.open_memmap(scratch, mode="r+" if done else "w+", dtype=np.uint32, shape=shape)

    def finished(t: int, used_diameter):
        if isinstance(store, np.memmap):
            store.flush()  # on disk before the record says the frame is done
        _write_record(record_path, key | {"frames_done": t + 1, "nucleus_diameter": used_diameter})

    known = {"nucleus_diameter": diameter} if diameter else {}
    segment_series(_segmenter(options), stack, options.params, out=store, frames=range(done, n_frames),
                   on_frame=finished, **known)
    if n_frames > 1:  # labels become track ids
        tracks = track_nuclei(store, stack.voxel_size, divisions=options.divisions)
        write_tracks(tracks_path, tracks.rows())
        relabel = tracks.relabel
    else:
        tracks, relabel = None, (lambda frame, t: frame)

    def measured():
        for t in range(n_frames):
            frame = {"frame": t} if n_frames > 1 else {}
            yield from (frame | row for row in measure_objects_3d(relabel(store[t], t), stack.voxel_size))

    if tracks is not None:  # a time-lapse: its tracks, and the mean size of their nuclei
        nuclei, mean_size = tracks.n_tracks, float(tracks.table["size"].mean()) if len(tracks.table) else 0.0
    else:
        rows = list(measured())
        nuclei, mean_size = len(rows), (sum(r["volume"] for r in rows) / len(rows) if rows else 0.0)
    if options.measurements:
        write_measurements_3d(job.prefix + OUTPUT_SUFFIXES["measurements"], measured() if tracks else rows,
                              stack.voxel_size, frames=n_frames > 1)
    axes = series_axes(n_frames, stack.n_planes)
    labels = _LabelPlanes(store, relabel, [n for n in shape[:2] if n > 1] + list(stack.plane_shape))
    write_stack_labels(job.prefix + OUTPUT_SUFFIXES["labels"], labels, stack.voxel_size, overwrite=True, axes=axes)
    del labels, store  # release a memory map before its file goes
    scratch.unlink(missing_ok=True)
    record_path.unlink(missing_ok=True)
    return nuclei, mean_size


class _FrameFile:
    """``(T, Z, H, W)`` uint32 labels in a ``.npy`` file, written and read a
    frame at a time: ``store[t] = frame``, ``store[t]`` (a copy in memory).
    The file is mapped only for each access, so that resident memory holds
    one frame, not the pages of every frame touched (a 500-frame time-lapse
    of 1 MP frames is 2 GB of labels)."""

    def __init__(self, path: Path, shape: tuple, create: bool):
        self.path, self.shape = Path(path), tuple(shape)
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            np.lib.format.open_memmap(self.path, mode="w+", dtype=np.uint32, shape=self.shape)  # zeros, unmapped

    def __getitem__(self, t: int) -> np.ndarray:
        mapped = np.load(self.path, mmap_mode="r")
        frame = np.array(mapped[t])
        del mapped
        return frame

    def __setitem__(self, t: int, frame) -> None:
        mapped = np.load(self.path, mmap_mode="r+")
        mapped[t] = frame
        mapped.flush()  # on disk before the record says the frame is done
        del mapped


class _LabelPlanes:
    """A :class:`_FrameFile`'s labels, relabelled frame by frame
    (``relabel(frame, t)``), as :func:`~nuset_engine.stacks.write_stack_labels`
    takes planes: ``shape``, and iteration over the planes, reading one
    frame at a time each time they are iterated."""

    def __init__(self, store: _FrameFile, relabel, shape):
        self.store, self.relabel, self.shape = store, relabel, tuple(shape)

    def __len__(self) -> int:
        return self.store.shape[0] * self.store.shape[1]

    def __iter__(self):
        for t in range(self.store.shape[0]):
            yield from self.relabel(self.store[t], t)


def _resume_key(job: Job, options: BatchOptions, stack) -> dict:
    """What the frames in a scratch file depend on: the input file (path,
    size, modification time), how it is read, the model and its options.
    Tracking and output options are not in it: they act after the frames."""
    stat = os.stat(job.source)
    params = asdict(options.params)
    params.pop("scratch_dir", None)
    key = {"source": os.path.abspath(job.source), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
           "shape": [stack.n_frames, stack.n_planes, *stack.plane_shape], "axes": stack.axes,
           "channel": options.channel, "voxel_size": stack.voxel_size, "params": params,
           "model_sha256": _segmenter_checksum(options.model), "device": options.device,
           "backend": options.backend}
    return json.loads(json.dumps(key))  # as read back from the record


def _resume_point(scratch: Path, record_path: Path, key: dict, overwrite: bool) -> tuple[int, float | None]:
    """``(frames done, nucleus diameter)`` of an earlier, interrupted run
    that the scratch file holds, or ``(0, None)``: nothing to continue, a
    record that does not match ``key`` (another input, other options), or
    ``overwrite`` (start again); the stale files are then removed."""
    try:
        record = json.loads(record_path.read_text())
        done = int(record.pop("frames_done"))
        diameter = record.pop("nucleus_diameter")
    except (OSError, ValueError, KeyError, TypeError):
        record, done, diameter = None, 0, None
    if overwrite or record != key or not scratch.is_file() or done <= 0:
        record_path.unlink(missing_ok=True)
        scratch.unlink(missing_ok=True)
        return 0, None
    return done, diameter


def _write_record(path: Path, record: dict) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(record)))


def _chunks(labels, rows: int = 1024):
    for y in range(0, labels.shape[0], rows):
        yield np.asarray(labels[y : y + rows])


def _max_label(labels) -> int:
    return max((int(c.max(initial=0)) for c in _chunks(labels)), default=0)


def _count_nonzero(labels) -> int:
    return sum(int(np.count_nonzero(c)) for c in _chunks(labels))


def _write_outputs(job, options, image, labels, pixel_size, max_label):
    from . import outputs

    # labels last: on resume its presence (with the others) marks the image done
    if options.rois:
        outputs.write_rois(job.prefix + OUTPUT_SUFFIXES["rois"], labels)
    if options.measurements:
        rows = outputs.measure_nuclei(labels, image, pixel_size)
        outputs.write_measurements(job.prefix + OUTPUT_SUFFIXES["measurements"], rows, pixel_size)
    if options.overlay:
        outputs.write_overlay(job.prefix + OUTPUT_SUFFIXES["overlay"], image, labels)
    # images segmented in tiles get tiled TIFF labels, written tile by tile
    from .tiling import tile_size_for

    tiled = options.tiled_tiff and bool(tile_size_for(options.params.tile_size, labels.shape))
    write_labels(job.prefix + OUTPUT_SUFFIXES["labels"], labels, overwrite=True, tile=512 if tiled else None,
                 max_label=max_label)


def run_batch(jobs: list[Job], options: BatchOptions, *, workers: int = 0, scheduler: str | None = None,
              on_result: Callable[[dict], None] | None = None,
              phrase: Callable[[BaseException], str] = str) -> list[dict]:
    """Process all jobs (:func:`process_job`).

    Parameters
    ----------
    jobs : list of Job
        From :func:`plan_jobs`.
    options : BatchOptions
    workers : int, default 0
        ``> 0``: start a local Dask cluster of that many processes on
        127.0.0.1. 0: run the jobs in this process.
    scheduler : str, optional
        Send the work to an existing Dask scheduler (``tcp://host:8786``).
    on_result : callable, optional
        Called with each row as its job finishes (in completion order).
    phrase : callable, default ``str``
        Turns an error into a row's message (see :func:`process_job`).

    Returns
    -------
    list of dict
        The summary rows, in job order.

    Raises
    ------
    ValueError
        ``workers`` is negative.
    RuntimeError
        Dask is needed but the ``distributed`` package is missing.
    """
    on_result = on_result or (lambda row: None)
    if workers < 0:
        raise ValueError(f"workers must be 0 (run here) or a positive number of processes, got {workers}")
    if not workers and not scheduler:
        rows = []
        for job in jobs:
            rows.append(process_job(job, options, phrase))
            on_result(rows[-1])
        return rows
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        # a command for the interpreter running now, so that it installs into this
        # environment whether NuSeT came from an index, a clone or a wheel
        raise RuntimeError(
            "running on Dask needs the 'distributed' package, which this Python environment lacks; "
            f"install it with: {shlex.quote(sys.executable)} -m pip install 'dask[distributed]>=2023.1'") from exc
    cluster = None
    if scheduler is None:
        threads = max(1, (os.cpu_count() or 1) // workers)
        options = BatchOptions(**{**asdict(options), "threads": options.threads or threads})
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
    try:
        with Client(cluster if cluster is not None else scheduler) as client:
            futures = client.map(process_job, jobs, options=options, phrase=phrase, pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            rows: list = [None] * len(jobs)
            for future in as_completed(futures):
                row = future.result()
                rows[index[future.key]] = row
                on_result(row)
            return rows
    finally:
        if cluster is not None:
            cluster.close()


def write_summary(path: str | Path, rows: list[dict]) -> Path:
    """Write the run's summary CSV.

    Parameters
    ----------
    path : str or Path
    rows : list of dict
        From :func:`run_batch`.

    Returns
    -------
    Path
        Columns: image, status, nuclei, mean_area (pixels), seconds, error.
    """
    return write_csv(path, rows, SUMMARY_COLUMNS)


def write_run_record(path: str | Path, options: BatchOptions, jobs: list[Job], started: float) -> Path:
    """Write the run's record (JSON): options, model and its checksum, library versions, times.

    Parameters
    ----------
    path : str or Path
    options : BatchOptions
    jobs : list of Job
    started : float
        The run's start (``time.time()``).

    Returns
    -------
    Path
    """
    import platform

    import scipy
    import skimage
    import torch

    from . import __version__
    from .model_io import default_model_path

    record = {
        "nuset": __version__, "torch": str(torch.__version__), "numpy": np.__version__,
        "scikit_image": skimage.__version__, "scipy": scipy.__version__, "python": platform.python_version(),
        "model": options.model or str(default_model_path()),
        "model_sha256": _segmenter_checksum(options.model),
        "options": asdict(options), "images": len(jobs),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    return atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2)))


def _segmenter_checksum(model: str | None) -> str:
    import hashlib

    from .model_io import default_model_path

    return hashlib.sha256(Path(model or default_model_path()).read_bytes()).hexdigest()
