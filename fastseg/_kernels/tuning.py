"""Tuning constants of fastseg, in one place. Plain Python numbers, no numba here.

Kernels never read these as globals (compiled and cached code would freeze them): the Python
layer passes them as arguments. None of them changes a result, only how the work is split or which
exact method runs; every choice below is exact and independent of the thread count.
"""

#: fixed number of chunks of the parallel reductions and per-line kernels (counts, surfaces, the
#: ordered search): results are bit-identical whatever the thread count
NCHUNKS = 64

#: below this many voxels a kernel runs on one thread: starting a parallel region costs more than the
#: work (milliseconds on a busy machine with the OpenMP layer)
SMALL_WORK = 1 << 18

#: below this many voxels the binary counts are taken by numpy (faster than a kernel launch)
SMALL_COUNT = 1 << 15

#: words (8 voxels each) whose byte sums the binary counting kernel accumulates in one uint64 before
#: widening them: at most 255, so that no byte lane of a 0/1 mask overflows; a multiple of 16 (the
#: words LLVM's vectorised loop takes per step) leaves no scalar remainder per block
COUNT_BLOCK = 240

#: uint64 words per branch-free test of the label-map pass (the runs of equal (pred, ref) pairs are
#: skipped this many words at a time; 32 words = 256 uint8 voxels measured best, 16 and 64 close)
RUN_BLOCK = 32

#: below this many voxels the Euclidean distance transform runs on the calling thread
SMALL_TRANSFORM = 1 << 15

#: a structure whose bounding box has fewer voxels than this is not worth a thread of its own
SMALL_STRUCTURE = 1 << 15

#: bytes of the per-chunk dense confusion buffers of the label-map pass
DENSE_BUDGET = 64 * 2**20

#: the largest dense confusion matrix (bytes) of a label-map pass (about 8000 labels)
DENSE_LIMIT = 2**29

#: label codes of a uint16 map: the size of the lookup tables of the label-map pass
LABEL_CODES = 1 << 16

#: ordered-search list lengths of the exact surface distances (see ``fastseg._engine.search``):
#: the first resolves nearly every query of two segmentations of one structure; the rest (far from
#: every source point) take the cheapest exact way by an upper bound of its cost, in (query, source)
#: pair steps (1.6 ns on one core here): the cell search or every pair (``FAR_PAIRS``), the longer list
#: (a list step costs about two pair steps) or the full transform (about 40 ns per grid point:
#: ``TRANSFORM_COST`` pair steps)
SEARCH_TIERS = (4096, 1 << 16)
TRANSFORM_COST = 16

#: the narrow first search of the exact surface distances (``fastseg._engine.search``): the offsets
#: within this many steps of the finer in-plane spacing (two segmentations of one structure: nearly
#: every distance), its line distances filled only where those offsets read them, on grids of at
#: least ``NARROW_MIN`` points when that is at most ``NARROW_SHARE`` of the grid (82 organs of
#: ``bench.cases.organs90``: 0.36 of it)
NARROW_REACH = 2
NARROW_SHARE = 0.5
NARROW_MIN = 1 << 16
#: ... and when at least this share of the queries left by the own-row walk are certain to be
#: resolved by it (their own row's point within its reach): the organ case's 10 % are not worth it
#: (its search 6 % slower with it), a map shifted one voxel across the rows resolves nearly all
#: (9 % faster with it)
NARROW_SURE = 0.3

#: the search grid of the exact surface distances (``fastseg._engine.search``) reaches this many grid
#: points (at the finest spacing; the same physical length along every axis) beyond each point set's
#: own box: far enough for nearly every distance of two segmentations of one structure, near enough
#: that stray voxels elsewhere in the image do not spread it over the image
SEARCH_MARGIN = 32

#: ``evaluate`` finds every label's surface in one pass over the maps (instead of one pass per label
#: inside its box) when the labels' boxes hold more than this many times the map's voxels: the pass
#: reads both maps whole, a box pass costs about as much per voxel (organs10, 10 compact organs: the
#: boxes hold 0.07 of the map, the box passes win; with 1e-5 salt they hold 9.2)
LABELWISE_BOXES = 0.5

#: the exact cell search for queries far from every source point bounds its cells once per block of
#: neighbouring queries: those in one cube of FAR_BLOCK grid points a side, at most FAR_BLOCK_SIZE
FAR_BLOCK = 8
FAR_BLOCK_SIZE = 64

#: a mask whose foreground is less than 1/SPARSE_MASK of its box gets its surfels by the sparse pass
#: (rows of background cost a compare each; nothing the size of the box is written), a denser one by
#: the dense pass (codes of every corner: faster when most rows cross the structure). The same surfels.
SPARSE_MASK = 8

#: maps (and crops) smaller than this take neither the one pass over every label nor the sparse surfel
#: pass: the per-box path costs little there, and a first run then compiles one surfel kernel, not two
LABELWISE_MIN_VOXELS = 1 << 21

#: far queries are finished by comparing every pair when that is at most this many pair steps (a few
#: ms), by the cell search otherwise: a small job then does not compile the cells' kernels
FAR_PAIRS = 1 << 22
COMPONENT_BUFFERS = 64 * 2**20  # bytes of the per-chunk size and box buffers of the component stats pass
