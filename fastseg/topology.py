"""Moved to :mod:`fastseg.metrics.topology` (0.2.0); this name keeps working for code that imported it."""
from .metrics.topology import *  # noqa: F401,F403
from .metrics.topology import __all__  # noqa: F401
