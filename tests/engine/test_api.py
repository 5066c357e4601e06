"""The engine's API as users see it: what the package exports, the return
types of ``segment``, the shared models and their release, and typed errors
whose messages speak the API's terms (the wrappers phrase them in theirs)."""
from __future__ import annotations

import ast
import inspect
import pickle
import re
import typing
from pathlib import Path

import numpy as np
import pytest
import tifffile

import nuset_engine
from nuset_engine import ImageTooLargeError, OutputClashError, OutputExistsError, Segmenter
from nuset_engine.batch import BatchOptions, Job, OUTPUT_SUFFIXES, plan_jobs, process_job
from nuset_engine.io import read_image, write_labels

ENGINE = Path(nuset_engine.__file__).parent


def test_all_is_the_user_api_and_every_old_name_still_imports():
    assert set(nuset_engine.__all__) == {
        "Segmenter", "SegmentOptions", "SegmentationDetails", "OptionError", "ModelFileError", "OutputExistsError",
        "ImageTooLargeError", "OutputClashError", "SAMPLE_IMAGE", "SAMPLE_LABELS", "__version__"}
    for name in nuset_engine.__all__:
        assert getattr(nuset_engine, name) is not None, name
    # helpers that left __all__ are still attributes (imported on first use), for existing code
    from nuset_engine import (anchor_base_size, default_model_path, evaluate_pair, foreground_normalize,  # noqa: F401
                              load_model, pool, rpn_aided_watershed, save_model, synthetic_image,
                              whole_image_normalize)
    from nuset_engine.metrics import pool as pool_itself

    assert pool is pool_itself and "pool" in dir(nuset_engine)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        nuset_engine.nothing  # noqa: B018


def test_segment_return_type_follows_return_details():
    overloads = typing.get_overloads(Segmenter.segment)
    returns = {str(inspect.signature(f).parameters["return_details"].annotation): f.__annotations__["return"]
               for f in overloads}
    assert returns == {"Literal[False]": "np.ndarray", "Literal[True]": "tuple[np.ndarray, SegmentationDetails]",
                       "bool": "np.ndarray | tuple[np.ndarray, SegmentationDetails]"}
    # the runtime signature still lists every option as a keyword (from the option table)
    parameters = inspect.signature(Segmenter.segment).parameters
    assert {"min_score", "tile_size", "augment", "return_details", "out"} <= set(parameters)
    assert inspect.signature(Segmenter.segment).return_annotation == (
        "np.ndarray | tuple[np.ndarray, SegmentationDetails]")


@pytest.mark.parametrize("tile_size", [0, 192])
def test_label_dtype_with_and_without_out(segmenter, sample, tile_size):
    """Without ``out``: uint16 (nuclei fit); with ``out``: ``out`` itself, in its own dtype."""
    crop = np.ascontiguousarray(sample[0][:256, :256])
    labels = segmenter.segment(crop, tile_size=tile_size)
    assert labels.dtype == np.uint16 and labels.max() > 5
    for dtype in (np.uint32, np.int32):
        out = np.zeros(crop.shape, dtype)
        result, details = segmenter.segment(crop, tile_size=tile_size, out=out, return_details=True)
        assert result is out and result.dtype == dtype and np.array_equal(result, labels)
        assert details.foreground_probability.shape == crop.shape
    assert "With ``out``: ``out`` itself" in Segmenter.segment.__doc__


def test_unused_and_internal_methods():
    assert not hasattr(Segmenter, "foreground_probability")  # had no caller
    # the pipeline's steps live in nuset_engine.pipeline, not on the API object
    for name in ("choose_scale", "postprocess", "scale_from_first_look", "first_look", "size_around"):
        assert not hasattr(Segmenter, name), name
    assert "Internal:" in Segmenter.network_maps.__doc__
    assert "network_maps" in Segmenter.__doc__  # the class says which method is internal


def test_shared_models_are_reused_until_released(monkeypatch):
    Segmenter.release_shared()
    loads = []
    load = Segmenter.load.__func__
    monkeypatch.setattr(Segmenter, "load", classmethod(lambda cls, path=None, device="auto", backend="auto":
                                                       loads.append(device) or load(cls, path, device, backend)))
    first = Segmenter.shared(None, "cpu")
    assert Segmenter.shared(None, "cpu") is first and loads == ["cpu"]
    assert Segmenter.release_shared() == 1
    assert Segmenter.release_shared() == 0
    again = Segmenter.shared(None, "cpu")
    assert again is not first and loads == ["cpu", "cpu"]
    Segmenter.release_shared()


def test_release_gives_cached_gpu_memory_back(monkeypatch):
    import torch

    emptied = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    Segmenter.release_shared()
    assert emptied == [True]
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)  # no GPU used: CUDA is not touched
    Segmenter.release_shared()
    assert emptied == [True]


# -- typed errors ------------------------------------------------------------------------------------------------

def test_write_labels_refuses_to_replace_with_a_typed_error(tmp_path):
    path = tmp_path / "labels.tif"
    write_labels(path, np.ones((4, 4), np.uint16))
    with pytest.raises(OutputExistsError) as info:
        write_labels(path, np.zeros((4, 4), np.uint16))
    assert isinstance(info.value, FileExistsError) and info.value.path == str(path)
    assert str(info.value) == f"{path} exists; pass overwrite=True to replace"
    write_labels(path, np.zeros((4, 4), np.uint16), overwrite=True)
    assert tifffile.imread(path).max() == 0


def test_an_image_too_large_to_read_carries_the_tile_size(tmp_path, monkeypatch, sample):
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, sample[0][:64, :64])

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 6.71 GiB")

    monkeypatch.setattr(tifffile.TiffFile, "asarray", no_memory)
    with pytest.raises(ImageTooLargeError) as info:
        read_image(path)
    error = info.value
    assert isinstance(error, MemoryError) and error.path == str(path) and error.tile_size == 2048
    assert str(error) == (f"{path}: the image is too large to load whole; segment it in tiles (open_plane() and "
                          "tile_size=2048), which reads a TIFF region by region")
    assert error.phrase(tile_size="tiles of {} pixels").endswith("(tiles of 2048 pixels), which reads a TIFF "
                                                                   "region by region")


def test_colliding_outputs_are_a_typed_error(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        tifffile.imwrite(tmp_path / folder / "x.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(OutputClashError) as info:
        plan_jobs([str(tmp_path / "a" / "x.tif"), str(tmp_path / "b" / "x.tif")], str(tmp_path / "out"))
    assert isinstance(info.value, ValueError) and info.value.prefix == str(tmp_path / "out" / "x")
    assert str(info.value).endswith("segment them into different output folders")
    assert info.value.phrase(output="--output").endswith("different --output folders")


def test_typed_errors_survive_pickling():
    """Errors cross process boundaries (Dask workers); their data and message must too."""
    for error in (OutputExistsError("/o/x_labels.tif", resumable=True, unreadable="bad"),
                  ImageTooLargeError("/i/x.tif", 1024), OutputClashError("/a/x.tif", "/b/x.tif", "/o/x")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error) and vars(copy) == vars(error)


def test_batch_rows_speak_the_api_unless_the_caller_phrases_them(tmp_path, sample):
    source = tmp_path / "x.tif"
    tifffile.imwrite(source, np.ascontiguousarray(sample[0][:64, :64]))
    job = Job(str(source), str(tmp_path / "out" / "x"))
    labels = Path(job.prefix + OUTPUT_SUFFIXES["labels"])
    labels.parent.mkdir()
    labels.write_bytes(b"mine")
    row = process_job(job, BatchOptions(device="cpu"))
    assert row["status"] == "error"
    assert row["error"] == f"{labels} exists; pass overwrite=True to replace or resume=True to skip"
    row = process_job(job, BatchOptions(device="cpu"), phrase=lambda exc: f"phrased: {type(exc).__name__}")
    assert row["error"] == "phrased: OutputExistsError"
    row = process_job(job, BatchOptions(device="cpu", resume=True))  # unreadable labels cannot mark it done
    assert row["error"].startswith(f"{labels}: cannot read these existing labels (")
    assert row["error"].endswith("delete the file, or pass overwrite=True to segment the image again")
    assert labels.read_bytes() == b"mine"


def test_engine_errors_name_no_command_line_flag():
    """Flags (``--overwrite``, ``--tile-size``) belong to the command line,
    which phrases the engine's typed errors itself (cli/_common.py)."""
    flag = re.compile(r"(?<![\w-])--[a-z]")
    found = []
    for path in sorted(ENGINE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Raise, ast.Return)) or (isinstance(node, ast.Call) and getattr(
                    node.func, "id", "") in ("_row", "OutputExistsError")):
                for constant in ast.walk(node):
                    if isinstance(constant, ast.Constant) and isinstance(constant.value, str) \
                            and flag.search(constant.value):
                        found.append((path.name, node.lineno, constant.value))
    assert not found
