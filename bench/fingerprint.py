"""``python -m bench.fingerprint OUT.json [--size small|full] [--check BEFORE.json]``: every value
fastseg computes on the standard benchmark cases, written exactly (``float.hex``), to prove that a
refactor changes no number.

For each case (organ, lesion, organs10, slice2d) and each convention preset it records:
``evaluate`` with every metric (HD at 95 and 100, NSD at two tolerances, boundary IoU, clDice on the
small cases), the single-metric functions (confusion counts, Dice ... MCC, HD, HD95, ASSD, MASD,
directed means, NSD, boundary IoU), the confusion matrix of label maps, soft Dice on a map derived
from the masks, and a hash of the EDT. Only the public API is used, so the same script runs on the
code before and after a change. ``--check`` compares with an earlier file and exits 1 when any of its
entries changed or is missing, listing the first ones (entries the earlier file lacks, e.g. of a new
preset, are counted as new).
"""
import argparse
import hashlib
import json
import sys

import numpy as np


def _hex(x):
    if isinstance(x, (list, tuple)):
        return [_hex(y) for y in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    return float(x).hex()


def _binary(case, pred, ref, sp, out, big):
    import fastseg

    c = fastseg.confusion(pred, ref)
    out["confusion"] = _hex([c.tp, c.fp, c.fn, c.tn])
    for name in ("dice", "jaccard", "precision", "recall", "specificity", "accuracy", "balanced_accuracy",
                 "mcc", "volume_similarity"):
        out[name] = _hex(getattr(fastseg, name)(pred, ref))
    out["fbeta2"] = _hex(fastseg.fbeta(pred, ref, beta=2.0))
    out["tversky"] = _hex(fastseg.tversky(pred, ref, alpha=0.3, beta=0.7))
    soft = np.where(pred, 0.75, 0.125)
    out["soft_dice"] = _hex(fastseg.soft_dice(soft, ref))
    out["soft_jaccard"] = _hex(fastseg.soft_jaccard(soft, ref))
    for conv in sorted(fastseg.conventions.PRESETS):
        sd = fastseg.surface_distances(pred, ref, spacing=sp, convention=conv)
        out[f"{conv}/hd"] = _hex(fastseg.hausdorff(sd))
        out[f"{conv}/hd95"] = _hex(fastseg.hd95(sd))
        out[f"{conv}/hd90"] = _hex(fastseg.hausdorff(sd, percentile=90))
        out[f"{conv}/assd"] = _hex(fastseg.assd(sd))
        out[f"{conv}/masd"] = _hex(fastseg.masd(sd))
        out[f"{conv}/directed_means"] = _hex(list(fastseg.directed_means(sd)))
        out[f"{conv}/nsd"] = _hex(fastseg.nsd(sd, tolerance=[1.0, 2.0]))
        out[f"{conv}/direct_hd95"] = _hex(fastseg.hd95(pred, ref, spacing=sp, convention=conv))
    out["boundary_iou"] = _hex(fastseg.boundary_iou(pred, ref, width=2.0, spacing=sp))
    e = fastseg.edt(ref, spacing=sp)
    out["edt_sha1"] = hashlib.sha1(np.ascontiguousarray(e).tobytes()).hexdigest()
    if not big:
        out["cldice"] = _hex(fastseg.cldice(pred, ref))


def _labels(case, pred, ref, sp, out, big):
    import fastseg

    cm = fastseg.confusion_matrix(pred, ref)
    h = hashlib.sha1()
    for a in (cm.labels, cm.matrix, cm.bbox_pred, cm.bbox_ref, cm.pred_counts, cm.ref_counts):
        h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    out["confusion_matrix_sha1"] = h.hexdigest()
    metrics = ["dice", "iou", "precision", "recall", "specificity", "accuracy", "balanced_accuracy", "mcc",
               "volume_similarity", "hd", "hd95", "hd100", "assd", "masd", "nsd", "boundary_iou"]
    if not big:
        metrics.append("cldice")
    labels = sorted(set(np.unique(ref).tolist()) - {0})
    regions = {"first_two": labels[:2]} if len(labels) >= 2 else None
    for conv in sorted(fastseg.conventions.PRESETS):
        try:
            res = fastseg.evaluate(pred, ref, spacing=sp, metrics=metrics, tolerance=[1.0, 2.0],
                                   boundary_width=2.0, convention=conv, regions=regions)
        except ValueError as exc:  # e.g. a preset that raises on empty masks
            out[f"{conv}/evaluate"] = f"error: {exc}"
            continue
        out[f"{conv}/evaluate"] = [[str(r["label"]), r["metric"], _hex(r["value"]), r["empty_state"]]
                                   for r in res.rows]


def fingerprint(size):
    from bench.cases import get_case

    out = {}
    for name in ("organ", "lesion", "slice2d", "organs10"):
        c = get_case(name, size)
        rec = out.setdefault(name, {})
        big = size == "full"
        if c.pred.dtype == bool:
            _binary(name, c.pred, c.ref, c.spacing, rec, big)
            # the same masks as one-label maps, through evaluate
            _labels(name, c.pred.astype(np.uint8), c.ref.astype(np.uint8), c.spacing, rec, big)
        else:
            _labels(name, c.pred, c.ref, c.spacing, rec, big)
            for lab in (1, 3, 10):
                _binary(name, c.pred == lab, c.ref == lab, c.spacing, rec.setdefault(f"label{lab}", {}), big)
        print(f"{name}: {sum(1 for _ in _walk(rec))} values", flush=True)
    return out


def _walk(d, prefix=""):
    for k, val in d.items():
        if isinstance(val, dict):
            yield from _walk(val, f"{prefix}{k}/")
        else:
            yield f"{prefix}{k}", val


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--size", default="small", choices=("small", "full"))
    ap.add_argument("--check", help="an earlier fingerprint to compare with")
    a = ap.parse_args(argv)
    fp = {"size": a.size, "values": fingerprint(a.size)}
    with open(a.out, "w") as f:
        json.dump(fp, f, indent=0, sort_keys=True)
    n = sum(1 for _ in _walk(fp["values"]))
    print(f"{n} entries written to {a.out}")
    if a.check:
        with open(a.check) as f:
            before = json.load(f)
        old, new = dict(_walk(before["values"])), dict(_walk(fp["values"]))
        # every earlier value must be there, bit for bit; entries that are new (a new convention
        # preset, a new metric) change no number and are counted apart
        diff = [k for k in sorted(old) if old[k] != new.get(k)]
        added = len(set(new) - set(old))
        if diff:
            print(f"{len(diff)} of {len(old)} entries differ from {a.check}:")
            for k in diff[:20]:
                print(f"  {k}: {str(old.get(k))[:100]} -> {str(new.get(k))[:100]}")
            return 1
        print(f"identical to {a.check}: {len(old)} entries, every value bit for bit"
              + (f" ({added} new entries)" if added else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
