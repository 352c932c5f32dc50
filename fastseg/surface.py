"""Moved to :mod:`fastseg.metrics.surface` (0.2.0); this name keeps working for code that imported it."""
from .metrics.surface import *  # noqa: F401,F403
from .metrics.surface import __all__  # noqa: F401
