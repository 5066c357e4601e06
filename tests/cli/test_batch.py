"""Batch runs of `nuset segment` as a user runs them: real processes, a real
local Dask cluster on loopback, a real kill in the middle of a run."""
import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile


NUSET = str(Path(sys.executable).with_name("nuset"))


def read_summary(path):
    with open(path) as fh:
        return {Path(r["image"]).name: r for r in csv.DictReader(fh)}


@pytest.fixture
def folder(tmp_path, sample):
    """Six real images (crops and flips of the sample) plus a corrupt and an empty file."""
    src = tmp_path / "in"
    src.mkdir()
    image = sample[0]
    variants = [image, image[:, ::-1], image[::-1], image[:300, :400], image[100:, 50:], image.T]
    for i, v in enumerate(variants):
        tifffile.imwrite(src / f"img{i}.tif", np.ascontiguousarray(v))
    return src


def run(*args, check=False):
    return subprocess.run([NUSET, "segment", *map(str, args)], capture_output=True, text=True, check=check)


@pytest.mark.dask
def test_dask_cluster_gives_the_same_results_as_a_serial_run(folder, tmp_path):
    (folder / "corrupt.tif").write_bytes(b"II*\x00" + b"\x00" * 20)
    (folder / "empty.png").write_bytes(b"")
    serial = run(folder, "-o", tmp_path / "serial", "--rois", "--measurements")
    dask = run(folder, "-o", tmp_path / "dask", "--rois", "--measurements", "--workers", "2")
    for result in (serial, dask):
        assert result.returncode == 1  # two bad files
        assert "corrupt.tif: cannot read the image" in result.stderr
        assert "empty.png: the file is empty" in result.stderr
        assert "6 segmented, 0 skipped, 2 failed" in result.stderr
    s, d = read_summary(tmp_path / "serial" / "summary.csv"), read_summary(tmp_path / "dask" / "summary.csv")
    assert s.keys() == d.keys() and len(s) == 8
    for name in s:
        assert (s[name]["status"], s[name]["nuclei"], s[name]["mean_area"]) == \
               (d[name]["status"], d[name]["nuclei"], d[name]["mean_area"])
    for i in range(6):
        a = tifffile.imread(tmp_path / "serial" / f"img{i}_labels.tif")
        b = tifffile.imread(tmp_path / "dask" / f"img{i}_labels.tif")
        assert np.array_equal(a, b)
        assert a.max() > 20
        assert (tmp_path / "serial" / f"img{i}_measurements.csv").read_text() == \
               (tmp_path / "dask" / f"img{i}_measurements.csv").read_text()


def test_a_negative_worker_count_is_refused_not_hung(folder, tmp_path):
    # it used to start a Dask cluster of -2 processes and wait forever
    result = subprocess.run([NUSET, "segment", str(folder), "-o", str(tmp_path / "o"), "--workers", "-2"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "'--workers': -2 is not in the range x>=0" in result.stderr
    assert not (tmp_path / "o").exists()
    from nuset_engine.batch import BatchOptions, run_batch

    with pytest.raises(ValueError, match="workers must be 0 .* got -2"):
        run_batch([], BatchOptions(), workers=-2)


@pytest.mark.slow
def test_resume_after_a_kill_redoes_nothing_and_leaves_no_partial_files(folder, tmp_path):
    for i in range(6, 14):  # more images so that the kill lands mid-run
        shutil.copy(folder / "img0.tif", folder / f"img{i}.tif")
    out = tmp_path / "out"
    proc = subprocess.Popen([NUSET, "segment", str(folder), "-o", str(out), "--rois"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("*_labels.tif")):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.name: p.stat().st_mtime_ns for p in out.glob("*_labels.tif")}
    assert 0 < len(finished) < 14, "the kill should land mid-run"
    for name in finished:  # whatever has its final name is complete
        assert tifffile.imread(out / name).shape in {(512, 512), (300, 400), (412, 462)}

    result = run(folder, "-o", out, "--rois", "--resume")
    assert result.returncode == 0, result.stderr
    summary = read_summary(out / "summary.csv")
    assert len(summary) == 14
    for name, mtime in finished.items():
        assert (out / name).stat().st_mtime_ns == mtime  # not redone
        assert summary[name.replace("_labels", "")]["status"] == "skipped (complete)"
    assert sum(r["status"] == "ok" for r in summary.values()) == 14 - len(finished)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    assert len(list(out.glob("*_labels.tif"))) == len(list(out.glob("*_rois.zip"))) == 14


def test_config_file_and_run_record(folder, tmp_path):
    config = tmp_path / "params.toml"
    config.write_text('min_score = 0.95\nmin-size-fraction = 0.3\nmeasurements = true\n')
    result = run(folder / "img0.tif", "-o", tmp_path / "out", "--config", config)
    assert result.returncode == 0, result.stderr
    import json

    record = json.loads((tmp_path / "out" / "nuset_run.json").read_text())
    assert record["options"]["params"]["min_score"] == 0.95
    assert record["options"]["params"]["min_size_fraction"] == 0.3
    assert record["options"]["measurements"] is True and record["torch"]
    assert (tmp_path / "out" / "img0_measurements.csv").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text("min_scor = 1\n")
    result = run(folder / "img0.tif", "-o", tmp_path / "out2", "--config", bad)
    assert result.returncode == 2 and "unknown option(s) min_scor" in result.stderr


@pytest.mark.slow
def test_existing_outputs_need_overwrite(folder, tmp_path):
    assert run(folder / "img1.tif", "-o", tmp_path).returncode == 0
    before = (tmp_path / "img1_labels.tif").read_bytes()
    result = run(folder / "img1.tif", "-o", tmp_path, "--overlay")
    assert result.returncode == 1 and "pass --overwrite" in result.stderr
    assert (tmp_path / "img1_labels.tif").read_bytes() == before and not (tmp_path / "img1_overlay.png").exists()
    assert run(folder / "img1.tif", "-o", tmp_path, "--overlay", "--overwrite").returncode == 0
    assert (tmp_path / "img1_overlay.png").exists()


@pytest.mark.dask
def test_existing_dask_scheduler(folder, tmp_path):
    """--scheduler sends the work to a cluster the lab already runs (here one
    started by the test on loopback, in its own processes)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        result = run(folder / "img0.tif", folder / "img1.tif", "-o", tmp_path / "out", "--scheduler",
                     cluster.scheduler_address)
    assert result.returncode == 0, result.stderr
    summary = read_summary(tmp_path / "out" / "summary.csv")
    assert [summary[n]["status"] for n in ("img0.tif", "img1.tif")] == ["ok", "ok"]
    assert int(summary["img0.tif"]["nuclei"]) == tifffile.imread(tmp_path / "out" / "img0_labels.tif").max() > 20


def test_large_tiff_is_streamed_to_a_tiled_labels_file(tmp_path, segmenter, sample):
    """A tiled 1536 x 1536 TIFF with --tile-size 512: read region by region,
    labels written tile by tile to a tiled TIFF, equal to the engine's tiled
    result on the in-memory image, no scratch file left behind."""
    image = np.tile(sample[0], (3, 3))
    tifffile.imwrite(tmp_path / "big.tif", image, tile=(256, 256))
    out = tmp_path / "out"
    result = run(tmp_path / "big.tif", "-o", out, "--tile-size", 512, "--measurements")
    assert result.returncode == 0, result.stderr
    with tifffile.TiffFile(out / "big_labels.tif") as tif:
        assert tif.pages[0].is_tiled
        labels = tif.pages[0].asarray()
    expected = segmenter.segment(image, tile_size=512)
    assert np.array_equal(labels, expected)
    assert labels.max() > 8 * 100  # nine copies of ~110 nuclei, minus some cut at the copies' edges
    assert sorted(p.name for p in out.iterdir()) == ["big_labels.tif", "big_measurements.csv", "nuset_run.json",
                                                     "summary.csv"]
    rows = read_summary(out / "summary.csv")
    assert int(rows["big.tif"]["nuclei"]) == labels.max()
