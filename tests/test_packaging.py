"""The package as pip builds it: no setuptools warnings (a user reads
"Package 'nuset_engine.models' is absent ..." as "the model is missing"), and
the wheel carries the model, the sample image, the Fiji plugin's Java sources
and the ImageJ macros, installs no top-level package that could clash with
another distribution's (the folder cli/ installs as `nuset_cli`), and works
when installed on its own into a clean virtual environment.

Built from a copy of the source tree in tmp_path, so that the build's
`build/` and `*.egg-info` folders stay out of the working tree.
"""
import configparser
import json
import os
import platform
import re
import shlex
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


def _layout():
    """setup.cfg's packages and the source folder of each: ``{package: folder}``
    (``package_dir`` maps a top-level package to a folder of another name)."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    options = config["options"]
    renamed = dict(line.replace(" ", "").split("=") for line in options.get("package_dir", "").splitlines()
                   if line.strip())
    folders = {}
    for package in options["packages"].split():
        top, *rest = package.split(".")
        folders[package] = Path(renamed.get(top, top), *rest).as_posix()
    return folders


def _source_copy(tmp_path):
    """The files a build reads: the metadata files and the top-level packages' folders."""
    tops = {folder.split("/")[0] for folder in _layout().values()}
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.cfg", "setup.py", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, src / name)
    for top in sorted(tops):
        shutil.copytree(ROOT / top, src / top, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return src


def test_every_source_folder_is_a_listed_package():
    """setup.cfg lists the packages (discovery cannot rename cli/): a new
    sub-folder of a package folder must be added there, or it is not shipped."""
    folders = _layout()
    tops = {folder.split("/")[0] for folder in folders.values()}
    present = {path.relative_to(ROOT).as_posix() for top in tops for path in [ROOT / top, *(ROOT / top).rglob("*")]
               if path.is_dir() and "__pycache__" not in path.parts}
    assert present == set(folders.values()), (present ^ set(folders.values()))
    assert "cli" not in folders and folders["nuset_cli"] == "cli"


def test_the_dependency_floors_are_the_versions_make_test_floors_installs():
    """Each requirement's floor in setup.cfg is pinned in requirements-floors.txt
    (which `make test-floors` installs exactly), and nothing else is; torch's
    comes from the Makefile's TORCH instead."""
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    floors = {}
    for line in config["options"]["install_requires"].splitlines():
        if line.strip():
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == ">=" and requirement.marker is None, line
            floors[requirement.name] = Version(spec.version)
    pinned = {}
    for line in (ROOT / "requirements-floors.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", line
            pinned[requirement.name] = Version(spec.version)
    assert pinned == {name: v for name, v in floors.items() if name != "torch"}
    # the lowest Python allowed (3.11) is the one the suites run on
    assert SpecifierSet(config["options"]["python_requires"]).contains(platform.python_version())


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
    assert {"nuset_engine/__init__.py", "nuset_cli/main.py", "fiji_bridge/build.py",
            "cellprofiler_plugin/runnuset.py"} <= names
    # no top-level package of a common name (cli): the folder cli/ installs as nuset_cli
    assert {n.split("/")[0] for n in names if not n.startswith("nuset-")} == {
        "nuset_engine", "nuset_cli", "fiji_bridge", "cellprofiler_plugin"}
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


def _run(*command, cwd, env, timeout=300):
    result = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{shlex.join(map(str, command))}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
@pytest.mark.jvm
def test_the_wheel_alone_in_a_clean_environment(built, tmp_path):
    """What a wheel user runs: the wheel (and its dependencies, from the index)
    in a fresh virtual environment of its own, outside the source tree:
    `nuset segment` on the bundled sample with the shipped model, `nuset
    cellprofiler install` and `nuset fiji install` (javac and Debian's
    ij.jar, which `make test` installs), `python -m fiji_bridge.command`,
    and no top-level `cli` package. Torch is installed first, as the
    Makefile does (NUSET_TEST_TORCH, set by `make test` from TORCH; by
    default the version this suite runs on), so that pip does not pull a
    CUDA build; pip's cache makes the rest quick after the first run."""
    from importlib.metadata import version

    _, wheel, _ = built
    ij_jar = Path(os.environ.get("NUSET_IJ_JAR", "/usr/share/java/ij.jar"))
    assert ij_jar.is_file() and shutil.which("javac"), "needs Debian's libij-java and a JDK (make test installs them)"
    # outside the source tree, and nothing of this environment's leaks in
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    work = tmp_path / "work"
    work.mkdir()
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=work, env=env)
    python, nuset = venv / "bin" / "python", venv / "bin" / "nuset"
    torch = shlex.split(os.environ.get("NUSET_TEST_TORCH") or f"torch=={version('torch')}")
    _run(python, "-m", "pip", "install", "--quiet", *torch, cwd=work, env=env, timeout=600)
    _run(python, "-m", "pip", "install", "--quiet", wheel, cwd=work, env=env, timeout=600)

    # what is installed: the four packages, nothing named cli, all inside the venv
    probe = ("import importlib.util, importlib.metadata as m, json, nuset_engine\n"
             "files = m.files('nuset')\n"
             "print(json.dumps({'tops': sorted({f.parts[0] for f in files if not f.parts[0].startswith(('nuset-', '..'))}),"
             " 'cli': importlib.util.find_spec('cli') is not None, 'sample': str(nuset_engine.SAMPLE_IMAGE),"
             " 'model': str(nuset_engine.default_model_path())}))")
    found = json.loads(_run(python, "-c", probe, cwd=work, env=env))
    assert found["tops"] == ["cellprofiler_plugin", "fiji_bridge", "nuset_cli", "nuset_engine"], found
    assert not found["cli"], "a top-level `cli` package is importable"
    for key in ("sample", "model"):
        assert Path(found[key]).is_file() and Path(found[key]).is_relative_to(venv), found

    out = work / "labels"
    output = _run(nuset, "segment", found["sample"], "--output", out, cwd=work, env=env)
    import tifffile

    labels = tifffile.imread(out / "img2d_labels.tif")
    assert labels.shape == tifffile.imread(found["sample"]).shape and labels.max() > 50, output
    assert found["model"] in _run(nuset, "info", cwd=work, env=env)

    _run(nuset, "cellprofiler", "install", work / "cp-plugins", cwd=work, env=env)
    assert (work / "cp-plugins" / "runnuset.py").is_file()

    imagej = work / "ImageJ"
    imagej.mkdir()
    shutil.copy(ij_jar, imagej / "ij.jar")
    _run(nuset, "fiji", "install", imagej, cwd=work, env=env)
    assert (imagej / "plugins" / "NuSeT_.jar").is_file()
    assert sorted(p.name for p in (imagej / "macros").glob("*.ijm")) == sorted(
        p.name for p in (ROOT / "fiji_bridge" / "macros").glob("*.ijm"))
    assert "--input" in _run(python, "-m", "fiji_bridge.command", "--help", cwd=work, env=env)
    assert "segment" in _run(python, "-m", "nuset_cli.main", "--help", cwd=work, env=env)
