"""Digits whose strokes touch: where one connected stroke holds several digits, and how to cut it.

A stroke too wide for one digit of its line, or one that digitnet.whole's network says is
no one digit (two 1s that touch are no wider than a 0), is cut along seams: top-to-bottom paths
through the least ink (``least_ink_paths``), tried every CUT_STEP of the line's height.
Every span between two seams that is as wide as a digit can be is read by the
network, all of them in one batched call, and the row of spans from the left end to
the right end that is likeliest to be the digits written wins (``best_row``).

The network alone is a poor judge: it reads half of a 0 as a confident 1 and a pair
squeezed into one frame as some digit too.  So each row is also weighed by a second
network shipped with digitnet (``digitnet.whole``), trained to tell one whole digit
from a part of one, a digit with a piece of its neighbour, or a pair; and by what
touching digits look like: the seam between two of them crosses about one stroke
(where they meet), a seam through a digit crosses two or more (a 0's top and
bottom) or cuts off a piece much shorter than the line (the bar of a 7); and a digit
is rarely wider than the line is tall.

A loose bar beside a stroke (the bar of a 5 whose body touches the digit before it) is
looked at together with that stroke (``with_loose_bars``), so it goes with its own half.
"""

from __future__ import annotations

import dataclasses
import math

from .page import Ink, cells_to_pixels, joined_inks

# A stroke is looked at when wider than this × the line's height (a wide 0 or 2 alone reaches 1.1) ...
WIDE_ASPECT = 1.2
# ... and, the only stroke on the page, when wider than this × its height.  A picture of one
# digit is the likelier case there (a long-barred 5 on paper reaches 1.9), so unless such a
# stroke is wider than SEVERAL_ASPECT (then no one digit: looked at and cut as any other) it is
# looked at only when digitnet.whole's network gives it whole log odds below LONE_WHOLE_ODDS of
# being one digit, and cut only when the cut beats it whole by LONE_MARGIN.  Chosen on tuning
# pictures: below -6 are 136 of the 143 touching numbers of test digits 1000–1999 that are one
# stroke, and 5 of the 2,308 one-digit pictures of test digits 1000–3999 wider than 0.6 (-4:
# 139 and 21).  Of the 2,971 one-digit tuning pictures with a lone stroke wider than 0.6 (test
# digits 1000–3999 on paper, and pen-drawn), a margin of 8 cut 6 (mlp) and 5 (cnn), 30 cuts 1
# each; of the touching ones it then leaves whole 1 (mlp) and 2 (cnn) of the 79 and 88 read
# right (margins 28–35: the same).
LONE_ASPECT = 0.6
SEVERAL_ASPECT = 2.0
LONE_MARGIN = 30.0
LONE_WHOLE_ODDS = -6.0
# A stroke of a line narrower than WIDE_ASPECT is looked at all the same when at least DOUBT_ASPECT ×
# the line's height wide and digitnet.whole's network gives it whole log odds below DOUBT_WHOLE_ODDS:
# two 1s that touch, or a 1 touching a 2, are no wider than one digit.  -9 read the most tuning
# numbers right (tests/number_tuning.py's sets, and close and touching numbers of test digits
# 1000-1999: -6 to -8 also cut a 7 and a 9 of the close ones and a 3 of the spaced ones in two).
DOUBT_ASPECT = 0.5
DOUBT_WHOLE_ODDS = -9.0
# A piece at most this × the line's height tall is a bar (of a 5, a 7), not a digit's body.
BAR_HEIGHT = 0.4
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
# A span narrower or wider than these (× line height) is no digit.
SPAN_WIDTH = (0.1, 1.6)
# What a span looks like, for its score: shorter than SHORT_SPAN × line height, wider than
# WIDE_SPAN, narrower than THIN_SPAN, and how far from the width typical of the digit it is
# read as (× its height: the median over MNIST's first 20,000 training digits).
SHORT_SPAN = 0.65
WIDE_SPAN = 1.0
THIN_SPAN = 0.25
TYPICAL_WIDTH = (0.9, 0.4, 0.95, 0.8, 0.8, 0.95, 0.7, 0.8, 0.8, 0.7)
# A span's score is the sum of its features (``span_features``) times these weights, fitted
# on numbers and one-digit pictures made for tuning (MNIST training digits from 45,000 and
# 30,000, test digits < 900) by the structured perceptron of tests/number_tuning.py, with the
# whole-digit network's odds among the features and lone strokes looked at as split_touching
# does (on its checking sets, touching numbers 53.3% → 66.0% right with the cnn; close 96.0% →
# 95.3%, spaced and one digit as before).
WEIGHTS = {
    "confidence": 1.0,  # log of the network's top probability
    "margin": 1.06,  # log of the top probability over the second
    "digit": 1.94,  # each digit of the row
    "short": -2.40,  # line heights missing below SHORT_SPAN
    "wide": -0.48,  # line heights beyond WIDE_SPAN
    "cut": 0.01,  # strokes its left seam crosses
    "cut_beyond_one": 0.18,  # ... beyond the first (where two digits meet)
    "odd_width": -2.05,  # (width - the read digit's typical width)², in line heights
    "thin": -1.08,  # line heights missing below THIN_SPAN
    "whole": 3.30,  # log odds that it is one whole digit (digitnet.whole)
}


@dataclasses.dataclass
class Span:
    """The part of a stroke between two seams (numbered left to right), and what it looks like."""

    first: int
    last: int
    ink: Ink
    height: float  # of its strokes, × line height
    width: float  # × line height


def split_touching(inks, read, *, strokes=None, judge=None) -> list[Ink]:
    """``inks`` with each stroke that holds touching digits cut into its digits.

    ``read(inks)`` gives the network's probabilities (N, 10) for a list of strokes;
    ``judge(inks, shapes)`` the log odds that each is one whole digit (``whole_odds``).
    ``strokes`` (the page's stroke pixels) lets a lone stroke found on a coarse grid be
    cut at the page's own resolution.  A stroke left whole is returned as it came.
    """
    import numpy as np

    height = line_height(inks)
    inks, looked_at, loose = strokes_to_look_at(inks, height, strokes=strokes, judge=judge)
    wide = [ink for ink, look in zip(inks, looked_at, strict=True) if look]
    if not wide:
        return inks  # (a stroke with its bar, alone on the page, is one digit)
    plans = [_plan(_at_page_resolution(ink, strokes), height) for ink in wide]
    spans = [span for plan in plans for span in plan[1]]
    probabilities = read([span.ink for span in spans]) if spans else np.zeros((0, 10))
    cuts_of = [plan[0] for plan in plans for _ in plan[1]]
    odds = whole_odds(judge, spans, cuts_of)
    split, at = {}, 0
    for ink, (cuts, plan_spans) in zip(wide, plans, strict=True):
        count = len(plan_spans)
        read_here, odds_here = probabilities[at : at + count], odds[at : at + count]
        at += count
        margin = LONE_MARGIN if needs_margin(ink, inks, height) else 0.0
        row = best_row(cuts, plan_spans, read_here, margin=margin, odds=odds_here)
        if row is not None and len(row) > 1:
            split[id(ink)] = [span.ink for span in row]
        elif row is None and id(ink) in loose:
            split[id(ink)] = loose[id(ink)]
    return [part for ink in inks for part in split.get(id(ink), [ink])]


def needs_margin(ink: Ink, inks, height: int) -> bool:
    """Whether a cut of ``ink`` must beat it read whole by LONE_MARGIN: it is the only stroke on
    the page (of ``inks``, as strokes_to_look_at gives them) and one wide digit could be as wide."""
    return len(inks) == 1 and not _is_wide(ink, height, SEVERAL_ASPECT)


def strokes_to_look_at(inks, height: int, *, strokes=None, judge=None):
    """(``inks`` with their loose bars taken together, which of them are looked at as several
    digits, {id(together): [stroke, bar]}): the strokes split_touching cuts.

    A stroke is looked at when wide for its line, when it holds a loose bar, or when no wider
    than a digit but by ``judge`` (as for split_touching) not one whole digit; the only stroke
    on the page only when ``_may_be_several``.
    """
    inks, loose = with_loose_bars(inks, height)
    looked_at = [wide or id(ink) in loose for ink, wide in zip(inks, may_hold_several(inks), strict=True)]
    if len(inks) == 1:
        if looked_at[0]:
            looked_at = [_may_be_several(inks[0], height, strokes, judge)]
    elif judge is not None:
        doubtful = [n for n, ink in enumerate(inks) if not looked_at[n] and _is_wide(ink, height, DOUBT_ASPECT)]
        odds = _odds_whole([inks[n] for n in doubtful], height, strokes, judge)
        for n, stroke_odds in zip(doubtful, odds, strict=True):
            looked_at[n] = bool(stroke_odds < DOUBT_WHOLE_ODDS)
    return inks, looked_at, loose


def with_loose_bars(inks, height: int):
    """``inks`` with each loose bar (a piece far shorter than the line: the bar of a 5 or a 7)
    taken together with the stroke beside it, and {id(together): [stroke, bar]}.

    A bar is read apart from its digit when the digit's body touches a neighbour: the
    body is then part of a stroke that holds two digits, which may look like one digit
    as it is.  Taken together, the stroke and the bar are looked at as several digits.
    """
    from .pieces import JOIN_GAP

    boxes = [ink.box() for ink in inks]
    bar = [bottom - top <= BAR_HEIGHT * height for _, top, _, bottom in boxes]
    together, loose, n = [], {}, 0
    while n < len(inks):
        if n + 1 < len(inks) and bar[n] != bar[n + 1] and boxes[n + 1][0] - boxes[n][2] <= JOIN_GAP * height:
            together.append(joined_inks(inks[n], inks[n + 1]))
            loose[id(together[-1])] = inks[n : n + 2]
            n += 2
        else:
            together.append(inks[n])
            n += 1
    return together, loose


def may_hold_several(inks) -> list[bool]:
    """Which of ``inks`` are wide enough for their line to be looked at as several digits."""
    height = line_height(inks)
    aspect = LONE_ASPECT if len(inks) == 1 else WIDE_ASPECT
    return [_is_wide(ink, height, aspect) for ink in inks]


def line_height(inks) -> int:
    """The height of the tallest digit: the size of the line of writing."""
    return max(ink.box()[3] - ink.box()[1] for ink in inks)


def _is_wide(ink: Ink, height: int, aspect: float) -> bool:
    left, top, right, bottom = ink.box()
    return right - left > aspect * max(bottom - top, height)


def _may_be_several(ink: Ink, height: int, strokes, judge) -> bool:
    """A lone stroke may hold several digits: far too wide for one, or not one digit whole."""
    if _is_wide(ink, height, SEVERAL_ASPECT):
        return True
    return bool(_odds_whole([ink], height, strokes, judge)[0] < LONE_WHOLE_ODDS)


def _odds_whole(inks, height: int, strokes, judge):
    """The log odds that each of ``inks``, whole, is one digit (``whole_odds``)."""
    spans = [_whole_span(_at_page_resolution(ink, strokes), height) for ink in inks]
    return whole_odds(judge, spans, [[0.0, 0.0]] * len(spans))


def _whole_span(ink: Ink, height: int) -> Span:
    """A stroke as the one span from its left end to its right end (as ``_plan`` makes it)."""
    import numpy as np

    strokes = ink.mask if ink.strokes is None else ink.strokes
    rows, columns = (np.nonzero(strokes.any(axis=axis))[0] for axis in (1, 0))
    scale = height / ink.cell
    return Span(0, 1, ink, (rows[-1] + 1 - rows[0]) / scale, (columns[-1] + 1 - columns[0]) / scale)


def whole_odds(judge, spans, cuts_of):
    """The log odds that each span is one whole digit, by ``judge(inks, shapes)`` (0 without one).

    ``cuts_of[n]``: the strokes crossed by the seams of span n's stroke.
    """
    import numpy as np

    if judge is None or not spans:
        return np.zeros(len(spans))
    shapes = np.array(
        [
            [span.width, span.height, cuts[span.first], cuts[span.last]]
            for span, cuts in zip(spans, cuts_of, strict=True)
        ],
        dtype=np.float32,
    )
    return np.asarray(judge([span.ink for span in spans], shapes), dtype=float)


def _at_page_resolution(ink: Ink, strokes) -> Ink:
    """A stroke found on a grid of cells, as pixels of the page (mask and strokes)."""
    if ink.cell == 1 or strokes is None:
        return ink
    mask = cells_to_pixels(ink.mask, ink.cell, strokes.shape)
    return Ink(mask, 1, mask & strokes)


def _plan(ink: Ink, height: int):
    """(cost of each cut in strokes crossed, the spans between cuts) of one wide stroke.

    Cuts are the seams (``seams_of``) and the contacts (``contact_cuts``), left to right.
    """
    import numpy as np

    strokes = ink.mask if ink.strokes is None else ink.strokes
    scale = height / ink.cell
    seams, costs = seams_of(strokes, scale)
    columns = np.arange(strokes.shape[1])[None, :]
    # Each cut as (position, what lies left of it over the mask, over the strokes, strokes crossed).
    cuts = [(float(seam.mean()), columns < seam[:, None], None, cost) for seam, cost in zip(seams, costs, strict=True)]
    contacts = contact_cuts(strokes, scale)
    if contacts:
        owner = _nearest_stroke(ink.mask | strokes, strokes)
        for centre, left in contacts:
            cuts.append((centre, left.ravel()[owner], left, CONTACT_COST))
        ends = [cuts[0], cuts[len(seams) - 1]]
        inner = sorted(cuts[1 : len(seams) - 1] + cuts[len(seams) :], key=lambda cut: cut[0])
        cuts = [ends[0], *inner, ends[1]]
    narrowest, widest = (fraction * scale for fraction in SPAN_WIDTH)
    spans = []
    last = len(cuts) - 1
    for i in range(len(cuts)):
        for j in range(i + 1, len(cuts)):
            width = cuts[j][0] - cuts[i][0]
            contact = cuts[i][2] is not None or cuts[j][2] is not None
            if not contact and not narrowest <= width <= widest and not (i == 0 and j == last):
                continue
            # The ends take the mask as it is (it reaches beyond the strokes), cuts divide it.
            after = ~cuts[i][1] if i > 0 else True
            before = cuts[j][1] if j < last else True
            between = after & before
            part_strokes = strokes & between
            rows = np.nonzero(part_strokes.any(axis=1))[0]
            if rows.size == 0:
                continue
            if contact:
                used = np.nonzero(part_strokes.any(axis=0))[0]
                width = float(used[-1] + 1 - used[0])
                if not narrowest <= width <= widest:
                    continue
            part = Ink(ink.mask & between, ink.cell, None if ink.strokes is None else part_strokes, ink.level)
            spans.append(Span(i, j, part, (rows[-1] + 1 - rows[0]) / scale, width / scale))
    return [cut[3] for cut in cuts], spans


def contact_cuts(strokes, height: float):
    """Where two digits only touch: [(column, the strokes left of the contact)], left to right.

    A disc CONTACT_RADIUS × the pen's width is taken out around stroke pixels (one every pen's
    width); where that leaves the stroke in two or more parts at least CONTACT_HEIGHT × ``height``
    tall, some left of it and some right (by their middles) side by side (``_side_by_side``),
    every stroke pixel goes to the side of the nearest such part.  Unlike a
    seam, this follows the digits' own outline: the bar of a 7 over the next digit stays the 7's.
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
        owner = _nearest_stroke(near, np.isin(labels, tall), labels)
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


def _nearest_stroke(where, strokes, values=None):
    """For every pixel: the index (into the flattened array) of the nearest pixel of ``strokes``,
    or with ``values``, that pixel's value."""
    from scipy import ndimage

    _, (rows, columns) = ndimage.distance_transform_edt(~strokes, return_indices=True)
    if values is not None:
        return values[rows, columns]
    return rows * strokes.shape[1] + columns


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


def span_features(span: Span, probabilities, crossed: float, odds: float = 0.0) -> dict:
    """What the score of ``span`` weighs: the network's reading of it, its shape, the seam before it,
    and the log ``odds`` that it is one whole digit (``digitnet.whole``)."""
    import numpy as np

    top, second = np.log(np.maximum(np.sort(probabilities)[::-1][:2], 1e-6))
    return {
        "confidence": float(top),
        "margin": float(top - second),
        "digit": -0.84,
        "short": max(0.0, SHORT_SPAN - span.height),
        "wide": max(0.0, span.width - WIDE_SPAN),
        "cut": crossed,
        "cut_beyond_one": max(0.0, crossed - 1.0),
        "odd_width": (span.width - TYPICAL_WIDTH[int(np.argmax(probabilities))] * span.height) ** 2,
        "thin": max(0.0, THIN_SPAN - span.width),
        "whole": float(odds),
    }


def span_score(span: Span, probabilities, crossed: float, weights=None, odds: float = 0.0) -> float:
    """How likely ``span`` is one digit written, in the log domain."""
    weights = WEIGHTS if weights is None else weights
    return sum(weights[name] * value for name, value in span_features(span, probabilities, crossed, odds).items())


def best_row(cut_strokes, spans, probabilities, weights=None, *, margin: float = 0.0, odds=None):
    """The spans from the left end to the right end whose scores add up best (None when none covers it).

    A row of several spans must beat the stroke read whole by ``margin``.  ``odds``: each
    span's log odds of being one whole digit (``whole_odds``).
    """
    last = len(cut_strokes) - 1
    odds = [0.0] * len(spans) if odds is None else odds
    best = {0: (0.0, [])}
    whole = -math.inf
    for end in range(1, last + 1):
        options = []
        for span, probs, span_odds in zip(spans, probabilities, odds, strict=True):
            if span.last == end and span.first in best:
                score = span_score(span, probs, cut_strokes[span.first], weights, span_odds)
                options.append((best[span.first][0] + score, best[span.first][1] + [span]))
                if span.first == 0 and span.last == last:
                    whole = score
        if options:
            best[end] = max(options, key=lambda option: option[0])
    if last not in best:
        return None
    score, row = best[last]
    if len(row) > 1 and score <= whole + margin:
        return [span for span in spans if span.first == 0 and span.last == last]
    return row
