"""What fastseg writes: JSON with inf/NaN as strings, atomic file writes, output-path checks, and
long-format DataFrames. One implementation each, shared by results, summaries and the CLI."""
import json
import math
import os
import sys

from . import _validation as v

__all__ = ["json_clean", "write_json_atomic", "write_text_atomic", "check_new_output", "to_pandas", "SafeStdout"]


def json_clean(x):
    """``x`` with non-finite floats as the strings "inf", "-inf", "nan" (valid JSON) and dict keys as
    strings, recursively through dicts, lists and tuples."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {str(k): json_clean(val) for k, val in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_clean(val) for val in x]
    return x


def write_json_atomic(path, data, *, indent=2, make_folder=True):
    """Write ``data`` (cleaned by :func:`json_clean`) to ``path`` through a temporary file renamed
    over it: a reader never sees a partial file, and a failed write leaves the old one."""
    write_text_atomic(path, json.dumps(json_clean(data), indent=indent) + "\n", make_folder=make_folder)


def write_text_atomic(path, text, *, make_folder=True, fsync=False):
    """Write ``text`` (UTF-8, line ends as given) to ``path`` through a temporary file renamed over it
    (see :func:`write_json_atomic`); ``fsync``: synced before the rename (survives a power cut)."""
    path = os.fspath(path)
    if make_folder:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def check_new_output(path, *, resume=False, overwrite=False, flags=False):
    """Refuse an existing, non-empty output file unless the run resumes it or overwrites it (the
    message names the options as command-line flags when ``flags``)."""
    if not (resume or overwrite) and os.path.exists(path) and os.path.getsize(path) > 0:
        dash = "--" if flags else ""
        raise v.InputValueError(f"the output {os.fspath(path)} exists; pass {dash}resume to continue it or "
                                f"{dash}overwrite to replace it.")


def to_pandas(rows, columns):
    """A long-format ``pandas.DataFrame`` of row dicts (pandas is optional)."""
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("to_pandas() needs pandas: pip install 'fastseg[pandas]'.") from exc
    return pd.DataFrame(rows, columns=columns)


class SafeStdout:
    """Printing to stdout that survives a reader closing it early (``fastseg ... | head -1``): the
    rest of the output is dropped, the run's files and exit status are unaffected."""

    def __init__(self):
        self.closed = False

    def say(self, text):
        if self.closed:
            return
        try:
            print(text, flush=True)
        except BrokenPipeError:
            self.closed = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail either
            os.close(devnull)
