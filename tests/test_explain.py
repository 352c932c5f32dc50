"""``fastseg explain PRED REF``: the cross-convention table of one pair from the command line."""
import json

from fastseg.cli import main
from fastseg.conventions import PRESETS, table
from fastseg.io import load
from tests.conftest import write_cohort


def test_explain_prints_every_preset_and_writes_json(tmp_path, capsys):
    pred, ref = write_cohort(tmp_path, n=1)
    p, r = pred / "case_00.nii.gz", ref / "case_00.nii.gz"
    out = tmp_path / "t.json"
    assert main(["explain", str(p), str(r), "--label", "3", "--tolerance", "2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for name in PRESETS:
        assert name in text
    assert "spread" in text and "surface model" in text
    want = table(load(p).array == 3, load(r).array == 3, spacing=load(r).spacing, tolerance=[2.0])
    assert json.loads(out.read_text()) == json.loads(json.dumps(want.records()))


def test_explain_errors(tmp_path, capsys):
    pred, ref = write_cohort(tmp_path, n=1)
    p, r = pred / "case_00.nii.gz", ref / "case_00.nii.gz"
    assert main(["explain", str(p), str(r), "--label", "99"]) == 2
    assert "label 99 is in neither" in capsys.readouterr().err
    assert main(["explain", str(p), str(tmp_path / "missing.nii.gz")]) == 2
    assert "no such file" in capsys.readouterr().err
