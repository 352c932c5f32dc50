"""Imported once by the forkserver that starts cohort worker processes (see ``fastseg.cohort.workers``):
fastseg's modules and numba's runtime are then loaded once, and every worker forked from the
server inherits them instead of loading them itself (about 1 s of CPU per worker here)."""
from ._kernels._jit import load_runtime
from .cohort.workers import worker_init  # noqa: F401 - imported for the workers

load_runtime()
