"""Z-stacks and time-lapses from ImageJ: hyperstacks in, label hyperstacks out.

Thin translation to the engine: the stack (a file the Fiji command wrote,
or an array pyimagej holds) is read plane by plane as a
:class:`~nuset_engine.stacks.StackReader` /
:class:`~nuset_engine.stacks.ArrayStack`; its frames are segmented by
:func:`~nuset_engine.volumes.segment_series` (nuclei of a Z-stack joined in
3-D) and a time-lapse's nuclei tracked by
:func:`~nuset_engine.tracking.track_series`, so that labels are track ids.
"""
from __future__ import annotations

import numpy as np

__all__ = ["segment_hyperstack"]


def segment_hyperstack(segmenter, stack, options=None, **params) -> tuple[np.ndarray, list[dict] | None]:
    """Segment every frame of a stack, and track the nuclei of a time-lapse.

    Parameters
    ----------
    segmenter : nuset_engine.Segmenter
    stack : nuset_engine.stacks.StackReader
        A file (:func:`~nuset_engine.stacks.open_stack`) or an array
        (:class:`~nuset_engine.stacks.ArrayStack`), with its voxel size
        (used for the 3-D join and the tracking distances).
    options : nuset_engine.options.SegmentOptions, optional
        The segmentation options; keyword ``params`` override them.

    Returns
    -------
    labels : numpy.ndarray
        ``(T, Z, H, W)`` uint32; in each frame 0 = background, 1..N the 3-D
        nuclei; in a time-lapse (T > 1) the labels are track ids, so a
        nucleus keeps its label from frame to frame.
    tracks : list of dict or None
        For a time-lapse, one row per nucleus and frame
        (:data:`~nuset_engine.tracking.TRACK_COLUMNS`); None otherwise.

    Raises
    ------
    RuntimeError
        A time-lapse, and laptrack (the tracker) is not installed; the
        message says how to install it.
    """
    from nuset_engine.tracking import track_series
    from nuset_engine.volumes import segment_series

    labels = segment_series(segmenter, stack, options, **params)
    tracks = track_series(labels, stack.voxel_size) if stack.n_frames > 1 else None
    return labels, tracks

