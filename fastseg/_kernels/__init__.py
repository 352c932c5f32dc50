"""Numba kernels. The only package in fastseg that imports numba.

Kernels take C-contiguous arrays and plain scalars, never validate, never raise,
never read module globals, and allocate their outputs at the top.
"""
