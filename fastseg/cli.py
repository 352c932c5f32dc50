"""The ``fastseg`` command line."""
import argparse
import sys

import numpy as np

from . import __version__


def _cmd_demo(args):
    from . import overlap
    from .phantom import ORGANS, phantom_pair

    pred, ref, spacing = phantom_pair(seed=args.seed)
    print(f"fastseg {__version__} demo: synthetic CT-like phantom {pred.shape} voxels, "
          f"spacing {spacing} mm")
    cm = overlap.confusion_matrix(pred, ref)
    vox = float(np.prod(spacing))
    header = f"{'label':>5} {'name':<13} {'dice':>7} {'iou':>7} {'prec':>7} {'recall':>7} {'vs':>7} {'ref mL':>8} {'pred mL':>8}"
    print(header)
    for name, (label, _, _) in ORGANS.items():
        c = cm.binary(label, vox)
        print(f"{label:>5} {name:<13} {overlap.dice_from(c):7.4f} {overlap.jaccard_from(c):7.4f} "
              f"{overlap.precision_from(c):7.4f} {overlap.recall_from(c):7.4f} "
              f"{overlap.volume_similarity_from(c):7.4f} {c.ref_volume_ml:8.2f} {c.pred_volume_ml:8.2f}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastseg", description="Fast, trustworthy segmentation metrics.")
    parser.add_argument("--version", action="version", version=f"fastseg {__version__}")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="score a built-in synthetic anisotropic phantom pair")
    demo.add_argument("--seed", type=int, default=0, help="phantom seed (default 0)")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    return args.func(args)
