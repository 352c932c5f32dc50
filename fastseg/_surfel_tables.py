"""Surface-element weights on the voxel-corner lattice, derived from the geometry (numpy only).

A corner of the voxel lattice sees the 2x2x2 block of voxels around it (2x2 in 2D). Its
*neighbour code* is the bit pattern of that block (a, b, c in {0, 1})::

    3D: bit (4*a + 2*b + c) is set when voxel (k-1+a, j-1+b, i-1+c) is foreground
    2D: bit (2*b + c)       is set when pixel  (j-1+b, i-1+c)       is foreground

so in 3D the low nibble is the slice before the corner and the high nibble the slice after it, and
in each nibble bit ``2*b + c`` is the in-plane position. (DeepMind's ``surface-distance`` uses the
reversed bit order, ``their_code == reverse_bits(our_code)``; the weights agree pattern for
pattern.)

The surface inside the cell spanned by the 8 voxel centres (4 pixel centres in 2D) is the
marching-cubes surface (marching squares in 2D) through the MIDPOINTS of the cell edges whose two
ends differ. It is built in three steps, each a rule stated on the geometry:

1. On every cell face, join the midpoints of the cut face edges. A face whose two foreground
   corners are diagonal (the ambiguous face) gets two segments, each cutting off one corner of the
   *minority* class of the whole cell (foreground if the cell holds at most 4 foreground corners,
   background otherwise). The surface of a pattern and of its complement are therefore the same.
2. Chain the face segments into closed loops (every cut edge lies on exactly two faces).
3. Triangulate each loop by the triangulation of maximum total area in index space. Triangles,
   quadrilaterals and planar loops have the same weights whatever the triangulation; the only
   non-planar loops are the pentagon of three corners on one face (where the rule makes the
   minority side convex) and the hexagon of four corners forming a twisted path (the "zig-zag"
   case); for both the maximum is unique.

A triangle's area vector ``n = (n0, n1, n2)`` (half the cross product of two edges, in index space)
becomes ``(s1*s2*n0, s0*s2*n1, s0*s1*n2)`` under the spacing ``(s0, s1, s2)``; the weight of a code
is the sum over its triangles of the norm of the scaled vector. In 2D a segment ``(d0, d1)`` has
length ``hypot(s0*d0, s1*d1)``. These rules reproduce, code for code and for any spacing,
``surface_distance.lookup_tables.create_table_neighbour_code_to_surface_area`` and
``create_table_neighbour_code_to_contour_length`` (tests/test_surfels.py checks this) to the last
bit or one: surface-distance scales each component by one spacing then the other and sums its
triangles in its own order (at spacing (0.7, 1.3, 1.0), 129 of the 256 areas differ by 1 ulp). Only a
percentile whose rank falls exactly on a tie of the cumulative weights can show it: surface-distance
may then take the next distance, and gives different answers for the same shape in different axis
orders; fastseg gives the exact nearest rank (tests/test_parity_odd_inputs.py).
"""
import functools

import numpy as np

__all__ = ["areas", "surface_areas", "contour_lengths", "triangle_vectors", "segment_vectors",
           "FULL_3D", "FULL_2D"]

FULL_3D = 255  # all 8 voxels foreground: interior corner, not a surface point
FULL_2D = 15


def _loops(ndim, code):
    """Closed loops (3D) or open segments (2D) of cut-edge midpoints for one neighbour code.

    Points are in index space, corner offsets in {0, 1}^ndim, midpoints in {0, 0.5, 1}^ndim.
    """
    corners = [tuple((n >> (ndim - 1 - d)) & 1 for d in range(ndim)) for n in range(2 ** ndim)]
    # bit of a corner offset (a, b, c) is 4a + 2b + c: corners[n] has bit n
    fg = {p: (code >> n) & 1 for n, p in enumerate(corners)}
    minority = 1 if 2 * sum(fg.values()) <= 2 ** ndim else 0
    faces = []
    if ndim == 2:
        faces.append([(0, 0), (0, 1), (1, 1), (1, 0)])
    else:
        for ax in range(3):
            u, w = [d for d in range(3) if d != ax]
            for v in (0, 1):
                face = []
                for pu, pw in ((0, 0), (0, 1), (1, 1), (1, 0)):  # cyclic order round the face
                    p = [0, 0, 0]
                    p[ax], p[u], p[w] = v, pu, pw
                    face.append(tuple(p))
                faces.append(face)

    def mid(p, q):
        return tuple((x + y) / 2 for x, y in zip(p, q))

    segments = []
    for face in faces:
        s = [fg[p] for p in face]
        cut = [i for i in range(4) if s[i] != s[(i + 1) % 4]]  # face edge i joins corners i, i+1
        if len(cut) == 2:
            i, j = cut
            segments.append((mid(face[i], face[(i + 1) % 4]), mid(face[j], face[(j + 1) % 4])))
        elif len(cut) == 4:  # ambiguous face: cut off each corner of the minority class
            for i in range(4):
                if s[i] == minority:
                    segments.append((mid(face[i - 1], face[i]), mid(face[i], face[(i + 1) % 4])))
    if ndim == 2:
        return segments
    loops = []
    while segments:
        a, b = segments.pop()
        loop = [a, b]
        while True:
            for n, (p, q) in enumerate(segments):
                if p == loop[-1] or q == loop[-1]:
                    loop.append(q if p == loop[-1] else p)
                    segments.pop(n)
                    break
            else:
                break
        loops.append(loop[:-1])  # the chain closes on its first point
    return loops


@functools.lru_cache(maxsize=None)
def _triangulations(n):
    """All triangulations of a convex n-gon, as an int array (count, n - 2, 3) of vertex indices."""
    def rec(poly):
        if len(poly) == 3:
            return [[poly]]
        out = []
        for k in range(1, len(poly) - 1):  # the triangle on edge (first, last) has apex poly[k]
            left = rec(poly[:k + 1]) if k >= 2 else [[]]
            right = rec(poly[k:]) if len(poly) - k >= 3 else [[]]
            out += [tl + tr + [(poly[0], poly[k], poly[-1])] for tl in left for tr in right]
        return out

    return np.array(rec(tuple(range(n))), dtype=np.intp)


def _loop_triangle_vectors(loop):
    """Area vectors (index space) of the maximum-area triangulation of one loop: (n - 2, 3)."""
    # p: (triangulations, triangles, 3 vertices, 3 coordinates)
    p = np.asarray(loop, dtype=np.float64)[_triangulations(len(loop))]
    u = p[..., 1, :] - p[..., 0, :]
    w = p[..., 2, :] - p[..., 0, :]
    vec = 0.5 * np.stack([u[..., 1] * w[..., 2] - u[..., 2] * w[..., 1],
                          u[..., 2] * w[..., 0] - u[..., 0] * w[..., 2],
                          u[..., 0] * w[..., 1] - u[..., 1] * w[..., 0]], axis=-1)
    total = np.sqrt((vec * vec).sum(axis=-1)).sum(axis=-1)
    # ties are planar loops, whose triangulations all have the same weights at every spacing
    return vec[np.argmax(total > total.max() - 1e-12)]


@functools.lru_cache(maxsize=None)
def triangle_vectors():
    """Index-space area vectors of the surface triangles of every 3D neighbour code.

    Returns
    -------
    vectors : ndarray, shape (256, T, 3), float64, read-only
        ``vectors[code]`` lists the code's triangles, zero-padded to ``T`` rows (zero rows have zero
        area). Components are in array-axis order.
    """
    per_code = [np.zeros((0, 3))]
    for code in range(1, 255):
        per_code.append(np.concatenate([_loop_triangle_vectors(lp) for lp in _loops(3, code)]))
    per_code.append(np.zeros((0, 3)))
    out = np.zeros((256, max(len(v) for v in per_code), 3))
    for code, v in enumerate(per_code):
        out[code, :len(v)] = v
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=None)
def segment_vectors():
    """Index-space vectors of the contour segments of every 2D neighbour code.

    Returns
    -------
    vectors : ndarray, shape (16, 2, 2), float64, read-only
        ``vectors[code]`` lists the code's segments (end minus start), zero-padded to 2 rows.
    """
    out = np.zeros((16, 2, 2))
    for code in range(1, 15):
        for n, (p, q) in enumerate(_loops(2, code)):
            out[code, n] = np.subtract(q, p)
    out.flags.writeable = False
    return out


def surface_areas(spacing):
    """Physical surface area of the surfel of each 3D neighbour code.

    Parameters
    ----------
    spacing : sequence of 3 floats
        Voxel size in array-axis order.

    Returns
    -------
    areas : ndarray, shape (256,), float64
        ``areas[code]``; zero for codes 0 and 255.
    """
    s0, s1, s2 = (float(s) for s in spacing)
    v = triangle_vectors() * np.array([s1 * s2, s0 * s2, s0 * s1])
    return np.sqrt((v * v).sum(axis=2)).sum(axis=1)


def contour_lengths(spacing):
    """Physical contour length of each 2D neighbour code (see `surface_areas`); shape (16,)."""
    s0, s1 = (float(s) for s in spacing)
    v = segment_vectors() * np.array([s0, s1])
    return np.sqrt((v * v).sum(axis=2)).sum(axis=1)


def areas(spacing):
    """Weight table for `fastseg._kernels.surface`: 256 surface areas for a 3-element `spacing`,
    16 contour lengths for a 2-element one."""
    return surface_areas(spacing) if len(spacing) == 3 else contour_lengths(spacing)
