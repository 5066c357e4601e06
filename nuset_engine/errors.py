"""Typed errors of the engine, whose fix depends on who called it.

The engine's own message speaks the Python API's terms (``overwrite=True``,
``tile_size=2048``). A wrapper that names these things differently (the
command line's ``--overwrite`` and ``--tile-size``, a Fiji dialog) catches the
error and phrases it in its own terms with :meth:`phrase`, from the data the
error carries (the path, the suggested tile size).

Light: imports only :mod:`.options`, so wrappers can import it cheaply.
"""
from __future__ import annotations

import os

from .options import AUTO_TILE_SIZE

__all__ = ["OutputExistsError", "ImageTooLargeError", "OutputClashError"]


class OutputExistsError(FileExistsError):
    """An output file exists and replacing it was not asked for.

    Parameters
    ----------
    path : str or os.PathLike
        The existing file.
    resumable : bool, default False
        A resumed run would skip it (a batch's ``resume=True``).
    unreadable : str, optional
        Why the existing file cannot be reused (a resumed run found it
        unreadable); ``None`` when it merely exists.

    Attributes
    ----------
    path : str
        The existing file.
    resumable, unreadable
        As given.
    """

    def __init__(self, path, resumable: bool = False, unreadable: str | None = None):
        self.path = os.fspath(path)
        self.resumable = bool(resumable)
        self.unreadable = unreadable
        super().__init__(self.phrase())

    def phrase(self, overwrite: str = "overwrite=True", resume: str | None = "resume=True") -> str:
        """The message, naming the switches as the caller's user knows them.

        Parameters
        ----------
        overwrite : str, default ``"overwrite=True"``
            How to ask for the file to be replaced (``"--overwrite"`` on the
            command line).
        resume : str or None, default ``"resume=True"``
            How to ask for a complete image to be skipped; ``None`` where
            there is no such switch (then it is not mentioned).

        Returns
        -------
        str
        """
        if self.unreadable is not None:
            return (f"{self.path}: cannot read these existing labels ({self.unreadable}); delete the file, or pass "
                    f"{overwrite} to segment the image again")
        skip = f" or {resume} to skip" if self.resumable and resume else ""
        return f"{self.path} exists; pass {overwrite} to replace{skip}"

    def __reduce__(self):  # pickled by its data (rows and errors travel between Dask processes)
        return type(self), (self.path, self.resumable, self.unreadable)


class ImageTooLargeError(MemoryError):
    """An image file too large to read into memory whole.

    Parameters
    ----------
    path : str or os.PathLike
        The image file.
    tile_size : int, default :data:`~nuset_engine.options.AUTO_TILE_SIZE`
        The suggested tile side (pixels): segmented in tiles, a TIFF is read
        region by region.

    Attributes
    ----------
    path : str
    tile_size : int
    """

    def __init__(self, path, tile_size: int = AUTO_TILE_SIZE):
        self.path = os.fspath(path)
        self.tile_size = int(tile_size)
        super().__init__(self.phrase())

    def phrase(self, tile_size: str = "open_plane() and tile_size={}") -> str:
        """The message, with the way to ask for tiles as the caller's user knows it.

        Parameters
        ----------
        tile_size : str, default ``"open_plane() and tile_size={}"``
            How to segment in tiles, ``{}`` standing for :attr:`tile_size`
            (``"--tile-size {}"`` on the command line).

        Returns
        -------
        str
        """
        return (f"{self.path}: the image is too large to load whole; segment it in tiles "
                f"({tile_size.format(self.tile_size)}), which reads a TIFF region by region")

    def __reduce__(self):
        return type(self), (self.path, self.tile_size)


class OutputClashError(ValueError):
    """Two input images of a batch would write the same output files.

    Parameters
    ----------
    first, second : str
        The two input images.
    prefix : str
        Their common output prefix (outputs are ``<prefix>_labels.tif``...).

    Attributes
    ----------
    first, second, prefix : str
        As given.
    """

    def __init__(self, first: str, second: str, prefix: str):
        self.first, self.second, self.prefix = str(first), str(second), str(prefix)
        super().__init__(self.phrase())

    def phrase(self, output: str = "output") -> str:
        """The message, naming the output folder's option as the caller's user knows it.

        Parameters
        ----------
        output : str, default ``"output"``
            The option that sets the output folder (``"--output"`` on the
            command line).

        Returns
        -------
        str
        """
        return (f"{self.first} and {self.second} would write the same outputs ({self.prefix}_*); "
                f"segment them into different {output} folders")

    def __reduce__(self):
        return type(self), (self.first, self.second, self.prefix)
