"""Nuclei tracked through a time-lapse with laptrack (the linear-assignment
tracker TrackMate uses): labels renumbered by track, and the tracks table.

:func:`track_nuclei` links the nuclei and returns a :class:`Tracks` (the
table, and each frame's lookup from its own labels to track ids) without
touching the labels, so that a long time-lapse can be relabelled frame by
frame as it is written; :func:`track_series` also renumbers the labels in
place.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .io import write_csv

__all__ = ["track_series", "track_nuclei", "Tracks", "write_tracks", "TRACK_COLUMNS"]


TRACK_COLUMNS = ["track_id", "frame", "z", "y", "x", "size", "parent_track_id"]


@dataclass
class Tracks:
    """The tracks of a time-lapse (:func:`track_nuclei`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per nucleus and frame, sorted by frame: ``frame``, ``label``
        (the nucleus's label in its frame), ``track_id`` (1..N),
        ``parent_track_id`` (0: none), ``z``, ``y``, ``x`` (centroid, pixels)
        and ``size`` (pixels, voxels for Z-stacks).
    n_frames : int
    """

    table: object
    n_frames: int

    def __post_init__(self):
        frames = self.table["frame"].to_numpy(int)
        self._bounds = np.searchsorted(frames, np.arange(self.n_frames + 1))

    @property
    def n_tracks(self) -> int:
        """The number of tracks (track ids are 1..n_tracks)."""
        return int(self.table["track_id"].max()) if len(self.table) else 0

    def lookup(self, t: int) -> np.ndarray:
        """Frame ``t``'s lookup table: ``lookup(t)[label]`` is the track id of
        that label (0 for the background)."""
        here = self.table.iloc[self._bounds[t] : self._bounds[t + 1]]
        labels = here["label"].to_numpy(np.int64)
        lut = np.zeros(int(labels.max(initial=0)) + 1, np.uint32)
        lut[labels] = here["track_id"].to_numpy(np.uint32)
        return lut

    def relabel(self, labels: np.ndarray, t: int) -> np.ndarray:
        """Frame ``t``'s labels (as segmented) renumbered by track: a new array."""
        return self.lookup(t)[np.asarray(labels)]

    def rows(self) -> Iterator[dict]:
        """The table's rows by track and frame, as :func:`track_series` returns them."""
        ordered = self.table.sort_values(["track_id", "frame"], kind="stable")
        columns = [ordered[c].to_numpy() for c in TRACK_COLUMNS]
        for track, frame, z, y, x, size, parent in zip(*columns):
            yield {"track_id": int(track), "frame": int(frame), "z": float(z), "y": float(y), "x": float(x),
                   "size": int(size), "parent_track_id": int(parent)}


def _nuclei_table(labels, drift: bool = False):
    """Each frame's nuclei (label, centroid, size), read a frame at a time;
    with ``drift``, also the field's drift since the first frame
    (``drift_z``, ``drift_y``, ``drift_x``, pixels; :func:`_field_shift`)."""
    import pandas as pd
    from skimage.measure import regionprops_table

    frames, previous, moved = [], None, np.zeros(3)
    for t in range(labels.shape[0]):
        frame = np.asarray(labels[t])
        props = regionprops_table(frame, properties=("label", "centroid", "area"))
        if drift:
            mask = frame > 0
            if previous is not None:
                moved = moved + _field_shift(previous, mask)
            previous = mask
        n = len(props["label"])
        frames.append(pd.DataFrame({"frame": np.full(n, t, np.int32), "label": props["label"].astype(np.int64),
                                    "z": props["centroid-0"], "y": props["centroid-1"], "x": props["centroid-2"],
                                    "size": props["area"].astype(np.int64), "drift_z": np.full(n, moved[0]),
                                    "drift_y": np.full(n, moved[1]), "drift_x": np.full(n, moved[2])}))
    return pd.concat(frames, ignore_index=True)


def _field_shift(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """How far the whole field moved from ``before`` to ``after`` (``(Z, H,
    W)`` foreground masks): the peak of their phase correlation
    (scikit-image), whole pixels ``(z, y, x)``; 0 where either is empty."""
    from skimage.registration import phase_cross_correlation

    if not before.any() or not after.any():
        return np.zeros(3)
    squeeze = before.shape[0] == 1  # single planes: a 2-D correlation
    a, b = (m[0] if squeeze else m for m in (before, after))
    shift, _, _ = phase_cross_correlation(b.astype(np.float32), a.astype(np.float32), normalization=None)
    return np.r_[0.0, shift] if squeeze else np.asarray(shift, float)


def track_nuclei(labels, voxel_size=None, max_distance: float | None = None, gap_frames: int = 1,
                 divisions: bool = False, drift: bool = True) -> Tracks:
    """Link the nuclei of a time-lapse across frames (laptrack), leaving
    the labels as they are.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(T, Z, H, W)`` labels, each frame numbered on its own (from
        :func:`~nuset_engine.volumes.segment_series`), or anything that
        gives a frame as ``labels[t]`` and has ``shape`` (read one frame
        at a time).
    voxel_size, max_distance, gap_frames, divisions, drift
        As for :func:`track_series`.

    Returns
    -------
    Tracks

    Raises
    ------
    RuntimeError
        laptrack is not installed.
    """
    try:
        from laptrack import LapTrack
    except ImportError as exc:
        raise RuntimeError("tracking a time-lapse needs the 'laptrack' package; install it with: "
                           "pip install 'nuset[tracking]' (or pip install laptrack)") from exc

    n_frames = labels.shape[0]
    table = _nuclei_table(labels, drift)
    if table.empty:
        return Tracks(table.assign(track_id=np.zeros(0, np.int64), parent_track_id=np.zeros(0, np.int64)), n_frames)
    scale = np.asarray(voxel_size if voxel_size else (1.0, 1.0, 1.0), float)
    for i, axis in enumerate("zyx"):  # linked where they are, the field's drift taken off
        table[f"{axis}_um"] = (table[axis].to_numpy(float) - table[f"drift_{axis}"].to_numpy(float)) * scale[i]
    if max_distance is None:
        area = table["size"].to_numpy(float)
        diameters = 2 * np.sqrt(area / np.pi) if labels.shape[1] == 1 else 2 * np.cbrt(3 * area / (4 * np.pi))
        max_distance = float(np.median(diameters)) * float(scale[1])
    cutoff = max_distance**2
    tracker = LapTrack(cutoff=cutoff, gap_closing_cutoff=cutoff, gap_closing_max_frame_count=gap_frames + 1,
                       splitting_cutoff=cutoff if divisions else False)
    tracks, splits, _ = tracker.predict_dataframe(table, ["z_um", "y_um", "x_um"], only_coordinate_cols=False)
    tracks = tracks.reset_index(drop=True)
    tracks["track_id"] += 1
    parents = dict(zip(splits["child_track_id"] + 1, splits["parent_track_id"] + 1)) if len(splits) else {}
    tracks["parent_track_id"] = tracks["track_id"].map(parents).fillna(0).astype(np.int64)
    tracks = tracks[["frame", "label", "track_id", "parent_track_id", "z", "y", "x", "size"]]
    return Tracks(tracks.sort_values(["frame", "label"], kind="stable").reset_index(drop=True), n_frames)


def track_series(labels: np.ndarray, voxel_size=None, max_distance: float | None = None, gap_frames: int = 1,
                 divisions: bool = False, drift: bool = True) -> list[dict]:
    """Link the nuclei of a time-lapse across frames (laptrack), and
    renumber them by track: a nucleus keeps its label from frame to frame.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(T, Z, H, W)`` labels, each frame numbered on its own (from
        :func:`segment_series`); renumbered in place, frame by frame, so
        that labels are track ids (1..N).
    voxel_size : tuple of 3 float, optional
        ``(z, y, x)`` microns; distances are measured in microns with it,
        else in pixels (Z steps as pixels).
    max_distance : float, optional
        The farthest a nucleus moves between frames (microns with
        ``voxel_size``, else pixels); default: the median nucleus diameter.
    gap_frames : int, default 1
        Frames a nucleus may be missed in and its track go on.
    divisions : bool, default False
        Link daughters to their mother (track splits): the mother's track
        ends at the division and each daughter starts a track whose
        ``parent_track_id`` is the mother's. Off by default, as in
        TrackMate's LAP tracker: on real nuclei that only moved, about 5
        tracks got a parent link (docs/benchmarks.md, "Tracking").
    drift : bool, default True
        Take a drift of the whole field (the stage's, or the sample's) off
        before linking: the shift between consecutive frames' foreground
        (phase correlation) is subtracted from the positions compared, so
        that ``max_distance`` bounds each nucleus's own motion. On real
        nuclei moved by up to half a nucleus a frame it raised the links
        kept from 98.8% to 100% (docs/benchmarks.md, "Tracking"), and
        changed nothing on synthetic nuclei that move on their own. The
        rows keep the centroids as measured.

    Returns
    -------
    list of dict
        One row per nucleus and frame: ``track_id``, ``frame``, ``z``,
        ``y``, ``x`` (centroid, pixels), ``size`` (pixels, or voxels for
        Z-stacks) and ``parent_track_id`` (0: none), the columns of
        :data:`TRACK_COLUMNS` (a napari tracks layer's data and graph;
        TrackMate imports it as CSV).

    Raises
    ------
    RuntimeError
        laptrack is not installed.
    """
    tracks = track_nuclei(labels, voxel_size, max_distance, gap_frames, divisions, drift)
    for t in range(labels.shape[0]):
        labels[t] = tracks.relabel(labels[t], t)
    return list(tracks.rows())


def write_tracks(path: str | Path, rows: Iterable[dict]) -> Path:
    """Write :func:`track_series` rows (or :meth:`Tracks.rows`) as CSV
    (columns :data:`TRACK_COLUMNS`), atomically."""
    return write_csv(path, rows, TRACK_COLUMNS)
