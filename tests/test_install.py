"""Installation robustness (issue 12): numba's on-disk cache never breaks fastseg, importing fastseg
leaves the host's environment alone, and the wheel carries its licence and metadata.

Each cache failure is reproduced in a fresh interpreter (numba's state is per process): a cache with
no writable location, a full disk and damaged cache files. The tests run as root in CI, and root
ignores permission bits, so unwritable or full locations are simulated by patching numba's cache in
the child (as an unprivileged user or on a full disk would see it), and, where ``unshare`` can make a
private mount namespace, also reproduced for real with a read-only bind mount and a full tmpfs.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Run in the child: ``SETUP`` (a patch, or nothing), then fastseg on small inputs. Dice of two 20^3
# cubes shifted by 2 voxels: 2 * 18*20*20 / (2 * 20^3) = 0.9, on 40^3 voxels, enough for the packed
# counting kernel (``binary_counts``, parallel, calling ``_byte_sum``) rather than numpy.
_PROBE = r'''
import json, os, sys
env_start = dict(os.environ)
exec(sys.argv[1])
import numpy as np
import fastseg
from fastseg._kernels._jit import pool_started
out = {"env_import": dict(os.environ) == env_start}
p = np.zeros((40, 40, 40), bool); p[5:25, 5:25, 5:25] = True
r = np.zeros_like(p); r[7:27, 5:25, 5:25] = True
out["dice"] = fastseg.dice(p, r)
out["dice_threads"] = fastseg.dice(p, r, threads=1)
if "hd95" in sys.argv[2:]:
    a = np.zeros((8, 8), bool); a[2:5, 2:5] = True
    b = np.zeros_like(a); b[3:6, 2:5] = True
    out["hd95"] = fastseg.hd95(a, b, spacing=(2.0, 1.0))
out["env_call"] = dict(os.environ) == env_start
out["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
from numba.core.dispatcher import Dispatcher
kernels = {id(k): k for m in list(sys.modules.values()) if getattr(m, "__name__", "").startswith("fastseg.")
           for k in vars(m).values() if isinstance(k, Dispatcher)}.values()
out["kernels"] = len(kernels)
out["dispatcher_types"] = sorted({type(k).__name__ for k in kernels})
out["cache_types"] = sorted({type(k._cache).__name__ for k in kernels})
out["hits"] = sum(sum(k.stats.cache_hits.values()) for k in kernels)
out["misses"] = sum(sum(k.stats.cache_misses.values()) for k in kernels)
out["pool_started"] = pool_started()
print("RESULT " + json.dumps(out))
'''

_NO_LOCATOR = '''
import numba.core.caching as C
def _refuse(self):  # what a read-only folder does to a user who is not root
    raise PermissionError(13, "Permission denied", self.get_cache_path())
# the package's __pycache__ and the user-wide cache folder; NUMBA_CACHE_DIR, when set, is left to fail
# (or not) for real
C.InTreeCacheLocator.ensure_cache_path = _refuse
C.UserWideCacheLocator.ensure_cache_path = _refuse
'''

_DISK_FULL = '''
import builtins, errno, numba.core.caching as C
class _Full:
    def __init__(self, f):
        self._f = f
    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self._f.close()
def _open(path, mode="r", *args, **kwargs):
    f = builtins.open(path, mode, *args, **kwargs)
    return _Full(f) if "w" in mode else f
C.open = _open  # numba's cache writer opens its files through this module's ``open``
'''


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "OMP_WAIT_POLICY", "OMP_DISPLAY_ENV", "NUMBA_THREADING_LAYER")}
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def _run(setup="", *flags, env, prefix=(), cwd=None):
    proc = subprocess.run([*prefix, sys.executable, "-c", _PROBE, setup, *flags], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    return json.loads(line[len("RESULT "):]), proc.stderr


def _check(out, hd95=False):
    assert out["dice"] == pytest.approx(0.9, abs=1e-15)
    assert out["dice_threads"] == pytest.approx(0.9, abs=1e-15)
    if hd95:
        assert out["hd95"] == pytest.approx(2.0, abs=1e-12)
    assert out["env_import"] and out["env_call"]


def _warnings(stderr):
    return [x for x in stderr.splitlines() if "NUMBA_CACHE_DIR" in x]


def _one_warning(stderr):
    lines = _warnings(stderr)
    assert len(lines) == 1, stderr
    assert lines[0].startswith("fastseg: "), stderr
    return lines[0]


def _cache_files(folder):
    return sorted(p for p in Path(folder).rglob("*") if p.suffix in (".nbi", ".nbc"))


# --- numba's cache ------------------------------------------------------------------------------


def test_no_cache_location(tmp_path):
    """No writable place for the cache (read-only package folder and home, no NUMBA_CACHE_DIR): numba
    refuses to decorate (``no locator available``) and import failed; now kernels compile in memory."""
    out, err = _run(_NO_LOCATOR, "hd95", env=_env(HOME=str(tmp_path)), cwd=tmp_path)
    _check(out, hd95=True)
    assert "cannot use its cache" in _one_warning(err)
    assert out["cache_types"] == ["_NoCache"]
    assert out["hits"] == 0 and out["misses"] > 1  # binary_counts, the kernel it calls, hd95's
    assert not _cache_files(tmp_path)


def test_cache_dir_under_a_file(tmp_path):
    """NUMBA_CACHE_DIR that cannot be created (a path under a regular file; root cannot either): numba
    passes on to the package's ``__pycache__`` and the user folder; with those refused too, the same
    fallback to memory."""
    (tmp_path / "file").write_text("")
    out, err = _run(_NO_LOCATOR, env=_env(HOME=str(tmp_path), NUMBA_CACHE_DIR=str(tmp_path / "file" / "cache")))
    _check(out)
    _one_warning(err)


def test_disk_full(tmp_path):
    """Every write of numba's cache fails with ENOSPC: the kernels still run, one warning."""
    cache = tmp_path / "cache"
    out, err = _run(_DISK_FULL, env=_env(NUMBA_CACHE_DIR=str(cache)))
    _check(out)
    line = _one_warning(err)
    assert "No space left on device" in line
    assert out["misses"] == 2  # binary_counts and the kernel it calls
    assert not _cache_files(cache)  # nothing half-written left behind


def test_damaged_cache_files(tmp_path):
    """Truncated .nbi/.nbc files: one warning, the entries are compiled again and rewritten, and the
    next process loads them without a word."""
    env = _env(NUMBA_CACHE_DIR=str(tmp_path))
    out, err = _run(env=env)
    _check(out)
    assert not _warnings(err), err
    files = _cache_files(tmp_path)
    assert any(p.suffix == ".nbi" for p in files) and any(p.suffix == ".nbc" for p in files)
    for p in files:
        p.write_bytes(p.read_bytes()[:3])
    out, err = _run(env=env)
    _check(out)
    assert "damaged" in _one_warning(err)
    assert out["misses"] == 2
    out, err = _run(env=env)  # healed
    _check(out)
    assert not _warnings(err), err
    assert (out["hits"], out["misses"]) == (1, 0)  # binary_counts, with the kernel it calls inside


def test_damaged_index_or_data(tmp_path):
    """An empty index with good data files, then good indexes with empty data files: healed alike."""
    env = _env(NUMBA_CACHE_DIR=str(tmp_path))
    _run(env=env)
    for suffix in (".nbi", ".nbc"):
        for p in _cache_files(tmp_path):
            if p.suffix == suffix:
                p.write_bytes(b"")
        out, err = _run(env=env)
        _check(out)
        _one_warning(err)
        out, err = _run(env=env)
        assert not _warnings(err) and (out["hits"], out["misses"]) == (1, 0), err
        assert out["cache_types"] == ["_Cache"]


def test_working_cache_is_silent(tmp_path):
    """A working cache: no word, compiled once and loaded after. The kernels stay numba's own
    dispatchers (callable from other kernels; nothing wrapped around a call), with fastseg's cache
    object."""
    env = _env(NUMBA_CACHE_DIR=str(tmp_path))
    for hits, misses in ((0, 2), (1, 0)):
        out, err = _run(env=env)
        _check(out)
        assert not _warnings(err) and (out["hits"], out["misses"]) == (hits, misses), err
        assert out["kernels"] > 10
        assert out["dispatcher_types"] == ["CPUDispatcher"] and out["cache_types"] == ["_Cache"]


@pytest.fixture(scope="module")
def mount_namespace(tmp_path_factory):
    """``unshare -m`` (a private mount namespace) where it can bind-mount read-only and mount a tmpfs;
    else the test is skipped."""
    if sys.platform != "linux" or not shutil.which("unshare"):
        pytest.skip("needs unshare (Linux)")
    d = tmp_path_factory.mktemp("mnt")
    script = 'mount -t tmpfs -o size=64k tmpfs "$1" && mount --bind "$1" "$1" && mount -o remount,ro,bind "$1"'
    try:
        ok = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(d)], capture_output=True,
                            timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    if not ok:
        pytest.skip("cannot mount in a private mount namespace here (needs CAP_SYS_ADMIN)")


def test_real_read_only_install(tmp_path, mount_namespace):
    """The real thing: fastseg's package folder and HOME mounted read-only (as site-packages in a
    container), NUMBA_CACHE_DIR unset. Read-only mounts stop root too."""
    pkg = subprocess.run([sys.executable, "-c", "import importlib.util as u; "
                          "print(u.find_spec('fastseg').submodule_search_locations[0])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    home = tmp_path / "home"
    home.mkdir()
    script = "for d in \"$PKG\" \"$HOME\"; do mount --bind \"$d\" \"$d\" && mount -o remount,ro,bind \"$d\" || exit 97; done; exec \"$@\""
    env = _env(HOME=str(home), PKG=str(pkg))
    env.pop("XDG_CACHE_HOME", None)
    out, err = _run("", env=env, prefix=("unshare", "-m", "sh", "-c", script, "sh"), cwd=tmp_path)
    _check(out)
    assert "cannot use its cache" in _one_warning(err)
    assert out["cache_types"] == ["_NoCache"] and out["misses"] == 2


def test_real_full_disk(tmp_path, mount_namespace):
    """The real thing: NUMBA_CACHE_DIR on a full tmpfs."""
    cache = tmp_path / "cache"
    cache.mkdir()
    script = ("mount -t tmpfs -o size=64k tmpfs \"$NUMBA_CACHE_DIR\" || exit 97; "
              "dd if=/dev/zero of=\"$NUMBA_CACHE_DIR/fill\" bs=4k 2>/dev/null; exec \"$@\"")
    out, err = _run("", env=_env(NUMBA_CACHE_DIR=str(cache)), prefix=("unshare", "-m", "sh", "-c", script, "sh"))
    _check(out)
    assert "No space left on device" in _one_warning(err)


# --- the host's environment -------------------------------------------------------------------------


def _omp_layer_env(**extra):
    return _env(NUMBA_THREADING_LAYER="omp", OMP_DISPLAY_ENV="verbose", **extra)


def _gomp_spincount(stderr):
    """libgomp's spin count as it read its environment (printed by OMP_DISPLAY_ENV=verbose): 0 for
    OMP_WAIT_POLICY=PASSIVE, 300000 unset, 30000000000 ACTIVE."""
    for line in stderr.splitlines():
        if line.strip().startswith("GOMP_SPINCOUNT"):
            return int(line.split("=")[1].strip().strip("'"))
    pytest.skip("numba's OpenMP threading layer (libgomp) is not available here")


def test_environment_untouched_passive_for_libgomp(tmp_path):
    """``import fastseg`` and calls leave os.environ as they found it, yet libgomp, loaded by the first
    parallel kernel, saw OMP_WAIT_POLICY=PASSIVE (idle threads sleep)."""
    out, err = _run("", env=_omp_layer_env(NUMBA_CACHE_DIR=str(tmp_path)))
    _check(out)
    assert out["omp_wait_policy"] is None
    assert out["pool_started"]
    assert _gomp_spincount(err) == 0


def test_user_wait_policy_respected(tmp_path):
    out, err = _run("", env=_omp_layer_env(NUMBA_CACHE_DIR=str(tmp_path), OMP_WAIT_POLICY="ACTIVE"))
    _check(out)
    assert out["omp_wait_policy"] == "ACTIVE"
    assert _gomp_spincount(err) == 30000000000


def test_import_starts_no_pool(tmp_path):
    """Neither the import nor numba's runtime start numba's thread pool (cohort workers are forked only
    while it is not running)."""
    code = textwrap.dedent("""
        import os
        env = dict(os.environ)
        import fastseg
        from fastseg._kernels._jit import load_runtime, pool_started
        load_runtime()
        assert not pool_started()
        assert dict(os.environ) == env
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=_env(NUMBA_CACHE_DIR=str(tmp_path)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


# --- packaging ----------------------------------------------------------------------------------------


def test_pyproject_metadata():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "BSD-3-Clause" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("BSD 3-Clause License") and "2026, the fastseg developers" in text
    assert {"Development Status :: 4 - Beta", "Topic :: Scientific/Engineering :: Medical Science Apps.",
            "Programming Language :: Python :: 3.10"} <= set(project["classifiers"])
    assert {"Homepage", "Documentation", "Issues", "Changelog"} <= set(project["urls"])


def test_wheel_has_license_and_metadata(tmp_path):
    """Build the wheel (pip, isolated: it fetches setuptools unless pip has it cached) from a copy of
    the sources (a build writes build/ and *.egg-info next to them)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "LICENSE", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "fastseg", src / "fastseg", ignore=shutil.ignore_patterns("__pycache__", "*.nb?"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                           str(src)], capture_output=True, text=True, timeout=600)
    if proc.returncode and any(x in proc.stderr for x in (
            "No matching distribution", "Could not find a version", "NewConnectionError", "Network is unreachable",
            "Temporary failure in name resolution", "ProxyError")):
        pytest.skip("cannot fetch the build backend (offline)")
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (tmp_path / "dist").glob("fastseg-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        text = z.read(metadata).decode()
        (license_file,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert z.read(license_file) == (ROOT / "LICENSE").read_bytes()
    assert "License-Expression: BSD-3-Clause" in text and "License-File: LICENSE" in text
    assert "Author: fastseg developers" in text
    assert "Classifier: Intended Audience :: Healthcare Industry" in text
    assert "Classifier: Topic :: Scientific/Engineering :: Image Recognition" in text
    assert "Project-URL: Issues, https://github.com/fastseg/fastseg/issues" in text
