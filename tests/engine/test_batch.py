import configparser
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from nuset_engine.batch import BatchOptions, plan_jobs, run_batch


@pytest.fixture
def tree(tmp_path):
    for rel in ("a.tif", "b.png", "notes.txt", "sub/c.tif", "sub/deeper/d.tiff"):
        path = tmp_path / "in" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return tmp_path


def test_folder_mirrors_subfolders_when_recursive(tree):
    jobs = plan_jobs([str(tree / "in")], str(tree / "out"), recursive=True)
    assert [Path(j.prefix).relative_to(tree / "out").as_posix() for j in jobs] == [
        "a", "b", "sub/c", "sub/deeper/d"]
    flat = plan_jobs([str(tree / "in")], str(tree / "out"))
    assert [Path(j.source).name for j in flat] == ["a.tif", "b.png"]


def test_glob_and_default_output_next_to_image(tree):
    jobs = plan_jobs([str(tree / "in" / "**" / "*.tif")], None, recursive=True)
    assert sorted(Path(j.source).name for j in jobs) == ["a.tif", "c.tif"]
    assert all(Path(j.prefix).parent == Path(j.source).parent for j in jobs)


def test_collisions_and_nothing_found_are_refused(tree):
    with pytest.raises(ValueError, match="would write the same outputs"):
        plan_jobs([str(tree / "in" / "a.tif"), str(tree / "in" / "sub" / "c.tif"), str(tree / "in" / "a.tif")],
                  str(tree / "out"))
    with pytest.raises(ValueError, match="no such file"):
        plan_jobs([str(tree / "missing*.tif")], None)


@pytest.mark.parametrize("where", [{"workers": 2}, {"scheduler": "tcp://127.0.0.1:1"}])
def test_missing_dask_names_an_install_command_for_this_interpreter(monkeypatch, where):
    """Without the 'distributed' package, the error gives a pip command for the
    interpreter actually running (so it installs into this environment, however
    NuSeT was installed) and the requirement the package declares.

    The real absence cannot be had here (the dev extra installs Dask), so the
    import is made to fail: a None entry in sys.modules makes `import
    distributed` raise ImportError, as when it is not installed."""
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(RuntimeError) as info:
        run_batch([], BatchOptions(), **where)
    message = str(info.value)
    assert isinstance(info.value.__cause__, ImportError)
    assert "'distributed'" in message and "nuset[distributed]" not in message and "--" not in message
    command = shlex.split(message.split("install it with: ", 1)[1])
    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[2] / "setup.cfg")
    declared = config["options.extras_require"]["distributed"].split()
    assert command == [sys.executable, "-m", "pip", "install", *declared]
    # the command's interpreter has pip (its module runs)
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True, timeout=120)
    assert pip.returncode == 0, pip.stderr
