from pathlib import Path

import pytest

from nuset_engine.batch import plan_jobs


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
