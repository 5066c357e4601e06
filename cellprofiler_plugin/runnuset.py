"""
RunNuSeT
========

**RunNuSeT** finds nuclei with NuSeT (Yang et al. 2020, PLoS Comput Biol):
a U-Net and a region proposal network sharing one encoder, two-pass
foreground normalization, and an RPN-aided watershed that splits touching
nuclei. It produces objects (default name "Nuclei") that later modules
measure, relate and track, as IdentifyPrimaryObjects does.

The model ships with NuSeT (no download). A model trained with
``nuset train`` can be used instead.

Input: a grayscale image for a fluorescence or brightfield model (the
shipped model is a fluorescence model). A model file that records a colour
input (H&E histology: ``hed`` or ``rgb-inverted``) takes the colour image
itself: load it as *Color image* in NamesAndTypes; NuSeT converts it.

3-D: in a pipeline that processes images as 3-D (NamesAndTypes, *Process as
3D?*), each plane of a volume is segmented with one nucleus size for the
whole volume and the planes' nuclei are joined into 3-D objects by a 3-D
watershed, using the Z spacing set in NamesAndTypes.

============ ============ ===============
Supports 2D? Supports 3D? Respects masks?
============ ============ ===============
YES          YES          NO
============ ============ ===============

Measurements made by this module
^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^

**Image measurements:** *Count*: the number of nuclei.

**Object measurements:** *Location_Center_X/Y/Z*, *Number_Object_Number*.

Requirements
^^^^^^^^^^^^
NuSeT and PyTorch in CellProfiler's Python environment
(``pip install nuset``). If they are missing the module is still listed
and says what to install when the pipeline runs.
"""
from __future__ import annotations

import numpy as np
from cellprofiler_core.image import Image
from cellprofiler_core.module.image_segmentation import ImageSegmentation
from cellprofiler_core.object import Objects
from cellprofiler_core.setting import Binary, ValidationError
from cellprofiler_core.setting.choice import Choice
from cellprofiler_core.setting.text import Float, ImageName, Integer, Pathname

MODEL_DEFAULT = "Shipped default model"
MODEL_CUSTOM = "Custom model file"
DEVICES = {"Auto": "auto", "CPU": "cpu", "GPU": "cuda"}
BACKENDS = {"Automatic": "auto", "Float32 (reference)": "f32", "BFloat16": "bf16", "OpenVINO": "openvino"}
PASSES = {"As the model was trained": None, "Two passes": True, "One pass": False}
TILING_AUTO, TILING_WHOLE, TILING_FIXED = "Automatic", "Whole image", "Tiles of a fixed size"
PROBABILITY_2D_ONLY = ("the foreground probability image is made for 2-D images only; set 'Save the foreground "
                       "probability as an image?' to No in a pipeline that processes images as 3-D")

# One loaded model per (file, device) for the whole run: loading is the slow
# part, so it must not happen per image. The engine keeps them
# (Segmenter.shared); post_run releases them (Segmenter.release_shared).


def _engine():
    """Import the engine lazily so CellProfiler lists the module even when
    torch or nuset are missing, and say exactly what to install."""
    try:
        import nuset_engine
    except ImportError as exc:
        raise RuntimeError(
            f"RunNuSeT cannot import its engine ({exc}). Install NuSeT into the Python environment that runs "
            "CellProfiler: `pip install nuset` (this also installs PyTorch; for a GPU, install a CUDA build of "
            "torch first)."
        ) from exc
    return nuset_engine


class RunNuSeT(ImageSegmentation):
    category = "Object Processing"
    module_name = "RunNuSeT"
    # Revision history (append settings at the end, never reorder):
    # 1: input, output, model choice, model file, device, min score, NMS threshold, watershed,
    #    two-pass, small-object fraction, save probability, probability image name
    # 2: + typical nucleus diameter, tile size
    # 3: two-pass Yes/No became a choice that defaults to what the model was trained for
    # 4: + test-time augmentation
    # 5: + tiling choice (automatic by default); the tile size counts only for fixed-size tiles
    # 6: + network precision (the engine's backend), + "use the model's own thresholds" (min score and
    #    smallest object; pipelines whose values were the old defaults use the model's)
    variable_revision_number = 6

    def create_settings(self):
        super().create_settings()
        self.y_name.value = "Nuclei"
        self.model_choice = Choice(
            "Model", [MODEL_DEFAULT, MODEL_CUSTOM], MODEL_DEFAULT,
            doc="The model shipped with NuSeT (trained on DSB 2018 fluorescence nuclei plus synthetic images), "
                "or a model file written by ``nuset train`` for your own images. A model file records the input "
                "it takes: gray images (fluorescence, brightfield) or colour H&E images (load those as *Color "
                "image* in NamesAndTypes; NuSeT converts them as the model says).")
        self.model_file = Pathname(
            "Model file", "", wildcard="NuSeT models (*.pt)|*.pt",
            doc="Full path of a ``.nuset.pt`` model file written by ``nuset train``.")
        self.device = Choice(
            "Run on", list(DEVICES), "Auto",
            doc="*Auto* uses a CUDA GPU when PyTorch sees one, else the CPU. *GPU* fails with a clear message "
                "when there is none.")
        self.backend = Choice(
            "Network precision", list(BACKENDS), "Automatic",
            doc="*Float32* is the reference. *BFloat16* runs the network in 16-bit brain floating point, about "
                "twice as fast on CPUs that compute it natively (AVX512-BF16 or AMX), slower elsewhere; its "
                "objects differ from float32's in a few edge pixels. *OpenVINO* runs the network with Intel's "
                "OpenVINO in float32 (install it with ``pip install \"nuset[openvino]\"``). *Automatic* uses "
                "bfloat16 only where it was measured equivalent to float32 (see NuSeT's docs/benchmarks.md).")
        self.model_thresholds = Binary(
            "Use the model's own thresholds?", True,
            doc="A model file carries its own minimum box score and smallest-object fraction, chosen on its "
                "validation images when it was trained (the shipped model: 0.85 and 0.2; see ``nuset info "
                "--model FILE``). Choose *No* to set them here.")
        self.min_score = Float(
            "Minimum box score", 0.85, minval=0.0, maxval=1.0,
            doc="Region proposals scoring at least this (0-1) seed the watershed. Lower it when touching "
                "nuclei stay merged; raise it when single nuclei are split.")
        self.nms_threshold = Float(
            "Proposal overlap threshold (NMS)", 0.3, minval=0.0, maxval=1.0,
            doc="Proposal boxes overlapping a better box by more than this IoU are discarded.")
        self.use_watershed = Binary(
            "Split touching nuclei (RPN-aided watershed)?", True,
            doc="If *No*, each connected foreground region becomes one object (plain U-Net).")
        self.two_pass = Choice(
            "Foreground-normalization pass", list(PASSES), "As the model was trained",
            doc="*Two passes*: a second pass normalizes intensities by the nuclei found in the first (the "
                "paper's method, for models trained on both normalizations). *One pass* is twice as fast. "
                "*As the model was trained* runs one pass for models trained with ``--normalization whole`` "
                "and two otherwise (the shipped model runs two; see its model card).")
        self.min_size_fraction = Float(
            "Smallest object, as a fraction of the mean nucleus area", 0.2, minval=0.0, maxval=1.0,
            doc="Objects (and holes) smaller than this fraction of the image's mean nucleus area are removed "
                "(filled). 0 keeps everything.")
        self.save_probability = Binary(
            "Save the foreground probability as an image?", False,
            doc="Adds an image (0-1 per pixel) for inspection or for other modules.")
        self.probability_name = ImageName(
            "Name the probability image", "NuSeTProbability", doc="Name of the probability image.")
        self.nucleus_diameter = Float(
            "Typical nucleus diameter (pixels, 0 = automatic)", 0.0, minval=0.0,
            doc="NuSeT estimates the nucleus size from a first pass and rescales images whose nuclei are much "
                "larger or smaller than in its training data. Give the diameter to override the estimate.")
        self.tile_size = Integer(
            "Tile size (pixels)", 2048, minval=0,
            doc="Images with a side longer than this are segmented in overlapping tiles of this size.")
        self.tiling = Choice(
            "Tiling of large images", [TILING_AUTO, TILING_WHOLE, TILING_FIXED], TILING_AUTO,
            doc="Large images are segmented in overlapping tiles whose nuclei are merged across the seams, so "
                "memory stays bounded (about 2 GB of NuSeT's own at 100 megapixels, against 0.24 GB per "
                "megapixel whole). *Automatic* tiles images of more than 2048 x 2048 pixels; *Whole image* "
                "never tiles; *Tiles of a fixed size* uses the size you give.")
        self.augment = Binary(
            "Average over flips and rotations (slower, more accurate)?", False,
            doc="Test-time augmentation: the final pass runs the network on the image's 8 flips and "
                "transposes and averages the results. 2.5-4x slower; on NuSeT's validation images it "
                "raised AP at IoU 0.5 from 0.775 to 0.790.")

    def settings(self):
        return super().settings() + [
            self.model_choice, self.model_file, self.device, self.min_score, self.nms_threshold,
            self.use_watershed, self.two_pass, self.min_size_fraction, self.save_probability,
            self.probability_name, self.nucleus_diameter, self.tile_size, self.augment, self.tiling, self.backend,
            self.model_thresholds,
        ]

    def visible_settings(self):
        result = super().visible_settings() + [self.model_choice]
        if self.model_choice.value == MODEL_CUSTOM:
            result.append(self.model_file)
        result += [self.device, self.backend, self.model_thresholds]
        if not self.model_thresholds.value:
            result += [self.min_score, self.min_size_fraction]
        result += [self.nms_threshold, self.use_watershed, self.two_pass, self.nucleus_diameter, self.tiling]
        if self.tiling.value == TILING_FIXED:
            result.append(self.tile_size)
        result += [self.augment, self.save_probability]
        if self.save_probability.value:
            result.append(self.probability_name)
        return result

    def volumetric(self):
        """Volumes are segmented in 3-D (see :meth:`run`)."""
        return True

    def validate_module(self, pipeline):
        if self.model_choice.value == MODEL_CUSTOM:
            import os

            if not os.path.isfile(self.model_file.value):
                raise ValidationError(f"Model file not found: {self.model_file.value!r}", self.model_file)
        if self.save_probability.value and pipeline.volumetric():
            raise ValidationError(PROBABILITY_2D_ONLY, self.save_probability)
        if self.tiling.value == TILING_FIXED:
            try:
                from nuset_engine.options import MIN_TILE_SIZE  # no torch needed
            except ImportError:  # running says what to install
                return
            if self.tile_size.value < MIN_TILE_SIZE:
                raise ValidationError(f"Tiles need at least {MIN_TILE_SIZE} pixels (1024-2048 work "
                                      "well); or choose whole images or automatic tiling", self.tile_size)

    def upgrade_settings(self, setting_values, variable_revision_number, module_name):
        if variable_revision_number == 1:
            setting_values = list(setting_values) + ["0.0", "0"]  # nucleus diameter: automatic; no tiling
            variable_revision_number = 2
        if variable_revision_number == 2:
            setting_values = list(setting_values)
            setting_values[8] = "Two passes" if setting_values[8] == "Yes" else "One pass"
            variable_revision_number = 3
        if variable_revision_number == 3:
            setting_values = list(setting_values) + ["No"]  # no test-time augmentation
            variable_revision_number = 4
        if variable_revision_number == 4:
            # 0 ("whole image") was the default; such pipelines get the new
            # default, automatic tiling, which bounds memory on large images
            # and segments smaller ones whole as before. A size given stays.
            setting_values = list(setting_values)
            tile_size = int(float(setting_values[13] or 0))
            setting_values[13] = str(tile_size or 2048)
            setting_values.append(TILING_FIXED if tile_size else TILING_AUTO)
            variable_revision_number = 5
        if variable_revision_number == 5:
            # network precision; the model's own thresholds where the old defaults were kept (the shipped
            # model's own are those values: its results do not change)
            old_defaults = float(setting_values[5]) == 0.85 and float(setting_values[9]) == 0.2
            setting_values = list(setting_values) + ["Automatic", "Yes" if old_defaults else "No"]
            variable_revision_number = 6
        return setting_values, variable_revision_number

    def engine_options(self) -> dict:
        """The engine's segmentation options (``nuset_engine.options``) these
        settings stand for; a test checks them against the engine's table.
        Temporary files of tiled runs go to CellProfiler's temporary
        directory (File > Preferences), the engine's ``scratch_dir``."""
        from cellprofiler_core.preferences import get_temporary_directory

        return dict(
            # None: the model's own (Segmenter.postprocessing)
            min_score=None if self.model_thresholds.value else self.min_score.value,
            nms_threshold=self.nms_threshold.value,
            watershed=self.use_watershed.value, two_pass=PASSES[self.two_pass.value],
            min_size_fraction=None if self.model_thresholds.value else self.min_size_fraction.value,
            nucleus_diameter=self.nucleus_diameter.value or None,  # 0: estimated from the image
            tile_size={TILING_AUTO: "auto", TILING_WHOLE: 0, TILING_FIXED: self.tile_size.value}[self.tiling.value],
            augment=self.augment.value,
            scratch_dir=get_temporary_directory(),
        )

    def _segmenter(self):
        """The run's model: loaded by the first image, reused by the others."""
        engine = _engine()
        path = self.model_file.value if self.model_choice.value == MODEL_CUSTOM else None
        try:
            return engine.Segmenter.shared(path, device=DEVICES[self.device.value],
                                           backend=BACKENDS[self.backend.value])
        except (engine.ModelFileError, ValueError) as exc:
            raise RuntimeError(f"RunNuSeT: {exc}") from exc

    def _model_input(self, segmenter):
        """The input the run's model expects (``nuset_engine.colour.ModelInput``),
        from its file's metadata."""
        from nuset_engine.colour import model_input

        try:
            return model_input(segmenter.metadata)
        except ValueError as exc:  # an input kind this NuSeT does not know
            raise RuntimeError(f"RunNuSeT: {exc}") from exc

    def _check_image(self, image, model):
        """Refuse, before segmenting, what the chosen model cannot take: colour
        for a gray model, colour volumes, and volumes for a colour model. (A
        gray 2-D image given to a colour model is refused by the engine.)"""
        name, shape = self.x_name.value, image.pixel_data.shape
        if image.volumetric:
            if image.multichannel:
                raise ValueError(f"RunNuSeT segments grayscale volumes; {name!r} has colour channels (shape "
                                 f"{shape}). Add ColorToGray (or pick one channel) before RunNuSeT.")
            if model.colour:
                raise ValueError(f"RunNuSeT: the chosen model is {model.description}, but {name!r} is a 3-D "
                                 "volume; volumes are segmented with gray (fluorescence or brightfield) models. "
                                 "Choose such a model, or process the images as 2-D.")
            if self.save_probability.value:
                raise ValueError(f"RunNuSeT on {name!r}: {PROBABILITY_2D_ONLY}")
        elif image.multichannel and not model.colour:
            raise ValueError(f"RunNuSeT needs a grayscale image: the chosen model is {model.description}, and "
                             f"{name!r} is a colour image (shape {shape}). Add ColorToGray (or pick one channel) "
                             "before RunNuSeT, or choose a colour model: a model file made for H&E images (input "
                             "'hed' or 'rgb-inverted'; see NuSeT's docs/cellprofiler.md).")

    def _segment_plane(self, segmenter, image):
        """Labels (int32, H x W) of a 2-D image, gray or colour, and the
        engine's details when the probability image is wanted (else None)."""
        # the labels go straight into the int32 array CellProfiler keeps (no copies of a large image's labels)
        segmented = np.zeros(image.pixel_data.shape[:2], np.int32)
        result = segmenter.segment(
            image.pixel_data, **self.engine_options(),  # colour is converted by the engine, as the model says
            return_details=self.save_probability.value,  # the probability image costs 4 bytes per pixel
            out=segmented,
        )
        return result if self.save_probability.value else (result, None)

    def _segment_volume(self, segmenter, image):
        """Labels (int32, Z x H x W) of a volume: NuSeT on each plane with one
        nucleus size, the planes' nuclei joined by a 3-D watershed that uses
        the image's spacing (z, y, x) as the voxel size."""
        from nuset_engine.stacks import ArrayStack
        from nuset_engine.volumes import segment_stack

        pixels = image.pixel_data
        spacing = tuple(float(s) for s in image.spacing) if image.spacing else None
        stack = ArrayStack(pixels, "ZYX", voxel_size=spacing, name=self.x_name.value)
        segmented = np.zeros(pixels.shape, np.int32)
        segment_stack(segmenter, stack, out=segmented, **self.engine_options())
        return segmented

    def run(self, workspace):
        image = workspace.image_set.get_image(self.x_name.value)
        segmenter = self._segmenter()
        self._check_image(image, self._model_input(segmenter))
        from nuset_engine.colour import InputMismatchError

        try:
            if image.volumetric:
                labels, details = self._segment_volume(segmenter, image), None
            else:
                labels, details = self._segment_plane(segmenter, image)
        except InputMismatchError as exc:  # e.g. a gray image given to a colour model
            raise ValueError(f"RunNuSeT on {self.x_name.value!r}: {exc}. In CellProfiler, load colour images "
                             "as 'Color image' in NamesAndTypes for a colour model, or choose a gray "
                             "(fluorescence) model for gray images.") from exc
        objects = Objects()
        objects.segmented = labels
        objects.parent_image = image
        workspace.object_set.add_objects(objects, self.y_name.value)
        self.add_measurements(workspace)
        if details is not None:
            workspace.image_set.add(self.probability_name.value,
                                    Image(details.foreground_probability, parent_image=image))
        if self.show_window:
            workspace.display_data.x_data = image.pixel_data
            workspace.display_data.y_data = labels
            workspace.display_data.dimensions = image.dimensions

    def post_run(self, workspace):
        """Free the models (and GPU memory) when the run ends."""
        import sys

        segmenter = sys.modules.get("nuset_engine.segmenter")
        if segmenter is None:  # never imported (or not importable): no model was loaded, and torch stays unloaded
            return
        segmenter.Segmenter.release_shared()
