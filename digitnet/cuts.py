"""Where one stroke may be cut into the digits it holds: seams and contacts.

A seam (``seams_of``) is a path from top to bottom through the least ink, tried every
CUT_STEP of the line's height: where two digits stand side by side and touch, one crosses
about one stroke.  Where one digit reaches over the next (the bar of a 7 above a 4), every
such path takes a piece of one into the other; a contact cut (``contact_cuts``) instead takes
out a small disc where the two meet and gives every stroke pixel to the side it is joined to.
digitnet.touching decides which cuts make the digits written.
"""

from __future__ import annotations

# Seams are tried every CUT_STEP × line height across the stroke, each free to wander
# SEAM_REACH × line height either side to find the least ink.
CUT_STEP = 0.05
SEAM_REACH = 0.12
# A contact cut takes out a disc of CONTACT_RADIUS × the pen's width; both sides must keep a part
# at least CONTACT_HEIGHT × line height tall, the two sides' rows overlapping by CONTACT_OVERLAP
# of the shorter side; it counts as crossing CONTACT_COST strokes.
CONTACT_RADIUS = 1.0
CONTACT_HEIGHT = 0.35
CONTACT_OVERLAP = 0.5
CONTACT_COST = 1.0
# A seam crossing more than this many strokes is no cut between two digits.
MAX_CUT_STROKES = 2.5


def seams_of(strokes, height: float):
    """Where the strokes may be cut: (seams, strokes each crosses), left to right.

    Both ends (crossing nothing), and near every CUT_STEP × ``height`` across, the path
    from top to bottom through the least ink within SEAM_REACH × ``height`` of it —
    kept when it crosses at most MAX_CUT_STROKES strokes.
    """
    import numpy as np

    inked = np.nonzero(strokes.any(axis=0))[0]
    first, last = int(inked[0]), int(inked[-1]) + 1
    rows = strokes.shape[0]
    width = stroke_width(strokes)
    step = max(1, round(CUT_STEP * height))
    reach = max(1, round(SEAM_REACH * height))
    columns = range(first + step, last - step // 2, step)
    windows = [slice(max(first, column - reach), min(last, column + reach + 1)) for column in columns]
    paths = least_ink_paths(
        strokes, windows, [column - window.start for column, window in zip(columns, windows, strict=True)]
    )
    found = {}
    for path, window in zip(paths, windows, strict=True):
        seam = path + window.start
        crossed = float(strokes[np.arange(rows), seam].sum()) / width
        if crossed <= MAX_CUT_STROKES:
            found.setdefault(seam.tobytes(), (seam, crossed))
    inner = sorted(found.values(), key=lambda item: float(item[0].mean()))
    seams = [np.full(rows, first)] + [seam for seam, _ in inner] + [np.full(rows, last)]
    return seams, [0.0] + [crossed for _, crossed in inner] + [0.0]


def stroke_width(strokes) -> float:
    """The pen's width in pixels: twice the strokes' area over their outline's length."""
    from scipy import ndimage

    outline = strokes & ~ndimage.binary_erosion(strokes)
    return max(1.0, 2.0 * float(strokes.sum()) / max(1, int(outline.sum())))


def least_ink_paths(strokes, windows, starts):
    """In each of the column ``windows`` of ``strokes``, the top-to-bottom path (a column per row, moving
    at most one column a row) crossing the fewest stroke pixels; the nearest to its column of ``starts``
    (counted from the window's left) and the straightest among equals.  All are found in one pass down
    the rows: (len(windows), rows), columns counted from each window's left."""
    import numpy as np

    rows, count = strokes.shape[0], len(windows)
    if count == 0:
        return np.zeros((0, rows), dtype=np.int64)
    width = max(window.stop - window.start for window in windows)
    # Windows cut short by the strokes' ends are padded on the right with columns no path can take.
    cost = np.full((count, rows, width), np.inf)
    for n, (window, start) in enumerate(zip(windows, starts, strict=True)):
        part = strokes[:, window]
        cost[n, :, : part.shape[1]] = part.astype(np.float32) + 1e-3 * np.abs(np.arange(part.shape[1]) - start)[None, :]
    total = cost[:, 0].copy()
    came = np.zeros((count, rows, width), dtype=np.int64)
    offsets = np.array([-1, 0, 1])
    steps = np.array([1e-4, 0.0, 1e-4], dtype=np.float32)[:, None, None]
    walls = np.full((count, 1), np.inf)
    for row in range(1, rows):
        padded = np.concatenate([walls, total, walls], axis=1)
        options = np.stack([padded[:, :-2], padded[:, 1:-1], padded[:, 2:]]) + steps
        pick = np.argmin(options, axis=0)
        came[:, row] = np.arange(width) + offsets[pick]
        total = np.take_along_axis(options, pick[None], axis=0)[0] + cost[:, row]
    paths = np.empty((count, rows), dtype=np.int64)
    paths[:, -1] = np.argmin(total, axis=1)
    every = np.arange(count)
    for row in range(rows - 1, 0, -1):
        paths[:, row - 1] = came[every, row, paths[:, row]]
    return paths


def contact_cuts(strokes, height: float):
    """Where two digits only touch: [(column, the strokes left of the contact)], left to right.

    A disc CONTACT_RADIUS × the pen's width is taken out around stroke pixels (one every pen's
    width); where that leaves the stroke in two or more parts at least CONTACT_HEIGHT × ``height``
    tall, some left of it and some right (by their middles) and side by side (``_side_by_side``),
    every stroke pixel goes to the side of the nearest such part.  Unlike a seam, this follows
    the digits' own outline: the bar of a 7 over the next digit stays the 7's.
    """
    import numpy as np
    from scipy import ndimage

    box = ndimage.find_objects(strokes.astype(np.uint8))
    if not box:
        return []
    rows, columns = box[0]
    near = strokes[rows, columns]
    width = stroke_width(near)
    radius = max(1, round(CONTACT_RADIUS * width))
    spacing = max(1, round(width))
    disc = np.hypot(*np.mgrid[-radius : radius + 1, -radius : radius + 1]) <= radius
    padded = np.pad(near, radius)
    eight = np.ones((3, 3), dtype=bool)
    found = {}
    ys, xs = np.nonzero(near)
    keep = (ys % spacing == 0) & (xs % spacing == 0)
    for y, x in zip(ys[keep], xs[keep], strict=True):
        rest = padded.copy()
        rest[y : y + 2 * radius + 1, x : x + 2 * radius + 1] &= ~disc
        labels, count = ndimage.label(rest[radius:-radius, radius:-radius], structure=eight)
        if count < 2:
            continue
        parts = ndimage.find_objects(labels)
        tall = [n + 1 for n, part in enumerate(parts) if part[0].stop - part[0].start >= CONTACT_HEIGHT * height]
        if len(tall) < 2:
            continue
        left = [n for n in tall if parts[n - 1][1].start + parts[n - 1][1].stop < 2 * x]
        right = [n for n in tall if n not in left]
        if not left or not right or not _side_by_side([parts[n - 1] for n in left], [parts[n - 1] for n in right]):
            continue
        owner = labels[nearest_stroke(np.isin(labels, tall))]
        side = near & np.isin(owner, left)
        key = np.packbits(side).tobytes()
        if key not in found:
            whole = np.zeros_like(strokes)
            whole[rows, columns] = side
            found[key] = (float(x + columns.start), whole)
    return sorted(found.values(), key=lambda cut: cut[0])


def _side_by_side(left, right) -> bool:
    """Whether the rows of the parts left of a contact and right of it overlap by CONTACT_OVERLAP
    of the shorter side (digits on one line do; the loops of an 8, meeting at its waist, do not)."""
    tops = [min(part[0].start for part in side) for side in (left, right)]
    bottoms = [max(part[0].stop for part in side) for side in (left, right)]
    shared = min(bottoms) - max(tops)
    return shared >= CONTACT_OVERLAP * min(bottom - top for top, bottom in zip(tops, bottoms, strict=True))


def nearest_stroke(strokes):
    """(rows, columns): for every pixel, where the nearest pixel of ``strokes`` is (index an array with it)."""
    from scipy import ndimage

    _, (rows, columns) = ndimage.distance_transform_edt(~strokes, return_indices=True)
    return rows, columns
