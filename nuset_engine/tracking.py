"""Nuclei tracked through a time-lapse with laptrack (the linear-assignment
tracker TrackMate uses): labels renumbered by track, and the tracks table.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import write_csv

__all__ = ["track_series", "write_tracks", "TRACK_COLUMNS"]


TRACK_COLUMNS = ["track_id", "frame", "z", "y", "x", "size", "parent_track_id"]


def track_series(labels: np.ndarray, voxel_size=None, max_distance: float | None = None, gap_frames: int = 1,
                 divisions: bool = False) -> list[dict]:
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
        Link daughters to their mother (track splits). Off by default, as
        in TrackMate's LAP tracker: on real nuclei that only moved, about 5
        tracks got a parent link.

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
    try:
        from laptrack import LapTrack
    except ImportError as exc:
        raise RuntimeError("tracking a time-lapse needs the 'laptrack' package; install it with: "
                           "pip install 'nuset[tracking]' (or pip install laptrack)") from exc
    import pandas as pd
    from skimage.measure import regionprops_table

    scale = np.asarray(voxel_size if voxel_size else (1.0, 1.0, 1.0), float)
    frames = []
    for t in range(labels.shape[0]):
        props = regionprops_table(np.asarray(labels[t]), properties=("label", "centroid", "area"))
        frames.append(pd.DataFrame({"frame": t, "label": props["label"], "z": props["centroid-0"],
                                    "y": props["centroid-1"], "x": props["centroid-2"], "size": props["area"]}))
    table = pd.concat(frames, ignore_index=True)
    if table.empty:
        return []
    for i, axis in enumerate("zyx"):
        table[f"{axis}_um"] = table[axis] * scale[i]
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
    for t in range(labels.shape[0]):
        here = tracks[tracks["frame"] == t]
        lut = np.zeros(int(np.max(labels[t], initial=0)) + 1, np.uint32)
        lut[here["label"].to_numpy(int)] = here["track_id"].to_numpy(np.uint32)
        labels[t] = lut[labels[t]]
    tracks = tracks.sort_values(["track_id", "frame"])
    return [{"track_id": int(r["track_id"]), "frame": int(r["frame"]), "z": float(r["z"]), "y": float(r["y"]),
             "x": float(r["x"]), "size": int(r["size"]), "parent_track_id": int(parents.get(r["track_id"], 0))}
            for r in tracks.to_dict("records")]


def write_tracks(path: str | Path, rows: list[dict]) -> Path:
    """Write :func:`track_series` rows as CSV (columns :data:`TRACK_COLUMNS`), atomically."""
    return write_csv(path, rows, TRACK_COLUMNS)
