"""A run's claim on its outputs: the paths are checked against the inputs and against each other, one
run at a time writes a results file (an exclusive lock), and the options that define its values are
recorded next to it and compared when a run resumes it."""
import json
import os

from .. import _validation as v
from .._output import write_json_atomic
from .._version import __version__
from .results import check_header, output_error

__all__ = ["check_output_path", "ResultsLock", "options_file", "run_options", "check_and_record_options"]


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output_path(path, inputs, *, what="--out"):
    """Refuse an output ``path`` that is a folder, or that is (or would overwrite) one of the run's
    ``inputs`` (even with overwrite: replacing a reference image with CSV text loses data), and create
    its folder. Returns the path as a string."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise v.InputValueError(f"{what} {path} is a folder; give a file name (e.g. {os.path.join(path, 'results.csv')}).")
    for src in inputs:
        if src is not None and _same_file(path, src):
            raise v.InputValueError(f"{what} {path} is one of the run's input files ({os.fspath(src)}); "
                                    f"choose another output path.")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise output_error(f"{what}: cannot create the folder of", path, exc) from exc
    return path


class ResultsLock:
    """An exclusive lock on a results file (``OUT.lock``, removed when released), so that two runs
    never append to the same file. A second run is refused at once with a message naming the file
    and the process that holds it. POSIX ``flock``; where it is not available (Windows), no lock."""

    def __init__(self, out):
        self.path = os.fspath(out) + ".lock"
        self.fd = None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise output_error("the lock file", self.path, exc) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
                os.close(fd)
                raise v.InputValueError(
                    f"another fastseg run is writing {os.fspath(out)} (lock {self.path}"
                    f"{', process ' + holder if holder else ''}); wait for it to finish, or choose another output."
                ) from None
            # the holder before us may have removed the file after we opened it: lock the current one
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd

    def release(self):
        if self.fd is None:
            return
        try:
            os.unlink(self.path)  # while holding the lock: a waiting run then re-opens a new file
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False


def options_file(out):
    return os.fspath(out) + ".options.json"


def run_options(opts, metric_names):
    """What decides a results file's values: compared when a run resumes it (JSON-normalised)."""
    e = opts["evaluate"]
    regions = e["regions"]
    record = {"metrics": list(metric_names), "convention": opts["convention_name"], "labels": e["labels"],
              "regions": None if regions is None else {str(k): [int(x) for x in vals] for k, vals in regions.items()},
              "ignore_label": e["ignore_label"], "boundary_width": e["boundary_width"],
              "geometry_tolerance": opts["geometry_tolerance"], "check_affine": opts["check_affine"]}
    axis = e.get("slice_axis")
    if axis is not None and int(axis) % 3 != 2:  # only another axis than the default (the last): records
        record["slice_axis"] = int(axis) % 3   # written before the option, and --slice-axis 2, compare equal
    return json.loads(json.dumps(record))


def _has_rows(out):
    """Whether a results file holds more than its header line (refusing a file that is not one)."""
    try:
        with open(out, "rb") as fh:
            first = fh.readline()
            more = bool(fh.read(1))
    except OSError:
        return False
    if first:
        check_header(first.decode("utf-8", "replace").rstrip("\r\n").split(","), os.fspath(out))
    return more


def check_and_record_options(out, record, resume):
    """Refuse to resume a results file written with other options (its rows would mix two runs'
    definitions), or whose options record is missing (they could not be compared), then record
    this run's options next to it (``OUT.options.json``)."""
    path = options_file(out)
    if resume and _has_rows(out):
        if not os.path.exists(path):
            raise v.InputValueError(
                f"cannot resume {os.fspath(out)}: the record of the options that wrote it ({path}) is missing, so "
                f"its rows could come from other metrics or tolerances; restore that file, or start again with "
                f"overwrite.")
        try:
            with open(path, encoding="utf-8") as fh:
                before = json.load(fh).get("options", {})
        except (OSError, ValueError, AttributeError) as exc:
            raise v.InputValueError(f"cannot read {path} (the options of the run to resume): {exc}.") from None
        optional = ("pair_by", "aliases", "structures", "slice_axis", "lesions_out")  # recorded only when given
        keys = list(record) + [k for k in optional if k in before and k not in record]
        diff = [f"{k}: {before.get(k)!r} then, {record.get(k)!r} now" for k in keys if before.get(k) != record.get(k)]
        if diff:
            raise v.InputValueError(
                f"{os.fspath(out)} was written with other options ({'; '.join(diff)}); resume it with the same "
                f"options, or write a new output (or overwrite this one).")
    try:
        write_json_atomic(path, {"fastseg": __version__, "options": record}, indent=1, make_folder=False)
    except OSError as exc:
        raise output_error("the options record", path, exc) from exc
