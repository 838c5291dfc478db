"""A number written or photographed at a slant: its line of digits tilts.

MNIST's digits stand upright, so a number tilted by 15° is read worse digit by digit,
and its digits' strokes come closer to touching across the slant.  The tilt is measured
from the digits first found (the slope of their line, through the centres of their boxes:
the median of the slopes between every two of them, so one digit written higher or lower
does not tip it), and a picture tilted by at least LEVEL_FROM is turned level and read again.
"""

from __future__ import annotations

import math

# A line of at least this many digits says how it tilts (two digits a little above or
# below each other, as people write, would tip it at random) ...
LEVEL_DIGITS = 3
# ... and is turned level when tilted by this many degrees or more (up to LEVEL_UP_TO).
LEVEL_FROM = 12.0
LEVEL_UP_TO = 45.0
# The corners a turn uncovers take the paper's level nearby: the picture shrunk to at most
# FILL_SIDE pixels, its strokes filtered out by a median over FILL_WINDOW of those pixels.
FILL_SIDE = 64
FILL_WINDOW = 5


def line_tilt(boxes) -> float:
    """The tilt of a line of digit ``boxes`` (left, top, right, bottom), in degrees, as Pillow's
    ``rotate`` takes it to level the line (0 for fewer than LEVEL_DIGITS boxes)."""
    import numpy as np

    if len(boxes) < LEVEL_DIGITS:
        return 0.0
    centres = np.array([((left + right) / 2, (top + bottom) / 2) for left, top, right, bottom in boxes])
    first, second = np.triu_indices(len(centres), k=1)
    run = centres[second, 0] - centres[first, 0]
    apart = np.abs(run) > 0
    if not apart.any():
        return 0.0
    slopes = (centres[second, 1] - centres[first, 1])[apart] / run[apart]
    return math.degrees(math.atan(float(np.median(slopes))))


def needs_levelling(tilt: float) -> bool:
    return LEVEL_FROM <= abs(tilt) <= LEVEL_UP_TO


def _covered(size, tilt: float):
    """Which pixels of a picture of ``size`` turned by ``tilt`` degrees (expanded) hold the picture."""
    import numpy as np
    from PIL import Image

    return np.asarray(Image.new("L", size, 255).rotate(tilt, expand=True)) == 255


def levelled(gray, tilt: float):
    """``gray`` (mode "L" or "F") turned by ``tilt`` degrees (``line_tilt``), and ``to_picture(box)``,
    which takes a (left, top, right, bottom) box in it back to the box of the given picture's
    pixels it covers.

    The corners the turn uncovers take the paper's grey at the nearest pixel of the picture (its
    strokes filtered out), so the paper runs on without an edge where the picture ends (a step
    there would be a sheet's edge to the page analysis, and the digits near it ink along a side),
    and a digit cut by the picture's side is not smeared into the corner.
    """
    import numpy as np
    from PIL import Image
    from scipy import ndimage

    from .pictures import shrunk

    turned = gray.rotate(tilt, resample=Image.Resampling.BICUBIC, expand=True)
    # (the rim of what the picture covers is blended with what lies outside it)
    covered = ndimage.binary_erosion(_covered(gray.size, tilt), iterations=2)
    # The paper's level near each uncovered pixel: the picture's nearest pixel once the strokes are
    # filtered out (a median over FILL_WINDOW pixels of a copy at most FILL_SIDE pixels long: strokes
    # are thin), found on that small copy turned alike, then brought to the turned picture's size.
    small = shrunk(gray, FILL_SIDE)
    paper = ndimage.median_filter(np.asarray(small, dtype=np.float32), size=FILL_WINDOW, mode="nearest")
    small_turned = np.asarray(Image.fromarray(paper).rotate(tilt, expand=True))
    nearest = ndimage.distance_transform_edt(~_covered(small.size, tilt), return_distances=False, return_indices=True)
    fill = np.asarray(Image.fromarray(small_turned[tuple(nearest)]).resize(turned.size, Image.Resampling.BILINEAR))
    pixels = np.asarray(turned).copy()
    pixels[~covered] = fill[~covered]
    turned = Image.fromarray(pixels)
    cos, sin = math.cos(math.radians(tilt)), math.sin(math.radians(tilt))
    (width, height), (turned_width, turned_height) = gray.size, turned.size

    def to_picture(box):
        left, top, right, bottom = box
        xs, ys = [], []
        for x, y in ((left, top), (right, top), (left, bottom), (right, bottom)):
            dx, dy = x - turned_width / 2, y - turned_height / 2
            xs.append(dx * cos - dy * sin + width / 2)
            ys.append(dx * sin + dy * cos + height / 2)
        return (
            max(0, math.floor(min(xs))),
            max(0, math.floor(min(ys))),
            min(width, math.ceil(max(xs))),
            min(height, math.ceil(max(ys))),
        )

    return turned, to_picture
