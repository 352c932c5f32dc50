"""The built-in demo cohort: synthetic anisotropic CT-like phantom pairs written as NIfTI."""
import os

__all__ = ["write_demo_cohort", "DEMO_SPACING", "DEMO_SHAPE"]

DEMO_SPACING = (2.5, 0.8, 0.8)
DEMO_SHAPE = (40, 128, 128)


def write_demo_cohort(folder, *, cases=6, seed=0, shape=DEMO_SHAPE, spacing=DEMO_SPACING):
    """Write ``cases`` synthetic anisotropic phantom pairs as ``folder/pred/case_XX.nii.gz`` and
    ``folder/ref/case_XX.nii.gz``, spacing in the header through the affine. Returns (pred, ref) dirs."""
    import nibabel as nib
    import numpy as np

    from .phantom import phantom_pair

    pred_dir, ref_dir = os.path.join(folder, "pred"), os.path.join(folder, "ref")
    os.makedirs(pred_dir, exist_ok=True)
    os.makedirs(ref_dir, exist_ok=True)
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = [-0.5 * n * s for n, s in zip(shape, spacing)]  # centred on the world origin
    for i in range(cases):
        pred, ref, _ = phantom_pair(shape=shape, spacing=spacing, seed=seed + i)
        for arr, d in ((pred, pred_dir), (ref, ref_dir)):
            img = nib.Nifti1Image(arr, affine)
            img.header.set_xyzt_units("mm")
            nib.save(img, os.path.join(d, f"case_{seed + i:02d}.nii.gz"))
    return pred_dir, ref_dir
