"""Digits whose strokes touch: where one connected stroke holds several digits, and how to cut it.

A stroke too wide for one digit of its line, or one that digitnet.whole's network says is
no one digit (two 1s that touch are no wider than a 0), is cut where digitnet.cuts finds it may
be: along seams (top-to-bottom paths through the least ink) and around contacts (where one digit
only touches the next).  Every span between two cuts that is as wide as a digit can be is read
by the network, all of them in one batched call, and the row of spans from the left end to
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

from .cuts import CONTACT_COST, contact_cuts, nearest_stroke, seams_of
from .page import Ink, cells_to_pixels, joined_inks

# A stroke is looked at when wider than this × the line's height (a wide 0 or 2 alone reaches 1.1) ...
WIDE_ASPECT = 1.2
# ... and, the only stroke on the page, when wider than this × its height.  A picture of one
# digit is the likelier case there (a long-barred 5 on paper reaches 1.9), so unless such a
# stroke is wider than SEVERAL_ASPECT (then no one digit: looked at and cut as any other) it is
# looked at only when digitnet.whole's networks give it whole log odds below LONE_WHOLE_ODDS
# (they doubt it is one digit), and cut only when the cut beats it whole by LONE_MARGIN.  Chosen
# on tuning pictures with the two shipped networks (the doubled cnn; tests/number_tuning.py's
# checking sets, and 150 touching numbers of test digits 1000–1999): looking below -2 instead of
# -6, with a margin of 40 instead of 30, reads 3 and 2 more touching numbers right (a "19" or "71"
# in one stroke, which the networks only doubt; below 0: no more).  Of the 3,900 one-digit tuning
# pictures (test digits 1000–3999 on paper, 900 pen-drawn from 1000) looking below 0 at margin 30
# cuts one more, a "7" whose cut wins by 30–40 with either model; 40 keeps it whole (45 loses 5
# of the touching tuning numbers).  -2 rather than 0 because a stroke looked at costs the reading
# of all its spans: 11 of 400 one-digit tuning pictures fall below 0, 4 below -2, and 200 of them
# took 72.6 ms a picture at 0, 58.2 at -2, 56.6 at -6 (mlp, medians of 3 interleaved runs).
LONE_ASPECT = 0.6
SEVERAL_ASPECT = 2.0
LONE_MARGIN = 40.0
LONE_WHOLE_ODDS = -2.0
# A stroke of a line narrower than WIDE_ASPECT is looked at all the same when at least DOUBT_ASPECT ×
# the line's height wide and digitnet.whole's network gives it whole log odds below DOUBT_WHOLE_ODDS:
# two 1s that touch, or a 1 touching a 2, are no wider than one digit.  -9 read the most tuning
# numbers right (tests/number_tuning.py's sets, and close and touching numbers of test digits
# 1000-1999: -6 to -8 also cut a 7 and a 9 of the close ones and a 3 of the spaced ones in two).
DOUBT_ASPECT = 0.5
DOUBT_WHOLE_ODDS = -9.0
# A piece at most this × the line's height tall is a bar (of a 5, a 7), not a digit's body.
BAR_HEIGHT = 0.4
# A span narrower or wider than these (× line height) is no digit,
SPAN_WIDTH = (0.1, 1.6)
# nor one shorter than this: a piece cut off a digit (the thin tail of a 3, a fragment of a 0's
# stroke), which the network reads as a sure 1 or 2.  On the tuning pictures (the checking sets of
# tests/number_tuning.py, 150 touching numbers of test digits 1000–1999) 0.3 and 0.35 read one
# more close number right and lose nothing; from 0.4 touching numbers are lost (a small digit
# beside a large one in one stroke).
SPAN_HEIGHT = 0.3
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
    # Each cut as (position, what lies left of it over the mask, whether a contact, strokes crossed).
    cuts = [(float(seam.mean()), columns < seam[:, None], False, cost) for seam, cost in zip(seams, costs, strict=True)]
    contacts = contact_cuts(strokes, scale)
    if contacts:
        # Every pixel of the mask goes with its nearest stroke pixel.  A contact lies strictly
        # between the stroke's ends, so sorting keeps the two end seams at the ends.
        nearest = nearest_stroke(strokes)
        cuts += [(centre, left[nearest], True, CONTACT_COST) for centre, left in contacts]
        cuts.sort(key=lambda cut: cut[0])
    narrowest, widest = (fraction * scale for fraction in SPAN_WIDTH)
    spans = []
    last = len(cuts) - 1
    for i in range(len(cuts)):
        for j in range(i + 1, len(cuts)):
            width = cuts[j][0] - cuts[i][0]
            contact = cuts[i][2] or cuts[j][2]
            whole = i == 0 and j == last  # the stroke read whole is always a candidate
            if not contact and not narrowest <= width <= widest and not whole:
                continue
            # The ends take the mask as it is (it reaches beyond the strokes), cuts divide it.
            after = ~cuts[i][1] if i > 0 else True
            before = cuts[j][1] if j < last else True
            between = after & before
            part_strokes = strokes & between
            rows = np.nonzero(part_strokes.any(axis=1))[0]
            if rows.size == 0:
                continue
            tall = (rows[-1] + 1 - rows[0]) / scale
            if tall < SPAN_HEIGHT and not whole:
                continue
            if contact:
                used = np.nonzero(part_strokes.any(axis=0))[0]
                width = float(used[-1] + 1 - used[0])
                if not narrowest <= width <= widest:
                    continue
            part = Ink(ink.mask & between, ink.cell, None if ink.strokes is None else part_strokes, ink.level)
            spans.append(Span(i, j, part, tall, width / scale))
    return [cut[3] for cut in cuts], spans


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
