"""The errors of reading files (shared by the readers and :func:`fastseg.io.load`)."""
from .._validation import FastsegError, InputValueError

__all__ = ["ReadError", "GeometryError"]


class ReadError(FastsegError, ValueError):
    """A file could not be read as an image (missing, corrupt, unsupported); the message names it."""


class GeometryError(InputValueError):
    """Two volumes do not lie on the same voxel grid (shape, spacing or affine differ)."""
