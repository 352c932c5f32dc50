"""The directed distance sets of several surface models of one cropped pair, sharing the work.

:func:`model_sets` gives, for each distinct surface model among some conventions
(:meth:`fastseg.conventions.Convention.surface_key`), the sets :func:`fastseg._engine.distances.
distances_in_crop` gives for it, to the bit, but shares between the models what they have in common:

- the boundary voxels of each mask are computed once per (connectivity, rule beyond the crop), and
  models whose rules select the same voxels on this crop share them (plastimatch's adaptive edge is
  the background edge unless an axis of the crop has one voxel; the foreground edge is the background
  edge unless the crop touches the image edge);
- with the object model, the exact models share their searches (without it, each rule searches
  its own voxels from its own source points, one search for the models whose rules coincide on
  this crop). The nearest voxel of a mask to a voxel outside it is a voxel of its face boundary,
  and a boundary voxel under every connectivity and edge rule (its neighbour one step towards the
  query is background inside the crop): so for every queried voxel
  outside the other mask (the object model's non-zero distances, and the boundary voxels of every
  exact model that lie there) the distance is the one to the other mask's face boundary, and one
  search from that face boundary answers them all, with the face-boundary models' voxels inside the
  other mask in the same search; each other boundary rule searches its voxels inside the other mask
  from its own source points. Each query's distance depends only on the source points and the query
  itself (a minimum of the same per-offset sums, in the same order, whichever of these source sets
  holds the nearest point), as long as the first list of offsets resolves it
  (:func:`fastseg._engine.distances.distances_at`); when any distance lies beyond that list, each
  model searches its own queries, as it does alone;
- plastimatch's two distance maps are read at the query voxels only, each in a scratch buffer its
  thread reuses;
- on two threads or more, the calling thread and one helper run these pieces as tasks, side by side
  (:func:`model_sets`), and each model's metrics can be derived as soon as its sets are ready
  (``then``).

Surfel models are computed as :func:`distances_in_crop` computes them; so is everything for spacings
outside ``PLAIN_SPACING`` (scaled by a power of two there).
"""
import functools
import math
import threading

import numpy as np

from .. import _validation as v
from .._kernels import danielsson as _kdan
from .._kernels import tuning
from .._kernels._jit import num_threads, serial_if_small, thread_limit
from .counts import as3, spacing3
from .distances import (CropSurfaces, boundary, distances_at, distances_in_crop, line_axis, offsets,
                        unit_spacing)
from .sets import sort_by_distance, unit_weights

__all__ = ["model_sets"]

#: the rule of the face boundary with background beyond the crop: the object model's source points
FACE = (1, None)


def _outside(conv, shape3, is2d, edges):
    """What lies beyond each face of the crop for a boundary-voxel model: per axis of the 3D view
    ``(low, high)``, True for foreground; None when it is background everywhere."""
    if conv.edge == "adaptive":  # plastimatch: foreground beyond the axes of one voxel
        rule = tuple((n == 1 and not (is2d and a == 0),) * 2 for a, n in enumerate(shape3))
    elif conv.edge == "foreground":
        rule = ((False, False),) * (3 - len(edges)) + tuple(tuple(bool(x) for x in e) for e in edges)
    else:
        return None
    return rule if any(any(f) for f in rule) else None


class _Pair:
    """One cropped pair in its 3D view, with its boundary voxels computed once per rule."""

    def __init__(self, pc, rc, sp):
        self.is2d = pc.ndim == 2
        self.sp3 = spacing3(sp)
        self.masks = (v.readonly(np.ascontiguousarray(as3(pc))), v.readonly(np.ascontiguousarray(as3(rc))))
        self.shape = self.masks[0].shape
        self._boundary = {}
        self._index = {}

    def boundary(self, side, rule):
        key = (side, rule)
        if key not in self._boundary:
            conn, outside = rule
            self._boundary[key] = boundary(self.masks[side], conn, self.is2d, outside)
        return self._boundary[key]

    def index(self, side, rule):
        """Increasing flat indices of the boundary voxels (``rule`` None: of the voxels of mask
        ``side`` outside the other mask, the object model's non-zero distances)."""
        key = (side, rule)
        if key not in self._index:
            if rule is None:  # masks and boundaries hold 0 and 1 only
                self._index[key] = np.flatnonzero(self.masks[side] > self.masks[1 - side])
            else:
                self._index[key] = np.flatnonzero(self.boundary(side, rule).view(np.bool_))
        return self._index[key]


def _rule(conv, pair, edges):
    return (min(conv.connectivity, 3), _outside(conv, pair.shape, pair.is2d, edges))


def _resolved_first(d, pair):
    """True when every distance is certainly within the first offset list of the ordered search."""
    if d.size == 0:
        return True
    c_max = offsets(pair.shape, pair.sp3, line_axis(pair.shape, pair.sp3), tuning.SEARCH_TIERS[0])[3]
    return math.isinf(c_max) or float(np.max(d)) <= math.sqrt(c_max) * (1.0 - 1e-9)


def _voxel_sets(d):
    return sort_by_distance(d, unit_weights(d.size))


def _object_sets(pair, side, d_out):
    """Sorted object-model distances of mask ``side``: 0 for its voxels inside the other mask, then
    the sorted distances of the others; unit weights."""
    n = int(np.count_nonzero(pair.masks[side]))
    d = np.zeros(n)
    d[n - d_out.size:] = np.sort(d_out)
    d.flags.writeable = False
    return d, unit_weights(n)


def _danielsson(pair, rule, side, local):
    """plastimatch's distances from the boundary voxels of mask ``side`` to those of the other, in the
    scratch buffer of the calling thread (``local.scratch``, allocated on its first map)."""
    s = np.asarray(pair.sp3[::-1], np.float32)
    scratch = getattr(local, "scratch", None)
    if scratch is None:
        scratch = local.scratch = np.empty((_kdan.SCRATCH_ROWS, int(np.prod(pair.shape))), np.float32)
    d = _kdan.danielsson_at(pair.boundary(1 - side, rule), s * s, pair.index(side, rule), scratch)
    return d.astype(np.float64)


def _run(tasks, threads):
    """Run ``tasks``, a list of ``(name, after, call)``: ``call()`` once every task named in ``after``
    has run. With ``threads`` >= 2 and two tasks or more, the calling thread and one helper thread
    each take, when free, the first task of the list that is ready, and run its kernels on their own
    thread (the kernels release the GIL): two threads each running serial kernels keep both cores
    busy without the waits of kernels split over threads while another task runs (on the organ
    table 181 ms against 206 ms with each task's kernels on two threads). Otherwise the tasks run
    in list order (where every task comes after those it waits for) with the caller's threads. The
    first exception is raised here, once both threads have stopped."""
    if threads < 2 or len(tasks) < 2:
        for _, _, call in tasks:
            call()
        return
    todo, done, failed = list(tasks), set(), []
    running = [0]
    cond = threading.Condition()

    def ready():
        for i, (_, after, _) in enumerate(todo):
            if all(a in done for a in after):
                return todo.pop(i)
        return None

    def work():
        with thread_limit(1):
            while True:
                with cond:
                    task = None
                    while task is None:
                        if failed or not todo:
                            return
                        task = ready()
                        if task is None:
                            if not running[0]:  # nothing runs that could make a task ready
                                failed.append(RuntimeError(f"tasks wait for tasks not in the list: {todo}"))
                                cond.notify_all()
                                return
                            cond.wait()
                    running[0] += 1
                try:
                    task[2]()
                except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread
                    with cond:
                        failed.append(exc)
                        running[0] -= 1
                        cond.notify_all()
                    return
                with cond:
                    done.add(task[0])
                    running[0] -= 1
                    cond.notify_all()

    helper = threading.Thread(target=work, name="fastseg-models", daemon=True)
    helper.start()
    work()
    helper.join()
    if failed:
        raise failed[0]


def model_sets(pc, rc, sp, convs, edges=None, then=None):
    """``{surface_key: (d_pr, w_p, d_rp, w_r)}`` for the distinct surface models of ``convs`` on a
    cropped pair (C-ordered uint8, 2D or 3D, the union inside, as for :func:`distances_in_crop`),
    each the same arrays :func:`distances_in_crop` gives for a convention of that model.

    ``then``: called as ``then(key, sets)`` once per model as soon as its sets are complete, perhaps
    on another thread than the caller's, and two models' calls perhaps at the same time.

    On two threads or more (and crops above ``tuning.SMALL_WORK`` voxels) the work is a list of
    tasks that the calling thread and one helper take as they become ready, each running its
    kernels on its own thread (:func:`_run`), in this order: the boundary voxels of each mask;
    plastimatch's two maps (the longest serial tasks); a surfel model's elements and grid; each
    direction of the exact models' searches; each direction of the surfel search; the object
    model's sets and ``then``; each other model computed as :func:`distances_in_crop` computes it;
    per model its sorted sets and ``then``. On the organ case the two threads are busy to within a
    few milliseconds of the end (112-115 ms against 115-120 ms with one map among the searches).
    """
    models = {}
    for conv in convs:
        models.setdefault(conv.surface_key(pc.ndim), conv)
    alone, shared = {}, {}
    for key, conv in models.items():
        if conv.surface == "surfel" or unit_spacing(sp)[1] or (conv.edge == "foreground" and edges is None):
            alone[key] = conv  # as distances_in_crop computes it (surfels; scaled spacing; the error
        else:              # of a foreground edge without the crop's position)
            shared[key] = conv
    out, raw = {}, {}

    def store(name, after, make, *args):
        def call():
            raw[name] = make(*args)
        return name, after, call

    def finish(key, after, make, *args):
        def call():
            out[key] = make(*args)
            if then is not None:
                then(key, out[key])
        return ("sets", key), after, call

    pair = _Pair(pc, rc, sp) if shared else None
    rules = {key: (None if conv.surface == "object" else _rule(conv, pair, edges)) for key, conv in shared.items()}
    daniel = [key for key, conv in shared.items() if conv.transform == "danielsson"]
    exact = {key: rule for key, rule in rules.items() if key not in daniel}
    local = threading.local()
    with serial_if_small(pc.size):
        # the boundary voxels of each mask under every rule, one task per mask (the other tasks
        # only read them)
        points = [("points", 0), ("points", 1)] if shared else []
        needed = set(rules.values()) | ({FACE} if None in exact.values() else set())
        tasks = [(name, (), functools.partial(_points, pair, side, needed)) for side, name in enumerate(points)]
        maps = [store((key, side), points, _danielsson, pair, rules[key], side, local)
                for key in daniel for side in (0, 1)]
        # surfel models in stages (their elements and grid, each direction, the sets): smaller tasks
        # keep both threads busy to the end
        staged = [key for key, conv in alone.items() if conv.surface == "surfel"]
        tasks += maps  # long serial tasks first, the shorter ones after them fill in
        tasks += [store(("surface", key), (), CropSurfaces, pc, rc, sp, alone[key], edges) for key in staged]
        directions = [store(("surface", key, side), [("surface", key)],
                            lambda k=key, side=side: raw[("surface", k)].directed(side))
                      for side in (0, 1) for key in staged]
        e = [("exact", 0), ("exact", 1)]
        if exact:
            tasks += [store(e[side], points, _directed, pair, side, exact) for side in (0, 1)]
        tasks += directions
        tasks += [finish(key, e, lambda k=key: _object_pair(pair, raw[e[0]][k], raw[e[1]][k]))
                  for key, rule in exact.items() if rule is None]
        tasks += [finish(key, [("surface", key, 0), ("surface", key, 1)],
                         lambda k=key: raw[("surface", k)].sets(raw[("surface", k, 0)], raw[("surface", k, 1)]))
                  for key in staged]
        tasks += [finish(key, (), distances_in_crop, pc, rc, sp, conv, edges) for key, conv in alone.items()
                  if key not in staged]
        tasks += [finish(key, e, lambda k=key: _voxel_pair(raw[e[0]][k], raw[e[1]][k]))
                  for key, rule in exact.items() if rule is not None]
        tasks += [finish(key, [(key, 0), (key, 1)], lambda k=key: _voxel_pair(raw[(k, 0)], raw[(k, 1)]))
                  for key in daniel]
        _run(tasks, num_threads())
    return {key: out[key] for key in models}


def _points(pair, side, rules):
    """The boundary voxels of mask ``side`` under each of ``rules`` (None: none), and their indices."""
    for rule in rules:
        if rule is not None:
            pair.index(side, rule)


def _directed(pair, side, exact):
    """``{key: distances}`` of the exact models from mask ``side``: with the object model, shared
    searches (:func:`_shared`), or each rule's own when a distance lies beyond the first offset list;
    without it, each rule's own (the voxels outside the other mask are then few: searching them from
    the face boundary apart from the rest of a rule's voxels cost more than it saved, seg-metrics
    alone 70 -> 87 ms)."""
    if any(rule is None for rule in exact.values()):
        got = _shared(pair, side, exact)
        if got is not None:
            return got
    return _apart(pair, side, exact)


def _voxel_pair(d_pr, d_rp):
    return (*_voxel_sets(d_pr), *_voxel_sets(d_rp))


def _object_pair(pair, d_pr, d_rp):
    return (*_object_sets(pair, 0, d_pr), *_object_sets(pair, 1, d_rp))


def _apart(pair, side, exact):
    """``{key: distances}`` from the queried voxels of mask ``side`` to the source points of each model
    on the other mask, one search per rule (models of one rule on this crop share it), as each is
    computed alone."""
    by_rule = {}
    for rule in exact.values():
        if rule not in by_rule:
            by_rule[rule] = distances_at(pair.index(1 - side, FACE if rule is None else rule), pair.shape,
                                         pair.sp3, pair.index(side, rule))
    return {key: by_rule[rule] for key, rule in exact.items()}


def _shared(pair, side, exact):
    """As :func:`_apart` (in another order within each model: the sets are sorted afterwards, unit
    weights) when the object model is among ``exact``, the searches shared (module docstring); None
    when a distance lies beyond the first offset list of the ordered search."""
    other = pair.masks[1 - side].reshape(-1)
    rules = list(dict.fromkeys(rule for rule in exact.values() if rule is not None))
    pool = pair.index(side, None)  # every voxel outside the other mask: the object model's
    inside = {}
    for rule in rules:
        q = pair.index(side, rule)
        inside[rule] = q[other[q] != 0]
    face_in = inside.get(FACE, np.zeros(0, np.int64))
    d = distances_at(pair.index(1 - side, FACE), pair.shape, pair.sp3,
                     np.concatenate([pool, face_in]) if face_in.size else pool)
    if not _resolved_first(d, pair):
        return None
    d_pool = d[:pool.size]
    per_rule = {FACE: d[pool.size:]}
    for rule in rules:
        if rule != FACE:
            per_rule[rule] = distances_at(pair.index(1 - side, rule), pair.shape, pair.sp3, inside[rule])
            if not _resolved_first(per_rule[rule], pair):
                return None
    out = {}
    for key, rule in exact.items():
        if rule is None:
            out[key] = d_pool
        else:
            near = pair.boundary(side, rule).reshape(-1)[pool] != 0
            out[key] = np.concatenate([d_pool[near], per_rule[rule]])
    return out
