"""Digits whose strokes touch: where one connected stroke holds several digits, and how to cut it.

A stroke too wide for one digit of its line is cut along seams: top-to-bottom paths
through the least ink (``least_ink_path``), tried every CUT_STEP of the line's height.
Every span between two seams that is as wide as a digit can be is read by the
network, all of them in one batched call, and the row of spans from the left end to
the right end that is likeliest to be the digits written wins (``best_row``).

The network alone is a poor judge: it reads half of a 0 as a confident 1 and a pair
squeezed into one frame as some digit too.  So each row is also weighed by what
touching digits look like: the seam between two of them crosses about one stroke
(where they meet), a seam through a digit crosses two or more (a 0's top and
bottom) or cuts off a piece much shorter than the line (the bar of a 7); and a digit
is rarely wider than the line is tall.
"""

from __future__ import annotations

import dataclasses
import math

from .page import Ink, cells_to_pixels

# A stroke is looked at when wider than this × the line's height (a wide 0 or 2 alone reaches 1.1) ...
WIDE_ASPECT = 1.2
# ... and, the only stroke on the page, when wider than this × its height.  A picture of one
# wide digit is the likelier case there (a long-barred 5 on paper reaches 1.9), so such a
# stroke is cut only when the cut beats it whole by LONE_MARGIN, and, unless it is wider than
# SEVERAL_ASPECT, only when the network reads it whole less surely than LONE_CONFIDENCE (it
# reads a wide single digit surely, a squeezed pair seldom): one-digit pictures read as before.
# Chosen on tuning pictures: 3,000 one-digit pictures of test digits 1000–3999 (none cut by either
# model; 0.7 cut 5 with the mlp) and the touching numbers made from training digits.
LONE_ASPECT = 1.0
SEVERAL_ASPECT = 2.0
LONE_MARGIN = 8.0
LONE_CONFIDENCE = 0.5
# Seams are tried every CUT_STEP × line height across the stroke, each free to wander
# SEAM_REACH × line height either side to find the least ink.
CUT_STEP = 0.08
SEAM_REACH = 0.12
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
# on numbers and one-digit pictures made for tuning (MNIST training digits, test digits < 900)
# by the structured perceptron of tests/number_tuning.py, with lone strokes looked at from 0.7
# (so that it sees many wide one-digit pictures to keep whole) — in a working copy of the
# script that started from earlier weights, so a rerun gives weights near these, not equal.
# Run with lone strokes looked at from 1.0 it fitted weights that read its checking sets the
# same but for one-digit paper pictures (96.5% against 98.5%), so these were kept.
WEIGHTS = {
    "confidence": -1.0,  # log of the network's top probability
    "margin": 1.63,  # log of the top probability over the second
    "digit": -0.84,  # each digit of the row
    "short": -20.33,  # line heights missing below SHORT_SPAN
    "wide": -5.93,  # line heights beyond WIDE_SPAN
    "cut": -7.33,  # strokes its left seam crosses
    "cut_beyond_one": -4.75,  # ... beyond the first (where two digits meet)
    "odd_width": -12.62,  # (width - the read digit's typical width)², in line heights
    "thin": -7.06,  # line heights missing below THIN_SPAN
}


@dataclasses.dataclass
class Span:
    """The part of a stroke between two seams (numbered left to right), and what it looks like."""

    first: int
    last: int
    ink: Ink
    height: float  # of its strokes, × line height
    width: float  # × line height


def split_touching(inks, read, *, strokes=None) -> list[Ink]:
    """``inks`` with each stroke that holds touching digits cut into its digits.

    ``read(inks)`` gives the network's probabilities (N, 10) for a list of strokes.
    ``strokes`` (the page's stroke pixels) lets a lone stroke found on a coarse grid be
    cut at the page's own resolution.  A stroke left whole is returned as it came.
    """
    import numpy as np

    height = line_height(inks)
    wide = [ink for ink, looked_at in zip(inks, may_hold_several(inks), strict=True) if looked_at]
    if not wide:
        return inks
    plans = [_plan(_at_page_resolution(ink, strokes), height) for ink in wide]
    spans = [span for plan in plans for span in plan[1]]
    probabilities = read([span.ink for span in spans]) if spans else np.zeros((0, 10))
    split, at = {}, 0
    for ink, (cuts, plan_spans) in zip(wide, plans, strict=True):
        count = len(plan_spans)
        read_here = probabilities[at : at + count]
        at += count
        if len(inks) == 1 and not _may_be_several(ink, height, cuts, plan_spans, read_here):
            continue
        row = best_row(cuts, plan_spans, read_here, margin=LONE_MARGIN if len(inks) == 1 else 0.0)
        if row is not None and len(row) > 1:
            split[id(ink)] = [span.ink for span in row]
    return [part for ink in inks for part in split.get(id(ink), [ink])]


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


def _may_be_several(ink: Ink, height: int, cuts, spans, probabilities) -> bool:
    """A lone stroke may hold several digits: far too wide for one, or not read surely whole."""
    if _is_wide(ink, height, SEVERAL_ASPECT):
        return True
    whole = [n for n, span in enumerate(spans) if span.first == 0 and span.last == len(cuts) - 1]
    return bool(whole) and float(probabilities[whole[0]].max()) < LONE_CONFIDENCE


def _at_page_resolution(ink: Ink, strokes) -> Ink:
    """A stroke found on a grid of cells, as pixels of the page (mask and strokes)."""
    if ink.cell == 1 or strokes is None:
        return ink
    mask = cells_to_pixels(ink.mask, ink.cell, strokes.shape)
    return Ink(mask, 1, mask & strokes)


def _plan(ink: Ink, height: int):
    """(cost of each seam in strokes crossed, the spans between seams) of one wide stroke."""
    import numpy as np

    strokes = ink.mask if ink.strokes is None else ink.strokes
    scale = height / ink.cell
    seams, costs = seams_of(strokes, scale)
    columns = np.arange(strokes.shape[1])[None, :]
    narrowest, widest = (fraction * scale for fraction in SPAN_WIDTH)
    spans = []
    for i in range(len(seams)):
        for j in range(i + 1, len(seams)):
            width = float(seams[j].mean() - seams[i].mean())
            if not narrowest <= width <= widest and not (i == 0 and j == len(seams) - 1):
                continue
            # The ends take the mask as it is (it reaches beyond the strokes), seams cut it.
            after = seams[i][:, None] if i > 0 else 0
            before = seams[j][:, None] if j < len(seams) - 1 else strokes.shape[1]
            between = (columns >= after) & (columns < before)
            part_strokes = strokes & between
            rows = np.nonzero(part_strokes.any(axis=1))[0]
            if rows.size == 0:
                continue
            part = Ink(ink.mask & between, ink.cell, None if ink.strokes is None else part_strokes, ink.level)
            spans.append(Span(i, j, part, (rows[-1] + 1 - rows[0]) / scale, width / scale))
    return costs, spans


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
    found = {}
    for column in range(first + step, last - step // 2, step):
        window = slice(max(first, column - reach), min(last, column + reach + 1))
        seam = least_ink_path(strokes[:, window], column - window.start) + window.start
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


def least_ink_path(strokes, start: int):
    """The top-to-bottom path (a column per row, moving at most one column a row) crossing
    the fewest stroke pixels; the nearest to column ``start`` and the straightest among equals."""
    import numpy as np

    rows, width = strokes.shape
    cost = strokes.astype(np.float32) + 1e-3 * np.abs(np.arange(width) - start)[None, :]
    total = cost[0].copy()
    came = np.zeros((rows, width), dtype=np.int64)
    offsets = np.array([-1, 0, 1])
    steps = np.array([1e-4, 0.0, 1e-4], dtype=np.float32)[:, None]
    for row in range(1, rows):
        padded = np.concatenate([[np.inf], total, [np.inf]])
        options = np.stack([padded[:-2], padded[1:-1], padded[2:]]) + steps
        pick = np.argmin(options, axis=0)
        came[row] = np.arange(width) + offsets[pick]
        total = options[pick, np.arange(width)] + cost[row]
    path = np.empty(rows, dtype=np.int64)
    path[-1] = int(np.argmin(total))
    for row in range(rows - 1, 0, -1):
        path[row - 1] = came[row, path[row]]
    return path


def span_features(span: Span, probabilities, crossed: float) -> dict:
    """What the score of ``span`` weighs: the network's reading of it, its shape, the seam before it."""
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
    }


def span_score(span: Span, probabilities, crossed: float, weights=None) -> float:
    """How likely ``span`` is one digit written, in the log domain."""
    weights = WEIGHTS if weights is None else weights
    return sum(weights[name] * value for name, value in span_features(span, probabilities, crossed).items())


def best_row(cut_strokes, spans, probabilities, weights=None, *, margin: float = 0.0):
    """The spans from the left end to the right end whose scores add up best (None when none covers it).

    A row of several spans must beat the stroke read whole by ``margin``.
    """
    last = len(cut_strokes) - 1
    best = {0: (0.0, [])}
    whole = -math.inf
    for end in range(1, last + 1):
        options = []
        for span, probs in zip(spans, probabilities, strict=True):
            if span.last == end and span.first in best:
                score = span_score(span, probs, cut_strokes[span.first], weights)
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
