"""Pieces of one digit found apart: joined when the network reads them as one digit better.

A digit written with a lifted pen, or whose thin joint fell below the ink's level,
arrives from ``line.find_digits`` as two strokes side by side: the stem and the loop
of a 6 or a 9, the corner and the stem of an open 4, the body and the bar of a 5.
Each piece alone looks like a digit too (a 1, a 0), so the shapes cannot tell; the
network can.  Neighbours close enough and narrow enough together to be one digit are
read joined and apart, all in one batch, and the row of digits whose scores add up
best wins (``touching.best_row``, with the same score of a span as a digit).  A piece far
shorter than the line is not offered as a digit alone: it goes with one of its neighbours.
"""

from __future__ import annotations

from .page import Ink, joined_inks
from .touching import SHORT_SPAN, Span, best_row, line_height, whole_odds

# Neighbours are looked at together when at most this far apart and, joined, at most this
# wide (× the line's height: the widest digits, a 0 or a 2, reach about 1.0).
JOIN_GAP = 0.12
JOIN_WIDTH = 1.0


def joined_pieces(inks, read, judge=None) -> list[Ink]:
    """``inks`` (left to right) with the neighbours that are pieces of one digit joined.

    ``read(inks)`` gives the network's probabilities (N, 10) for a list of strokes;
    ``judge(inks, shapes)`` the log odds that each is one whole digit (``touching.whole_odds``).
    """
    import numpy as np

    if len(inks) < 2:
        return inks
    height = line_height(inks)
    pairs = [n for n in range(len(inks) - 1) if _may_be_one(inks[n], inks[n + 1], height)]
    if not pairs:
        return inks
    # A piece shorter than touching.SHORT_SPAN × the line right beside a digit is part of one, never a
    # digit of its own (the tick an open 0 leaves, read as a sure 1): on the tuning numbers of
    # tests/number_tuning.py (700 spaced and close) it mends the only two such and changes nothing else.
    in_pairs = {n for pair in pairs for n in (pair, pair + 1)}
    alone = [_span(n, n + 1, ink, height) for n, ink in enumerate(inks)]
    spans = [span for span in alone if span.first not in in_pairs or span.height >= SHORT_SPAN]
    spans += [_span(n, n + 2, joined_inks(inks[n], inks[n + 1]), height) for n in pairs]
    probabilities = read([span.ink for span in spans])
    # Between two strokes found apart the "seam" crosses no ink.
    cuts = np.zeros(len(inks) + 1)
    row = best_row(cuts, spans, probabilities, odds=whole_odds(judge, spans, [cuts] * len(spans)))
    return inks if row is None else [span.ink for span in row]


def _may_be_one(left: Ink, right: Ink, height: int) -> bool:
    left_box, right_box = left.box(), right.box()
    gap = right_box[0] - left_box[2]
    width = max(left_box[2], right_box[2]) - min(left_box[0], right_box[0])
    return gap <= JOIN_GAP * height and width <= JOIN_WIDTH * height


def _span(first: int, last: int, ink: Ink, height: int) -> Span:
    left, top, right, bottom = ink.box()
    return Span(first, last, ink, (bottom - top) / height, (right - left) / height)
