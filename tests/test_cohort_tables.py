"""A cohort's label names and tables (issue 15): names in the rows and the options record (resuming
with other names is refused), results files of fastseg 0.1 without the ``name`` column (read, and
rewritten when resumed), the wide table (``CohortResult.to_pandas(wide=True)``, ``wide_csv``)."""
import csv
import math

import pytest

from fastseg import cohort as C
from fastseg.cohort.results import LEGACY_COLUMNS, wide_csv

from tests.conftest import write_cohort

NAMES = {1: "liver", 2: "spleen", 3: "kidney_left", 4: "kidney_right", 5: "lesion"}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("tables")
    pred, ref = write_cohort(root, n=2)
    return root, pred, ref, None


def test_resume_with_other_names_is_refused(cohort, tmp_path):
    _, pred, ref, _ = cohort
    cases = C.pair_folders(pred, ref)
    out = tmp_path / "r.csv"
    C.evaluate_cohort(cases[:1], metrics=["dice"], names={1: "liver"}, out=out)
    with pytest.raises(ValueError, match=r"names: \{'1': 'liver'\} then, \{'1': 'hepar'\} now"):
        C.evaluate_cohort(cases, metrics=["dice"], names={1: "hepar"}, out=out, resume=True)
    res = C.evaluate_cohort(cases, metrics=["dice"], names={1: "liver"}, out=out, resume=True)
    assert {r["name"] for r in res.rows if r["label"] == 1} == {"liver"}



def test_results_file_of_0_1_is_read_and_resumed(cohort, tmp_path):
    """A results file written before the name column (0.1's header) is still read; resuming it
    rewrites it with the column (names empty) and appends the new cases in the new format."""
    _, pred, ref, _ = cohort
    cases = C.pair_folders(pred, ref)
    out = tmp_path / "old.csv"
    C.evaluate_cohort(cases[:1], metrics=["dice"], out=out)
    rows = C.read_results(out)
    with open(out, "w", newline="") as f:  # as 0.1 wrote it
        w = csv.writer(f, lineterminator="\n")
        w.writerow(LEGACY_COLUMNS)
        for r in rows:
            w.writerow([r["case_id"], r["label"], r["metric"], repr(r["value"]), r["empty_state"], r["convention"],
                        "x".join(repr(s) for s in r["spacing"]), "x".join(map(str, r["shape"])),
                        repr(r["diagonal_mm"]), r["case_rows"], r["error"]])
    old = C.read_results(out)
    assert [(r["case_id"], r["label"], r["value"], r["name"]) for r in old] == \
        [(r["case_id"], r["label"], r["value"], "") for r in rows]
    res = C.evaluate_cohort(cases, metrics=["dice"], out=out, resume=True)
    assert out.read_text().splitlines()[0] == ",".join(C.COLUMNS)
    assert [r["value"] for r in C.read_results(out)] == [r["value"] for r in res.rows]
    assert len(res.case_ids) == 2



def test_cohort_wide_dataframe_and_error_rows(cohort, tmp_path):
    pd = pytest.importorskip("pandas")
    _, pred, ref, _ = cohort
    cases = C.pair_folders(pred, ref) + [C.Case("ghost", str(tmp_path / "no.nii.gz"), str(tmp_path / "no2.nii.gz"))]
    res = C.evaluate_cohort(cases, metrics=["dice", "hd95"], names=NAMES, labels=[1, 2])
    df = res.to_pandas(wide=True)
    assert isinstance(df, pd.DataFrame) and len(df) == 2 * 2 + 1
    assert list(df.columns) == ["case_id", "label", "name", "empty_state", "convention", "spacing", "shape",
                                "dice", "hd95", "error"]
    ghost = df[df["case_id"] == "ghost"].iloc[0]
    assert ghost["error"] and math.isnan(ghost["dice"])
    assert df["spacing"].iloc[0] == "2.5x0.8x0.8"


def test_wide_csv_text(cohort, tmp_path):
    _, pred, ref, _ = cohort
    cases = C.pair_folders(pred, ref) + [C.Case("ghost", str(tmp_path / "no.nii.gz"), str(tmp_path / "no2.nii.gz"))]
    res = C.evaluate_cohort(cases, metrics=["dice", "hd95"], names=NAMES, labels=[1, 5])
    rows = list(csv.DictReader(wide_csv(res.rows).splitlines()))
    assert list(rows[0]) == ["case_id", "label", "name", "empty_state", "convention", "spacing", "shape", "dice",
                             "hd95", "error"]
    assert [(r["case_id"], r["label"], r["name"]) for r in rows] == [
        ("case_00", "1", "liver"), ("case_00", "5", "lesion"), ("case_01", "1", "liver"), ("case_01", "5", "lesion"),
        ("ghost", "", "")]
    assert rows[0]["spacing"] == "2.5x0.8x0.8" and rows[0]["shape"] == "24x32x32"
    assert float(rows[0]["dice"]) == res.value("case_00", 1, "dice")  # exact
    assert rows[-1]["dice"] == "" and "no such file" in rows[-1]["error"]
