"""RunNuSeT in process, on real CellProfiler objects (Workspace, Pipeline)."""
import io

import numpy as np
import pytest

from tests.cellprofiler.conftest import prefs, requires_cellprofiler

pytestmark = requires_cellprofiler
if prefs is not None:  # CellProfiler is installed
    from cellprofiler_core.image import Image, ImageSetList
    from cellprofiler_core.measurement import Measurements
    from cellprofiler_core.object import ObjectSet
    from cellprofiler_core.pipeline import Pipeline
    from cellprofiler_core.workspace import Workspace


def make_workspace(module, pixels, image=None):
    image_sets = ImageSetList()
    image_set = image_sets.get_image_set(0)
    image_set.add("DNA", Image(pixels) if image is None else image)
    pipeline = Pipeline()
    pipeline.add_module(module)
    return Workspace(pipeline, module, image_set, ObjectSet(), Measurements(), image_sets)


def make_volume_workspace(module, volume, spacing=None):
    """A workspace whose "DNA" is a 3-D image, as NamesAndTypes loads one
    with *Process as 3D?* (``spacing``: its relative pixel spacing)."""
    image = Image(volume, dimensions=3)
    if spacing is not None:
        image.spacing = spacing
    return make_workspace(module, None, image)


def new_module(runnuset, **values):
    module = runnuset.RunNuSeT()
    module.set_module_num(1)
    module.x_name.value = "DNA"
    for name, value in values.items():
        getattr(module, name).value = value
    return module


def as_cellprofiler_pixels(image):
    return image.astype(np.float32) / 65535  # how CellProfiler presents a uint16 image


def test_objects_and_measurements_match_the_engine(runnuset, sample, segmenter):
    pixels = as_cellprofiler_pixels(sample[0])
    module = new_module(runnuset, save_probability=True)
    workspace = make_workspace(module, pixels)
    module.run(workspace)
    objects = workspace.object_set.get_objects("Nuclei")
    expected = segmenter.segment(pixels)
    assert objects.count == expected.max() > 50
    assert np.array_equal(objects.segmented, expected)
    assert workspace.measurements.get_current_image_measurement("Count_Nuclei") == objects.count
    xs = workspace.measurements.get_current_measurement("Nuclei", "Location_Center_X")
    assert len(xs) == objects.count and 0 <= xs.min() and xs.max() < 512
    probability = workspace.image_set.get_image("NuSeTProbability").pixel_data
    assert probability.shape == (512, 512) and 0 <= probability.min() and probability.max() <= 1


def test_augmentation_setting_reaches_the_engine(runnuset, sample, segmenter):
    pixels = as_cellprofiler_pixels(sample[0][:256, :256])
    module = new_module(runnuset, augment=True)
    workspace = make_workspace(module, pixels)
    module.run(workspace)
    expected = segmenter.segment(pixels, augment=True)
    assert np.array_equal(workspace.object_set.get_objects("Nuclei").segmented, expected)
    assert not np.array_equal(expected, segmenter.segment(pixels))


def test_settings_stand_for_the_engine_table(runnuset, tmp_path):
    """The module's settings are CellProfiler widgets saved by position, so
    they are written out in the module; here they are checked against the
    engine's option table: every option the table offers CellProfiler is
    set, a new module gives the table's defaults, the numeric settings allow
    no value the engine refuses, and the engine accepts what they give."""
    from cellprofiler_core.preferences import get_temporary_directory, set_temporary_directory

    from nuset_engine.options import SEGMENT_OPTIONS, SegmentOptions, option

    before = get_temporary_directory()
    set_temporary_directory(str(tmp_path))
    module = new_module(runnuset)
    try:
        given = module.engine_options()
    finally:
        set_temporary_directory(before)
    assert set(given) == {o.name for o in SEGMENT_OPTIONS if "cellprofiler" in o.hosts}
    defaults = SegmentOptions()
    for name, value in given.items():
        if name == "scratch_dir":  # CellProfiler's temporary directory (File > Preferences)
            assert value == str(tmp_path)
        else:
            assert value == getattr(defaults, name), name
    assert SegmentOptions(**given)  # the engine accepts them
    for name, setting in (("min_score", module.min_score), ("nms_threshold", module.nms_threshold),
                          ("min_size_fraction", module.min_size_fraction), ("nucleus_diameter", module.nucleus_diameter)):
        entry = option(name)
        assert setting.min_value == entry.minimum, name  # nucleus_diameter: 0 stands for "estimated"
        if entry.maximum is not None:
            assert setting.max_value == entry.maximum, name
    # min_size_fraction: CellProfiler's field stops at 1 (the engine allows more; above 1 removes most nuclei)
    assert module.min_size_fraction.max_value == 1.0
    # every choice maps to a value the engine takes, the default to the table's default
    for word, value in runnuset.PASSES.items():
        assert option("two_pass").check(value) == value
    assert runnuset.PASSES[module.two_pass.value] is option("two_pass").default
    module.tiling.value, module.tile_size.value = runnuset.TILING_FIXED, 1024
    assert module.engine_options()["tile_size"] == 1024
    module.tiling.value, module.nucleus_diameter.value = runnuset.TILING_WHOLE, 30.0
    assert module.engine_options()["tile_size"] == 0 and module.engine_options()["nucleus_diameter"] == 30.0
    # the model's own thresholds (None) by default; the module's own when asked for
    assert module.engine_options()["min_score"] is None and module.engine_options()["min_size_fraction"] is None
    module.model_thresholds.value, module.min_score.value, module.min_size_fraction.value = False, 0.7, 0.1
    assert module.engine_options()["min_score"] == 0.7 and module.engine_options()["min_size_fraction"] == 0.1


@pytest.mark.parametrize("setting, backend", [("Float32 (reference)", "f32"), ("BFloat16", "bf16")])
def test_network_precision_reaches_the_engine(runnuset, sample, setting, backend):
    """The precision setting picks the engine's backend for the run's model;
    bfloat16 objects stay close to float32's (not equal: 16-bit arithmetic)."""
    from nuset_engine import Segmenter
    from nuset_engine.metrics import evaluate_pair, pool

    pixels = as_cellprofiler_pixels(sample[0][:256, :256])
    module = new_module(runnuset, device="CPU", backend=setting)
    module.post_run(None)
    workspace = make_workspace(module, pixels)
    module.run(workspace)
    assert Segmenter.shared(None, "cpu", backend).backend == backend
    reference = Segmenter.shared(None, "cpu", "f32").segment(pixels)
    found = workspace.object_set.get_objects("Nuclei").segmented
    assert pool([evaluate_pair(reference, found)])["ap@0.50"] > 0.9
    module.post_run(None)


def test_model_is_loaded_once_per_run_and_released(runnuset, sample, monkeypatch):
    """The module keeps no cache of its own: the engine's shared model serves
    every image of a run, and post_run releases it (Segmenter.release_shared)."""
    from nuset_engine import Segmenter

    loads = []
    load = Segmenter.load.__func__

    def counting(cls, path=None, device="auto", backend="auto"):
        loads.append((path, device))
        return load(cls, path, device, backend)

    monkeypatch.setattr(Segmenter, "load", classmethod(counting))
    pixels = as_cellprofiler_pixels(sample[0][:128, :128])
    module = new_module(runnuset, device="CPU")
    module.post_run(None)  # start from an empty cache
    module.run(make_workspace(module, pixels))
    module.run(make_workspace(module, pixels[::-1]))
    assert loads == [(None, "cpu")]  # once for the run
    first = Segmenter.shared(None, "cpu")  # the module's model, not loaded again
    assert len(loads) == 1
    released = []
    release = Segmenter.release_shared.__func__
    monkeypatch.setattr(Segmenter, "release_shared", classmethod(lambda cls: released.append(release(cls))))
    module.post_run(None)
    assert released and released[0] >= 1
    module.run(make_workspace(module, pixels))  # the next run loads it again
    assert len(loads) == 2 and Segmenter.shared(None, "cpu") is not first
    module.post_run(None)


def test_post_run_without_the_engine_loaded_does_nothing(runnuset, monkeypatch):
    """post_run imports nothing: a pipeline that never ran the module (or
    could not import the engine) does not pay for torch at its end."""
    import sys

    monkeypatch.delitem(sys.modules, "nuset_engine.segmenter", raising=False)
    monkeypatch.setitem(sys.modules, "nuset_engine", None)  # an import would fail
    new_module(runnuset).post_run(None)
    assert sys.modules.get("nuset_engine.segmenter") is None


def test_settings_round_trip_through_a_saved_pipeline(runnuset):
    module = new_module(runnuset, min_score=0.7, use_watershed=False, nucleus_diameter=30.0,
                        model_choice=runnuset.MODEL_CUSTOM, model_file="/models/mine.nuset.pt", tile_size=1024,
                        tiling=runnuset.TILING_FIXED, augment=True)
    pipeline = Pipeline()
    pipeline.add_module(module)
    text = io.StringIO()
    pipeline.dump(text)
    loaded = Pipeline()
    loaded.load(io.StringIO(text.getvalue()))
    again = loaded.modules()[-1]
    assert [s.value_text for s in again.settings()] == [s.value_text for s in module.settings()]


def test_pipeline_saved_at_revision_1_still_loads(runnuset):
    text = """CellProfiler Pipeline: http://www.cellprofiler.org
Version:5
DateRevision:500
GitHash:
ModuleCount:1
HasImagePlaneDetails:False

RunNuSeT:[module_num:1|svn_version:'Unknown'|variable_revision_number:1|show_window:False|notes:[]|batch_state:array([], dtype=uint8)|enabled:True|wants_pause:False]
    Select the input image:DNA
    Name the output object:Nuclei
    Model:Shipped default model
    Model file:
    Run on:CPU
    Minimum box score:0.9
    Proposal overlap threshold (NMS):0.2
    Split touching nuclei (RPN-aided watershed)?:Yes
    Use two-pass foreground normalization?:No
    Smallest object, as a fraction of the mean nucleus area:0.25
    Save the foreground probability as an image?:No
    Name the probability image:NuSeTProbability
"""
    pipeline = Pipeline()
    pipeline.load(io.StringIO(text.replace("normalization?:No", "normalization?:Yes")))
    assert pipeline.modules()[-1].two_pass.value == "Two passes"  # revision 3 made Yes/No a choice
    pipeline = Pipeline()
    pipeline.load(io.StringIO(text))
    module = pipeline.modules()[-1]
    assert module.min_score.value == 0.9 and module.two_pass.value == "One pass"
    assert module.min_size_fraction.value == 0.25
    assert module.nucleus_diameter.value == 0.0  # added in revision 2
    assert module.augment.value is False  # added in revision 4
    assert module.tiling.value == runnuset.TILING_AUTO  # revision 2's "0 = whole image" was the default
    assert module.backend.value == "Automatic"  # added in revision 6
    # values other than the old defaults were chosen: they stay the pipeline's, not the model's
    assert module.model_thresholds.value is False and module.engine_options()["min_score"] == 0.9


@pytest.mark.parametrize("saved, tiling, size", [("0", "Automatic", 2048), ("1024", "Tiles of a fixed size", 1024)])
def test_pipeline_saved_at_revision_4_keeps_a_tile_size_given(runnuset, saved, tiling, size):
    text = f"""CellProfiler Pipeline: http://www.cellprofiler.org
Version:5
DateRevision:500
GitHash:
ModuleCount:1
HasImagePlaneDetails:False

RunNuSeT:[module_num:1|svn_version:'Unknown'|variable_revision_number:4|show_window:False|notes:[]|batch_state:array([], dtype=uint8)|enabled:True|wants_pause:False]
    Select the input image:DNA
    Name the output object:Nuclei
    Model:Shipped default model
    Model file:
    Run on:CPU
    Minimum box score:0.85
    Proposal overlap threshold (NMS):0.3
    Split touching nuclei (RPN-aided watershed)?:Yes
    Foreground-normalization pass:As the model was trained
    Smallest object, as a fraction of the mean nucleus area:0.2
    Save the foreground probability as an image?:No
    Name the probability image:NuSeTProbability
    Typical nucleus diameter (pixels, 0 = automatic):0.0
    Tile size for large images (pixels, 0 = whole image):{saved}
    Average over flips and rotations (slower, more accurate)?:Yes
"""
    pipeline = Pipeline()
    pipeline.load(io.StringIO(text))
    module = pipeline.modules()[-1]
    assert module.tiling.value == tiling and module.tile_size.value == size
    assert module.augment.value is True
    assert module.model_thresholds.value is True  # the old defaults were kept: the model's own now


def test_large_images_are_tiled_by_default(runnuset, sample, segmenter, monkeypatch):
    """A 2560 x 2560 image (over the automatic limit of 2048 x 2048 pixels)
    goes through the engine's tiled path with the module's default settings;
    "Whole image" does not."""
    from nuset_engine import segmenter as segmenter_module

    calls = []
    original = segmenter_module.run_pipeline

    def counting(*args, **kwargs):
        calls.append(args[3])  # the tile size; None: the whole image as one tile
        return original(*args, **kwargs)

    monkeypatch.setattr(segmenter_module, "run_pipeline", counting)
    pixels = as_cellprofiler_pixels(np.tile(sample[0], (5, 5)))
    module = new_module(runnuset)
    workspace = make_workspace(module, pixels)
    module.run(workspace)
    assert calls == [2048]
    objects = workspace.object_set.get_objects("Nuclei")
    assert objects.count > 25 * 50
    calls.clear()
    module = new_module(runnuset, tiling=runnuset.TILING_WHOLE)
    module.run(make_workspace(module, pixels[:600, :600]))
    assert calls == [None]


def test_clear_errors(runnuset, sample, tmp_path):
    rgb = np.stack([as_cellprofiler_pixels(sample[0])] * 3, axis=-1)
    module = new_module(runnuset)
    workspace = make_workspace(module, rgb)
    assert workspace.image_set.get_image("DNA").multichannel
    with pytest.raises(ValueError, match="ColorToGray.*or choose a colour model"):
        module.run(workspace)
    colour_volume = np.zeros((4, 64, 64, 3), np.float32)
    with pytest.raises(ValueError, match="grayscale volumes.*ColorToGray"):
        module.run(make_volume_workspace(module, colour_volume))
    pipeline = Pipeline()
    pipeline.add_module(module)
    missing = new_module(runnuset, model_choice=runnuset.MODEL_CUSTOM, model_file=str(tmp_path / "gone.pt"))
    with pytest.raises(RuntimeError, match="gone.pt: model file not found"):
        missing.run(make_workspace(missing, as_cellprofiler_pixels(sample[0][:64, :64])))
    from cellprofiler_core.setting import ValidationError

    with pytest.raises(ValidationError, match="Model file not found"):
        missing.validate_module(pipeline)
    tiny_tiles = new_module(runnuset, tile_size=100, tiling=runnuset.TILING_FIXED)
    with pytest.raises(ValidationError, match="Tiles need at least 192 pixels"):
        tiny_tiles.validate_module(pipeline)
    new_module(runnuset, tile_size=100, tiling=runnuset.TILING_AUTO).validate_module(pipeline)  # size unused
    new_module(runnuset, tile_size=1024, tiling=runnuset.TILING_FIXED).validate_module(pipeline)


def test_module_is_listed_without_the_engine_and_says_what_to_install(sample, monkeypatch):
    """Import the plugin file as CellProfiler does while `nuset_engine` (and so
    torch) cannot be imported: the module class must load, and running it
    must name the package to install."""
    import importlib.util
    import sys

    from tests.cellprofiler.conftest import PLUGIN_DIR

    monkeypatch.setitem(sys.modules, "nuset_engine", None)  # makes `import nuset_engine` fail
    spec = importlib.util.spec_from_file_location("runnuset_without_engine", PLUGIN_DIR / "runnuset.py")
    module_file = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "runnuset_without_engine", module_file)
    spec.loader.exec_module(module_file)
    module = module_file.RunNuSeT()
    assert module.module_name == "RunNuSeT"
    module.set_module_num(1)
    module.x_name.value = "DNA"
    with pytest.raises(RuntimeError, match="pip install nuset"):
        module.run(make_workspace(module, as_cellprofiler_pixels(sample[0][:64, :64])))


@pytest.fixture(scope="module")
def histology_model_file(tmp_path_factory):
    """The shipped weights in a file that says it takes H&E (input kind 'hed')."""
    from nuset_engine import default_model_path
    from nuset_engine.colour import mark_model_input

    return mark_model_input(default_model_path(), "hed", tmp_path_factory.mktemp("models") / "hed.nuset.pt")


def test_colour_image_reaches_a_colour_model_unchanged(runnuset, histology_model_file):
    """A colour model gets CellProfiler's colour image (H x W x 3, 0-1) as is
    and converts it itself: the objects are the engine's on that image."""
    import tifffile

    from nuset_engine import Segmenter
    from tests.cellprofiler.conftest import HNE_ID, NONFLUO

    rgb = tifffile.imread(NONFLUO / "images" / f"{HNE_ID}.tif")[:128, :160].astype(np.float32) / 255
    module = new_module(runnuset, device="CPU", model_choice=runnuset.MODEL_CUSTOM,
                        model_file=str(histology_model_file))
    workspace = make_workspace(module, rgb)
    assert workspace.image_set.get_image("DNA").multichannel
    module.run(workspace)
    objects = workspace.object_set.get_objects("Nuclei")
    expected = Segmenter.shared(str(histology_model_file), "cpu").segment(rgb)
    assert objects.segmented.shape == rgb.shape[:2] and objects.count == expected.max() > 5
    assert np.array_equal(objects.segmented, expected)
    module.post_run(None)


def test_a_colour_model_refuses_gray_images_and_volumes(runnuset, sample, histology_model_file):
    """A gray image given to a colour model: the engine's message, named by
    the module and image, with what to set in CellProfiler."""
    from cellprofiler_core.setting import ValidationError

    module = new_module(runnuset, device="CPU", model_choice=runnuset.MODEL_CUSTOM,
                        model_file=str(histology_model_file))
    with pytest.raises(ValueError, match=r"RunNuSeT on 'DNA': image: a single-channel float32 image .* was given "
                                         r"to a histology model .*'Color image' in NamesAndTypes"):
        module.run(make_workspace(module, as_cellprofiler_pixels(sample[0][:64, :64])))
    with pytest.raises(ValueError, match="a histology model .* 'DNA' is a 3-D volume"):
        module.run(make_volume_workspace(module, np.zeros((3, 64, 64), np.float32)))
    module.post_run(None)
    # a 3-D pipeline cannot save the (2-D) probability image: said when the pipeline is checked
    pipeline = Pipeline()
    pipeline.set_volumetric(True)
    with pytest.raises(ValidationError, match="probability image is made for 2-D images only"):
        new_module(runnuset, save_probability=True).validate_module(pipeline)
    new_module(runnuset).validate_module(pipeline)


def test_volume_is_segmented_in_3d_with_its_spacing(runnuset, segmenter):
    """A volume (NamesAndTypes' *Process as 3D?*) gives 3-D objects: the
    engine's segment_stack on the same voxels, the image's spacing as the
    voxel size, and 3-D locations."""
    import tifffile

    from nuset_engine.stacks import ArrayStack
    from nuset_engine.volumes import segment_stack
    from tests.cellprofiler.conftest import STARDIST_3D

    volume = tifffile.imread(STARDIST_3D / "img3d.tif").astype(np.float32) / 65535
    module = new_module(runnuset, device="CPU")
    workspace = make_volume_workspace(module, volume, spacing=(2.0, 1.0, 1.0))
    module.run(workspace)
    objects = workspace.object_set.get_objects("Nuclei")
    assert objects.volumetric and objects.segmented.shape == volume.shape
    expected = segment_stack(segmenter, ArrayStack(volume, "ZYX", voxel_size=(2.0, 1.0, 1.0)))
    assert np.array_equal(objects.segmented, expected) and objects.count == expected.max() > 30
    # the spacing counts: isotropic voxels join the planes differently
    assert not np.array_equal(expected, segment_stack(segmenter, ArrayStack(volume, "ZYX")))
    zs = workspace.measurements.get_current_measurement("Nuclei", "Location_Center_Z")
    assert len(zs) == objects.count and zs.max() - zs.min() > 10
    assert workspace.measurements.get_current_image_measurement("Count_Nuclei") == objects.count
