"""Z-stacks and time-lapses: axes and voxel size from the file or given,
planes streamed one by one, 2-D nuclei joined into 3-D objects, scored on
the StarDist 3-D example (tests/data/stardist3d, BSD-3)."""
from __future__ import annotations

import gc
import json
import weakref
from pathlib import Path

import numpy as np
import pytest
import tifffile

from nuset_engine.errors import OutputExistsError
from nuset_engine.metrics import matching_counts
from nuset_engine.stacks import ArrayStack, StackReader, is_stack, open_stack, parse_axes, write_stack_labels
from nuset_engine.tracking import track_series
from nuset_engine.volumes import (estimate_nucleus_diameter, join_watershed, link_planes, measure_objects_3d,
                                  segment_series, segment_stack)

STARDIST_3D = Path(__file__).parents[1] / "data" / "stardist3d"
# The example records no voxel size; its nuclei span a median 7 planes and 15 x 14 pixels in Y, X
# (ground truth), so Z steps are about twice the pixel size, as a user would give it.
STARDIST_VOXEL = (2.0, 1.0, 1.0)


def ap50(gt, pred) -> float:
    c = matching_counts(gt, pred, [0.5])[0.5]
    return c["tp"] / max(c["tp"] + c["fp"] + c["fn"], 1)


class CountingReader(StackReader):
    """A reader that records how many of the planes it returned are still alive."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.alive, self.most_alive = 0, 0

    def plane(self, z=0, t=0):
        gc.collect()
        block = super().plane(z, t)
        self.alive += 1
        self.most_alive = max(self.most_alive, self.alive)
        weakref.finalize(block, self._released)
        return block

    def _released(self):
        self.alive -= 1


@pytest.fixture(scope="module")
def stardist_truth():
    return tifffile.imread(STARDIST_3D / "mask3d.tif")


@pytest.fixture(scope="module")
def stardist_planes(segmenter):
    """The 2-D labels of every plane, with one nucleus size for the stack."""
    stack = open_stack(STARDIST_3D / "img3d.tif", axes="ZYX", voxel_size=STARDIST_VOXEL)
    diameter = estimate_nucleus_diameter(segmenter, stack)
    return diameter, np.stack([segmenter.segment(p, nucleus_diameter=diameter) for p in stack.planes()])


@pytest.mark.slow
def test_stardist_3d_example_scores_as_well_as_its_planes(stardist_planes, stardist_truth):
    diameter, planes = stardist_planes
    assert 6 < diameter < 25  # nuclei of 9-23 pixels across
    per_plane = [ap50(g, p) for g, p in zip(stardist_truth, planes)]
    out = planes.astype(np.uint32)
    n = join_watershed(out, diameter, STARDIST_VOXEL)
    ap3d = ap50(stardist_truth, out)
    # target: no more than 0.05 below the planes' mean; 0.03 more for CPU differences
    assert ap3d >= np.mean(per_plane) - 0.08, (ap3d, np.mean(per_plane))
    assert 0.7 * 51 <= n <= 1.3 * 51  # 51 nuclei in the ground truth
    slabs = planes.astype(np.uint32)  # in slabs of 6 planes (+ 6 above and below): the same nuclei
    join_watershed(slabs, diameter, STARDIST_VOXEL, max_voxels=9 * planes[0].size)
    assert ap50(stardist_truth, slabs) >= ap3d - 0.02 and abs(int(slabs.max()) - n) <= 2
    linked = np.zeros_like(out)
    link_planes(iter(planes), linked, min_planes=2)
    assert ap50(stardist_truth, linked) < ap3d - 0.2  # why the watershed is the default: linking merges Z neighbours


@pytest.mark.slow
def test_segment_stack_streams_planes_one_at_a_time(segmenter, stardist_truth):
    stack = CountingReader(STARDIST_3D / "img3d.tif", axes="ZYX", voxel_size=STARDIST_VOXEL)
    labels = segment_stack(segmenter, stack)
    assert labels.shape == stardist_truth.shape and labels.dtype == np.uint32
    assert stack.planes_read == stack.n_planes + 1  # each plane once, the middle one also for the nucleus size
    assert stack.most_alive <= 2
    assert ap50(stardist_truth, labels) > 0.45


def test_nuclei_crossing_slabs_are_joined():
    zz, yy, xx = np.mgrid[:30, :40, :40]
    planes = np.zeros((30, 40, 40), np.uint32)
    for i, (y, x) in enumerate([(10, 10), (10, 28), (28, 18)]):  # ellipsoids 24 planes deep, 14 pixels wide
        planes[((zz - 15) / 12) ** 2 + ((yy - y) / 7) ** 2 + ((xx - x) / 7) ** 2 <= 1] = i + 1
    whole = planes.copy()
    assert join_watershed(whole, 14, (1, 1, 1)) == 3
    slabs = planes.copy()
    assert join_watershed(slabs, 14, (2, 1, 1), max_voxels=10 * 40 * 40) == 3  # slabs of 7 planes
    assert all(len(np.unique(slabs[planes == i])) == 1 for i in (1, 2, 3))


def test_linking_bridges_a_plane_where_a_nucleus_was_missed():
    planes = np.zeros((5, 20, 20), np.uint16)
    planes[[0, 1, 3, 4], 2:8, 2:8] = 1  # missed in plane 2
    planes[:, 12:18, 12:18] = 2  # in every plane
    out = np.zeros(planes.shape, np.uint32)
    assert link_planes(iter(planes), out, max_gap=1) == 2
    assert len(set(out[:, 4, 4])) == 1 and out[2, 4, 4] > 0  # one object, the gap filled
    assert len(set(out[:, 14, 14])) == 1
    out = np.zeros(planes.shape, np.uint32)
    assert link_planes(iter(planes), out, max_gap=0) == 3  # without tolerance: cut in two


def test_linking_drops_objects_in_too_few_planes():
    planes = np.zeros((4, 20, 20), np.uint16)
    planes[:, 2:8, 2:8] = 1
    planes[1, 12:15, 12:15] = 2  # one plane only
    out = np.zeros(planes.shape, np.uint32)
    assert link_planes(iter(planes), out, min_planes=2) == 1
    assert out.max() == 1 and not out[1, 13, 13]


def test_axes_and_voxel_size_come_from_an_imagej_hyperstack(tmp_path):
    data = np.random.default_rng(0).integers(0, 4000, (2, 3, 2, 16, 18), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "h.tif", data, imagej=True, resolution=(4.0, 4.0),
                     metadata={"axes": "TZCYX", "spacing": 1.5, "unit": "um"})
    stack = open_stack(tmp_path / "h.tif", channel=1)
    assert (stack.axes, stack.n_frames, stack.n_planes, stack.plane_shape) == ("TZCYX", 2, 3, (16, 18))
    assert stack.voxel_size == pytest.approx((1.5, 0.25, 0.25))
    assert np.array_equal(stack.plane(2, 1), data[1, 2, 1])
    assert is_stack(tmp_path / "h.tif")
    with pytest.raises(ValueError, match=r"h.tif: 2 channels \(axes TZCYX\); choose the nuclear channel"):
        open_stack(tmp_path / "h.tif")
    with pytest.raises(ValueError, match="channel 2 requested but the image has 2 channels"):
        open_stack(tmp_path / "h.tif", channel=2)


def test_axes_and_voxel_size_come_from_an_ome_tiff(tmp_path):
    data = np.random.default_rng(1).integers(0, 4000, (4, 16, 18), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "z.ome.tif", data, ome=True,
                     metadata={"axes": "ZYX", "PhysicalSizeX": 0.3, "PhysicalSizeY": 0.3, "PhysicalSizeZ": 1.2})
    stack = open_stack(tmp_path / "z.ome.tif")
    assert stack.axes == "ZYX" and stack.n_planes == 4
    assert stack.voxel_size == pytest.approx((1.2, 0.3, 0.3))
    assert all(np.array_equal(p, d) for p, d in zip(stack.planes(), data))
    assert open_stack(tmp_path / "z.ome.tif", voxel_size=(2, 1, 1)).voxel_size == (2.0, 1.0, 1.0)


def test_a_file_without_axes_needs_them_given(tmp_path):
    data = np.random.default_rng(2).integers(0, 4000, (5, 16, 18), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "q.tif", data)  # axes QYX: not recorded
    assert not is_stack(tmp_path / "q.tif")
    with pytest.raises(ValueError, match=r"q.tif: image of shape 5x16x18, axes QYX: the file does not record what "
                                         r"its axes are; give the axes"):
        open_stack(tmp_path / "q.tif")
    assert is_stack(tmp_path / "q.tif", "ZYX") and is_stack(tmp_path / "q.tif", "tyx")
    stack = open_stack(tmp_path / "q.tif", axes="tyx")
    assert (stack.n_frames, stack.n_planes, stack.voxel_size) == (5, 1, None)
    assert np.array_equal(stack.plane(0, 3), data[3])


def test_a_channel_is_chosen_in_a_zcyx_stack(tmp_path):
    data = np.random.default_rng(3).integers(0, 4000, (3, 2, 16, 18), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "zc.tif", data)
    stack = open_stack(tmp_path / "zc.tif", axes="ZCYX", channel=1)
    assert [np.array_equal(p, d) for p, d in zip(stack.planes(), data[:, 1])] == [True] * 3
    with pytest.raises(ValueError, match="2 channels"):
        open_stack(tmp_path / "zc.tif", axes="ZCYX")


def test_an_array_in_memory_reads_as_the_file_does(tmp_path):
    data = np.random.default_rng(4).integers(0, 4000, (2, 3, 2, 16, 18), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "tzc.tif", data)
    from_file = open_stack(tmp_path / "tzc.tif", axes="TZCYX", channel=1, voxel_size=(2, 0.5, 0.5))
    in_memory = ArrayStack(data, "tzcyx", channel=1, voxel_size=(2, 0.5, 0.5))
    assert (in_memory.n_frames, in_memory.n_planes, in_memory.plane_shape, in_memory.voxel_size) == \
        (from_file.n_frames, from_file.n_planes, from_file.plane_shape, from_file.voxel_size) == (2, 3, (16, 18),
                                                                                                  (2.0, 0.5, 0.5))
    assert all(np.array_equal(in_memory.plane(z, t), from_file.plane(z, t)) for t in range(2) for z in range(3))
    with pytest.raises(ValueError, match="the volume: 2 channels"):
        ArrayStack(data, "TZCYX", name="the volume")
    with pytest.raises(ValueError, match="the volume: axes .TZCYX. have 5 letters but the image has 4 dimensions"):
        ArrayStack(data[0], "TZCYX", name="the volume")


@pytest.mark.parametrize("axes, problem", [("ZQX", "unknown letter Q"), ("ZZX", "a letter is used twice"),
                                           ("ZY", "Y and X are required"), ("Z Y X", "unknown letter  ")])
def test_bad_axes_strings_are_refused_with_the_letters_allowed(axes, problem):
    with pytest.raises(ValueError, match=f"axes '{axes}': {problem}.*from T \\(time\\), Z \\(depth\\)"):
        parse_axes(axes)


def test_axes_that_do_not_fit_the_file_are_refused(tmp_path):
    tifffile.imwrite(tmp_path / "q.tif", np.zeros((5, 16, 18), np.uint8))
    with pytest.raises(ValueError, match=r"q.tif: axes 'TZYX' have 4 letters but the image has 3 dimensions "
                                         r"\(5x16x18\)"):
        open_stack(tmp_path / "q.tif", axes="TZYX")


def test_labels_are_written_as_a_zyx_hyperstack_with_the_voxel_size(tmp_path):
    labels = np.zeros((4, 20, 30), np.uint32)
    labels[1:3, 2:5, 3:9] = 7
    path = write_stack_labels(tmp_path / "l.tif", labels, voxel_size=(2.0, 0.5, 0.25))
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej and tif.series[0].axes == "ZYX" and tif.series[0].dtype == np.uint16
        assert tif.imagej_metadata["spacing"] == 2.0 and tif.imagej_metadata["unit"] == "um"
        assert np.array_equal(tif.asarray(), labels)
    assert open_stack(path).voxel_size == pytest.approx((2.0, 0.5, 0.25))
    with pytest.raises(OutputExistsError):
        write_stack_labels(path, labels)


def test_3d_measurements_in_voxels_and_microns():
    labels = np.zeros((4, 20, 30), np.uint16)
    labels[1:3, 2:5, 3:9] = 1
    (row,) = measure_objects_3d(labels, voxel_size=(2.0, 0.5, 0.25))
    assert row["volume"] == 36 and row["volume_um3"] == pytest.approx(9.0)
    assert (row["centroid_z"], row["centroid_y"], row["centroid_x"]) == pytest.approx((1.5, 3.0, 5.5))
    assert (row["extent_z"], row["extent_y"], row["extent_x"]) == (2, 3, 6)
    assert row["extent_z_um"] == pytest.approx(4.0)


def moving_window(image, truth, frames=4, step=4, width=400):
    """A time-lapse from a real image: a window sliding ``step`` pixels per
    frame, so every nucleus moves; the truth cropped alike."""
    return (np.stack([image[:, t * step : t * step + width] for t in range(frames)]),
            np.stack([truth[:, t * step : t * step + width] for t in range(frames)]))


@pytest.mark.slow
def test_a_time_lapse_is_segmented_and_its_nuclei_tracked(segmenter, sample):
    pytest.importorskip("laptrack", reason="tracking needs the tracking extra (laptrack)")
    movie, truth = moving_window(*sample)
    labels = segment_series(segmenter, ArrayStack(movie, "TYX"))
    assert labels.shape == (4, 1, *movie.shape[1:])
    rows = track_series(labels)
    assert {r["frame"] for r in rows} == {0, 1, 2, 3}
    # a ground-truth nucleus inside every frame, and found (IoU > 0.5) in each, keeps one track id
    same, found = 0, 0
    for g in np.unique(truth[0])[1:]:
        masks = [truth[t] == g for t in range(4)]
        if len({int(m.sum()) for m in masks}) > 1:
            continue  # leaves or enters the window
        ids = [matched_label(labels[t, 0], masks[t]) for t in range(4)]
        if all(ids):
            found += 1
            same += len(set(ids)) == 1
    assert found > 50 and same >= 0.95 * found, (same, found)
    moved = [r for r in rows if r["track_id"] == rows[0]["track_id"]]
    assert len(moved) >= 3 and moved[1]["x"] == pytest.approx(moved[0]["x"] - 4, abs=1.5)


def matched_label(labels, mask) -> int:
    """The label that covers ``mask`` with IoU > 0.5, or 0."""
    best = int(np.bincount(labels[mask]).argmax())
    inter = np.count_nonzero(labels[mask] == best)
    return best if best and inter / (mask.sum() + np.count_nonzero(labels == best) - inter) > 0.5 else 0


def shifted(labels, dx):
    """``labels`` moved ``dx`` pixels along X (what leaves is lost)."""
    out = np.zeros_like(labels)
    out[..., dx:] = labels[..., : labels.shape[-1] - dx]
    return out


def test_3d_nuclei_are_tracked_across_frames(stardist_truth):
    pytest.importorskip("laptrack", reason="tracking needs the tracking extra (laptrack)")
    rng = np.random.default_rng(5)
    ids = np.unique(stardist_truth)[1:]
    moved = [shifted(stardist_truth, 2 * t) for t in range(3)]  # 2 pixels a frame along X
    frames = []
    for t in range(3):  # numbered anew in each frame
        renumber = np.zeros(stardist_truth.max() + 1, np.uint32)
        renumber[ids] = rng.permutation(len(ids)) + 1
        frames.append(renumber[moved[t]])
    labels = np.stack(frames)
    rows = track_series(labels, voxel_size=STARDIST_VOXEL)
    kept = [g for g in ids if all((m == g).any() for m in moved)]
    assert len(rows) == sum(len(np.unique(m)) - 1 for m in moved)
    same = sum(len({int(labels[t][moved[t] == g][0]) for t in range(3)}) == 1 for g in kept)
    assert same == len(kept) > 40
    assert sum(r["parent_track_id"] > 0 for r in rows) <= 3  # no divisions here, a few spurious ones at most


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, as the test double below raises it."""


@pytest.fixture
def frame_calls(monkeypatch):
    """A test double around the real model (no other way to stop a run at
    a chosen frame): records the frames segmented (calls without
    ``return_details``; the nucleus-size estimate asks for details) and,
    once ``stop_at`` frames are done, interrupts the run as Ctrl-C does."""
    from nuset_engine import Segmenter

    calls = {"frames": 0, "estimates": 0, "stop_at": None}
    real = Segmenter.segment

    def segment(self, image, options=None, **kwargs):
        if kwargs.get("return_details"):
            calls["estimates"] += 1
        else:
            if calls["stop_at"] is not None and calls["frames"] >= calls["stop_at"]:
                raise Interrupted()
            calls["frames"] += 1
        return real(self, image, options, **kwargs)

    monkeypatch.setattr(Segmenter, "segment", segment)
    return calls


def test_an_interrupted_time_lapse_continues_from_its_last_finished_frame(tmp_path, sample, frame_calls):
    pytest.importorskip("laptrack", reason="tracking needs the tracking extra (laptrack)")
    from nuset_engine.batch import BatchOptions, Job, process_job

    movie = np.stack([sample[0][:112, 6 * t : 6 * t + 112] for t in range(5)])  # nuclei move 6 pixels a frame
    tifffile.imwrite(tmp_path / "t.tif", movie, imagej=True, metadata={"axes": "TYX"})
    options = BatchOptions(device="cpu", measurements=True)
    whole = Job(str(tmp_path / "t.tif"), str(tmp_path / "whole" / "t"))
    assert process_job(whole, options)["status"] == "ok" and frame_calls["frames"] == 5

    job = Job(str(tmp_path / "t.tif"), str(tmp_path / "cut" / "t"))
    frame_calls.update(frames=0, estimates=0, stop_at=3)
    with pytest.raises(Interrupted):
        process_job(job, options)
    out = tmp_path / "cut"
    assert not (out / "t_labels.tif").exists() and not (out / "t_tracks.csv").exists()
    scratch, record = out / ".t_labels.tif.scratch.npy", out / ".t_labels.tif.resume.json"
    assert scratch.is_file() and record.is_file()
    frame_calls.update(frames=0, estimates=0, stop_at=None)
    assert json.loads(record.read_text())["frames_done"] == 3
    row = process_job(job, options)  # the same options: frames 3 and 4 only, the nucleus size as recorded
    assert row["status"] == "ok" and (frame_calls["frames"], frame_calls["estimates"]) == (2, 0)
    assert np.array_equal(tifffile.imread(out / "t_labels.tif"), tifffile.imread(tmp_path / "whole" / "t_labels.tif"))
    for name in ("t_tracks.csv", "t_measurements.csv"):
        assert (out / name).read_text() == (tmp_path / "whole" / name).read_text()
    assert not scratch.exists() and not record.exists()


def test_an_interrupted_time_lapse_is_not_continued_with_other_options(tmp_path, sample, frame_calls):
    pytest.importorskip("laptrack", reason="tracking needs the tracking extra (laptrack)")
    from nuset_engine.batch import BatchOptions, Job, process_job

    movie = np.stack([sample[0][:96, 6 * t : 6 * t + 96] for t in range(4)])
    tifffile.imwrite(tmp_path / "t.tif", movie, imagej=True, metadata={"axes": "TYX"})
    job = Job(str(tmp_path / "t.tif"), str(tmp_path / "o" / "t"))
    frame_calls["stop_at"] = 2
    with pytest.raises(Interrupted):
        process_job(job, BatchOptions(device="cpu"))
    frame_calls.update(frames=0, stop_at=None)
    assert process_job(job, BatchOptions(device="cpu", params={"min_score": 0.9}))["status"] == "ok"
    assert frame_calls["frames"] == 4  # all frames again: the partial work was for another min_score
    frame_calls.update(frames=0, stop_at=2)
    with pytest.raises(Interrupted):
        process_job(job, BatchOptions(device="cpu", overwrite=True))
    tifffile.imwrite(tmp_path / "t.tif", movie[:, ::-1], imagej=True, metadata={"axes": "TYX"})  # another input
    frame_calls.update(frames=0, stop_at=None)
    assert process_job(job, BatchOptions(device="cpu", overwrite=True))["status"] == "ok"
    assert frame_calls["frames"] == 4
