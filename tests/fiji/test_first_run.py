"""Fiji as a biologist meets it (real ImageJ 1.x under Xvfb): after `nuset fiji install` the first run
works with no other step, labels show in colour, repeat runs do not pile up ROIs, a Python without NuSeT
is named in plain words, and one NuSeT worker serves the whole session."""
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import nuset_engine
from tests.fiji.conftest import xvfb_run

NUSET = Path(sys.executable).parent / "nuset"  # the console command a user runs


def _imagej(tmp_path, ij_jar) -> Path:
    root = tmp_path / "ImageJ"
    root.mkdir()
    shutil.copy(ij_jar, root / "ij.jar")
    return root


def _run(root: Path, ij_jar: Path, macro_text: str, argument: str, tmp_path: Path, timeout: int = 300) -> str:
    """ImageJ as a user starts it: `java -jar ij.jar`, its own home (no preferences yet), no NUSET_PYTHON."""
    macro = tmp_path / "macro.ijm"
    macro.write_text(macro_text)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    environment = {k: v for k, v in os.environ.items() if k != "NUSET_PYTHON"}
    result = subprocess.run([xvfb_run(), "-a", "java", f"-Duser.home={home}", "-jar", str(ij_jar),
                             "-ijpath", str(root), "-batch", str(macro), argument],
                            capture_output=True, text=True, timeout=timeout, env=environment, cwd=tmp_path)
    return result.stdout + result.stderr


TWICE = """
open(getArgument());
setBatchMode(true);
original = getImageID();
for (k = 1; k <= 2; k++) {
    selectImage(original);
    run("NuSeT Segment", "add_rois");
    getLut(reds, greens, blues);
    getMinAndMax(low, high);
    title = getTitle();
    max = getValue("Max");
    roiManager("select", 0);
    print("RESULT run=" + k + " title=" + title + " max=" + max + " rois=" + roiManager("count")
        + " first=" + Roi.getName + " lut0=" + reds[0] + "," + greens[0] + "," + blues[0]
        + " lut1=" + reds[1] + "," + greens[1] + "," + blues[1] + " range=" + low + "-" + high);
}
"""


def test_first_run_after_install_needs_no_setting(tmp_path, ij_jar, segmenter, sample):
    root = _imagej(tmp_path, ij_jar)
    installed = subprocess.run([str(NUSET), "fiji", "install", str(root)], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    python = (root / "plugins" / "NuSeT.properties").read_text().splitlines()[-1]
    assert python.startswith(f"python={Path(sys.executable).parent}/python")  # the Python `nuset` runs in
    output = _run(root, ij_jar, TWICE, str(nuset_engine.SAMPLE_IMAGE), tmp_path)
    assert "NuSeT error" not in output and "Exception" not in output, output
    expected = int(segmenter.segment(sample[0]).max())
    runs = re.findall(r"RESULT run=(\d) title=(\S+) max=(\d+) rois=(\d+) first=(\S+) lut0=(\S+) lut1=(\S+) "
                      r"range=(\S+)", output)
    assert len(runs) == 2, output
    (_, title1, max1, rois1, first1, lut0, lut1, shown), (_, title2, max2, rois2, first2, *_rest) = runs
    assert int(max1) == int(max2) == expected
    # the second run's labels get a title of their own; its ROIs replace the first run's, named after the image
    assert (title1, title2) == ("img2d-labels", "img2d-labels-2")
    assert int(rois1) == int(rois2) == expected and first1 == first2 == "img2d-0001"
    # colour labels on black: background black, nucleus 1 a colour, one LUT entry per label
    assert lut0 == "0,0,0" and len(set(lut1.split(","))) > 1 and shown == "0-255"


def test_a_python_without_nuset_is_named_in_plain_words(tmp_path, ij_jar, ij_home):
    bare = shutil.which("python3", path="/usr/bin:/bin")
    if bare is None or subprocess.run([bare, "-c", "import nuset_engine"], cwd=tmp_path,
                                      capture_output=True).returncode == 0:
        pytest.skip("no Python without NuSeT on this machine")
    macro = 'args = split(getArgument(), "|"); open(args[1]); run("NuSeT Segment", "python=" + args[0]);'
    output = _run(ij_home, ij_jar, macro, f"{bare}|{nuset_engine.SAMPLE_IMAGE}", tmp_path)
    lines = [line for line in output.splitlines() if line.startswith("NuSeT error")]
    assert len(lines) == 1, output  # one line, no Java trace
    assert f"the Python '{bare}' does not have NuSeT installed" in lines[0]
    assert "Set the Python that has NuSeT installed" in lines[0]


def test_one_worker_serves_the_session_and_a_stopped_one_is_restarted(tmp_path, ij_jar, ij_home, segmenter, sample):
    """Three runs in one session start Python once; a worker that stopped (here: it reads one request, then
    its input ends) is replaced on the next run, with a line saying so."""
    log = tmp_path / "starts.txt"
    wrapper = tmp_path / "python-one-request"
    wrapper.write_text(f'#!/bin/sh\necho start >> "{log}"\nhead -n 1 | "{sys.executable}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    macro = """
args = split(getArgument(), "|");
open(args[1]);
setBatchMode(true);
original = getImageID();
for (k = 1; k <= 3; k++) {
    selectImage(original);
    run("NuSeT Segment", "python=" + args[0]);
    print("RESULT run=" + k + " max=" + getValue("Max"));
    if (getImageID() != original) close();
}
"""
    output = _run(ij_home, ij_jar, macro, f"{wrapper}|{nuset_engine.SAMPLE_IMAGE}", tmp_path)
    expected = int(segmenter.segment(sample[0]).max())
    assert [int(m) for m in re.findall(r"RESULT run=\d max=(\d+)", output)] == [expected] * 3, output
    assert output.count("NuSeT: the NuSeT worker had stopped; a new one was started") == 2, output
    assert "NuSeT error" not in output
    assert log.read_text().split() == ["start"] * 3
    plain = tmp_path / "starts-plain.txt"
    counting = tmp_path / "python-counting"
    counting.write_text(f'#!/bin/sh\necho start >> "{plain}"\nexec "{sys.executable}" "$@"\n')
    counting.chmod(counting.stat().st_mode | stat.S_IXUSR)
    output = _run(ij_home, ij_jar, macro, f"{counting}|{nuset_engine.SAMPLE_IMAGE}", tmp_path)
    assert [int(m) for m in re.findall(r"RESULT run=\d max=(\d+)", output)] == [expected] * 3, output
    assert plain.read_text().split() == ["start"]  # one Python for the session


def test_install_needs_no_jdk_with_the_packaged_jar(tmp_path, ij_jar, monkeypatch):
    """A wheel carries NuSeT_.jar (setup.py builds it): installing it needs no javac, as on a machine with
    only Fiji's Java runtime. A jar built from other sources is not used, and then without a JDK the
    install says what is missing."""
    from click.testing import CliRunner

    from fiji_bridge import build
    from nuset_cli.main import cli

    packaged = build.build_jar(ij_jar, tmp_path / "package")
    monkeypatch.setattr(build, "PACKAGED_JAR", packaged)
    no_jdk = tmp_path / "bin"
    no_jdk.mkdir()
    monkeypatch.setenv("PATH", str(no_jdk))
    assert shutil.which("javac") is None
    root = _imagej(tmp_path, ij_jar)
    result = CliRunner().invoke(cli, ["fiji", "install", str(root)])
    assert result.exit_code == 0, result.output
    assert "(pre-built)" in result.output
    assert (root / "plugins" / "NuSeT_.jar").read_bytes() == packaged.read_bytes()

    stale = tmp_path / "stale.jar"  # as if built from other sources
    with zipfile.ZipFile(packaged) as old, zipfile.ZipFile(stale, "w") as new:
        for item in old.infolist():
            new.writestr(item, "0" * 64 if item.filename == build.DIGEST_ENTRY else old.read(item.filename))
    monkeypatch.setattr(build, "PACKAGED_JAR", stale)
    result = CliRunner().invoke(cli, ["fiji", "install", "--overwrite", str(root)])
    assert result.exit_code != 0
    assert "'javac' not found: building the Fiji plugin needs a JDK" in result.output
