"""Moved to :mod:`fastseg.metrics.overlap` (0.2.0); this name keeps working for code that imported it."""
from .metrics.overlap import *  # noqa: F401,F403
from .metrics.overlap import __all__  # noqa: F401
