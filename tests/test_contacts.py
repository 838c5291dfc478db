"""digitnet.cuts.contact_cuts: digits that only touch are cut around their contact, not along a column."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from digitnet import cuts, touching
from digitnet.page import Ink

HEIGHT = 140  # the line's height in pixels
PEN = 10


def canvas():
    return Image.new("L", (260, 200), 0)


def seven(draw):
    """A 7 whose bar reaches on past its stem."""
    draw.line((20, 30, 138, 30), fill=255, width=PEN)
    draw.line((100, 30, 60, 170), fill=255, width=PEN)


def one(draw):
    """A 1 standing under the end of the 7's bar, touching it."""
    draw.line((134, 32, 134, 170), fill=255, width=PEN)


def ring(draw, centre=(130, 120), radius=40):
    left, top = centre[0] - radius, centre[1] - radius
    draw.ellipse((left, top, left + 2 * radius, top + 2 * radius), outline=255, width=PEN)


def pixels(*drawings):
    picture = canvas()
    draw = ImageDraw.Draw(picture)
    for drawing in drawings:
        drawing(draw)
    return np.asarray(picture) > 127


def share(part, of):
    return float((part & of).sum()) / float(of.sum())


def test_a_one_under_the_bar_of_a_seven_is_cut_off_around_where_they_touch():
    alone_seven, alone_one = pixels(seven), pixels(one)
    assert (alone_seven & alone_one).any()  # they touch (the 1's top meets the bar)
    strokes = alone_seven | alone_one
    found = cuts.contact_cuts(strokes, HEIGHT)
    assert any(share(left, alone_seven) > 0.99 and share(left, alone_one & ~alone_seven) < 0.01 for _, left in found)
    # A seam from top to bottom cannot: the 1 stands under the bar, so every seam that leaves the
    # 1 whole gives it the end of the 7's bar.
    seams, _ = cuts.seams_of(strokes, HEIGHT)
    columns = np.arange(strokes.shape[1])[None, :]
    for seam in seams[1:-1]:
        left = strokes & (columns < seam[:, None])
        assert not (share(left, alone_seven) > 0.99 and share(left, alone_one & ~alone_seven) < 0.01)


def test_the_spans_offered_hold_the_seven_and_the_one_each_whole():
    alone_seven, alone_one = pixels(seven), pixels(one)
    strokes = alone_seven | alone_one
    costs, spans = touching._plan(Ink(strokes, 1, strokes), HEIGHT)
    assert len(costs) == max(span.last for span in spans) + 1
    found = [span.ink.strokes for span in spans]
    assert any(share(part, alone_seven) > 0.97 and share(part, alone_one & ~alone_seven) < 0.03 for part in found)
    assert any(share(part, alone_one) > 0.9 and share(part, alone_seven & ~alone_one) < 0.03 for part in found)


def test_an_eight_is_not_cut_at_its_waist_nor_a_ring_anywhere():
    def eight(draw):
        ring(draw, centre=(130, 62), radius=32)
        ring(draw, centre=(130, 130), radius=38)

    assert cuts.contact_cuts(pixels(eight), HEIGHT) == []
    assert cuts.contact_cuts(pixels(ring), HEIGHT) == []
    assert cuts.contact_cuts(np.zeros((50, 50), dtype=bool), HEIGHT) == []


def test_rings_side_by_side_touching_are_cut_between_them():
    def rings(draw):
        ring(draw, centre=(60, 100), radius=40)
        ring(draw, centre=(140, 100), radius=40)

    strokes = pixels(rings)
    found = cuts.contact_cuts(strokes, HEIGHT)
    assert found
    for column, left in found:
        assert 90 <= column <= 110  # where the rings meet
        assert abs(np.nonzero(left.any(axis=0))[0][-1] - 100) <= PEN + 2
