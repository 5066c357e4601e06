"""NuSeT for Fiji/ImageJ users.

- :func:`segment` takes what a pyimagej user holds (an ImageJ2 ``Dataset``, an
  ``ImagePlus``, a numpy or xarray array) and returns labels in that world.
- :func:`segment_imageplus` does the same for a plain ImageJ1 ``ImagePlus``
  through scyjava and ``ij.jar`` (no ImageJ2 needed).
- ``python -m fiji_bridge.command`` is what the Fiji command "NuSeT Segment"
  (Java source in ``fiji_bridge/java``) runs.

The Java side is only imported when a Java object is actually handled.
"""
from .imagej1 import imageplus_to_array, labels_to_imageplus, segment_imageplus
from .pyimagej import segment
from .rois import add_rois

__all__ = ["segment", "segment_imageplus", "add_rois", "imageplus_to_array", "labels_to_imageplus"]
