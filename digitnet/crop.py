"""Pictures cropped to their digit: a scan cut to the digit, a data set's 16×16 crop.

Their ink reaches the sides and may cover half the picture, so the paper is no longer the
majority the page analysis counts on, and little or none of the ink is found (or what is
found runs off the sides).  Such a picture is two-toned (``paper.two_tones``); it is then
read again inside a frame of its own paper (``pictures.framed``).  A blank page, noise or
a gradient is not two-toned, and keeps its first answer.
"""

from __future__ import annotations

# A picture whose strokes found cover less than this share of its ink has had its ink missed,
MISSED_INK = 0.5
# and so has one whose digits reach this close (× its side) to three of its sides or four.
SIDE_REACH = 0.02


def cropped_tones(gray, boxes, inked: float):
    """The paper and ink of ``gray`` (digitnet.paper.Tones) when it looks cropped to its digit and
    its reading missed for it; None when the reading stands.

    ``boxes`` are the digits read (none when no ink was found), ``inked`` the share of the
    page found to be strokes.
    """
    from .paper import two_tones
    from .pictures import border_of, grey_counts

    tones = two_tones(grey_counts(gray), border_of(gray))
    if tones is None:
        return None
    if inked < MISSED_INK * tones.ink_share or reaches_three_sides(boxes, gray.size):
        return tones
    return None


def reaches_three_sides(boxes, size) -> bool:
    """Whether ``boxes`` (left, top, right, bottom) reach, to within SIDE_REACH, three of the four
    sides of a picture of ``size`` (width, height), or all four."""
    if not boxes:
        return False
    width, height = size
    near_x, near_y = max(2, SIDE_REACH * width), max(2, SIDE_REACH * height)
    reached = (
        min(box[0] for box in boxes) <= near_x,
        min(box[1] for box in boxes) <= near_y,
        max(box[2] for box in boxes) >= width - near_x,
        max(box[3] for box in boxes) >= height - near_y,
    )
    return sum(reached) >= 3
