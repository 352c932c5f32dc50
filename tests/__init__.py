"""fastseg's tests: a package, so that ``tests.peers`` and ``tests.conftest`` are this directory's (see conftest.py)."""
