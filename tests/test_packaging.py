"""The package as pip builds it: no setuptools warnings (a user reads
"Package 'nuset_engine.models' is absent ..." as "the model is missing"), and
the wheel carries the model, the sample image, the Fiji plugin's Java sources
and the ImageJ macros.

Built from a copy of the source tree in tmp_path, so that the build's
`build/` and `*.egg-info` folders stay out of the working tree.
"""
import configparser
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# a Python warning as printed: "file:line: SetuptoolsDeprecationWarning: ..."
# (pip relays the backend's as BuildBackendWarning); pip's own "WARNING:" lines
# (e.g. about index locations) are about the machine, not the package
WARNING = re.compile(r"\w*Warning: .*|.*absent from the `packages` configuration.*|.*License classifiers.*")


def _source_copy(tmp_path):
    """The files a build reads: the metadata files and the top-level packages."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    tops = {name.split(".")[0] for name in config["options.packages.find"]["include"].split()}
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, src / name)
    for top in sorted(tops):
        shutil.copytree(ROOT / top, src / top, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return src


def _no_warnings(output):
    return [line.strip() for line in output.splitlines() if WARNING.search(line)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    pytest.importorskip("setuptools", reason="the dev extra installs setuptools")
    tmp_path = tmp_path_factory.mktemp("packaging")
    src = _source_copy(tmp_path)
    dist = tmp_path / "dist"
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                             "--no-index", "-w", str(dist), str(src)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = dist.glob("nuset-*.whl")
    return src, wheel, result.stdout + result.stderr


def test_the_wheel_builds_without_warnings(built):
    _, _, output = built
    assert _no_warnings(output) == [], output


def test_the_wheel_holds_the_data_files(built):
    src, wheel, _ = built
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()

    def shipped(folder, pattern):
        files = {p.relative_to(src).as_posix() for p in (src / folder).glob(pattern)}
        assert files, f"no {pattern} in {folder} of the source tree"
        return files

    expected = {"nuset_engine/models/default.nuset.pt", "nuset_engine/models/MODEL_CARD.md",
                "nuset_engine/sample/img2d.tif", "nuset_engine/sample/img2d_truth.tif",
                "fiji_bridge/java/plugins.config"}
    expected |= shipped("nuset_engine/sample", "*.tif") | shipped("fiji_bridge/java/nuset", "*.java")
    expected |= shipped("fiji_bridge/macros", "*.ijm")
    assert expected <= names, sorted(expected - names)
    assert {"nuset_engine/__init__.py", "cli/main.py", "fiji_bridge/build.py",
            "cellprofiler_plugin/runnuset.py"} <= names
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]
    # the license as an SPDX expression, not a (deprecated) classifier
    assert "License-Expression: MIT" in metadata.splitlines()
    assert not [line for line in metadata.splitlines() if line.startswith("Classifier: License ::")]


def test_the_editable_build_has_no_warnings(tmp_path):
    """What `pip install -e .` runs (PEP 660's build_editable), without installing."""
    pytest.importorskip("setuptools", reason="the dev extra installs setuptools")
    src = _source_copy(tmp_path)
    out = tmp_path / "editable"
    out.mkdir()
    code = f"from setuptools import build_meta; print(build_meta.build_editable({str(out)!r}))"
    result = subprocess.run([sys.executable, "-W", "default", "-c", code], cwd=src,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(out.glob("nuset-*.whl")), result.stdout
    assert _no_warnings(result.stdout + result.stderr) == [], result.stdout + result.stderr
