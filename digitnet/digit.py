"""Making one MNIST-style 28×28 digit from its strokes on the page.

The digit's ink is re-cut from the full-resolution picture (paper level taken away,
other strokes masked out), cut to its bounding box, its pen brought into MNIST's
range of stroke thickness, fitted into 20×20 keeping its aspect ratio and pasted
into 28×28 with its centre of mass at the centre — the way MNIST itself was made.
"""

from __future__ import annotations

from .errors import DigitnetError
from .page import Ink, Page, analyse_page, one_digit_ink
from .pictures import as_array, describe_source, grayscale, load_image, shrunk
from .preprocess import PIXEL_MAX

FRAME_SIZE = 28  # MNIST's field
FIT_SIZE = 20  # MNIST fits each digit's bounding box into 20×20
FRAME_CENTRE = 14.0  # measured: MNIST's mean centre of mass is (13.99, 14.01) in pixel indices
# The digit itself is re-cut from the full image and worked on at up to this size.
DIGIT_WORK_SIDE = 200
PAPER_TOLERANCE = 0.03
# MNIST's strokes are about this thick relative to the digit's long side (2·area /
# perimeter of the ink, measured on 1000 test digits upscaled ×10: median 0.088, 5th
# and 95th percentiles 0.060 and 0.138).  Thinner strokes are grown to the lower
# bound and thicker ones shrunk to the upper (continuously: a slightly different
# picture gives a slightly different digit): on a development set of pictures of
# MNIST test digits on paper this took accuracy from 95.2% to 97.3% (98.2% on the
# same digits straight from MNIST).
THIN_STROKE_RATIO = 0.08
THICK_STROKE_RATIO = 0.14
# ...measured and changed in whole pixels with the digit's long side at this size.
PEN_SCALE_SIDE = 200


def digit_box(ink: Ink, page: Page, picture_size, *, reach: bool = False):
    """The strokes' bounding box (or the whole mask's) with a cell of margin, in the full picture's pixels.

    Returned as (left, top, right, bottom).
    """
    import math

    left, top, right, bottom = ink.box(reach=reach)
    height, width = page.shape
    scale_x, scale_y = picture_size[0] / width, picture_size[1] / height
    return (
        math.floor(left * scale_x),
        math.floor(top * scale_y),
        math.ceil(min(right, width) * scale_x),
        math.ceil(min(bottom, height) * scale_y),
    )


def _digit_ink(gray, page: Page, ink: Ink):
    """The digit's ink in [0, 1] (paper 0, other strokes masked out), cut from the full-resolution picture."""
    import numpy as np

    full_box = digit_box(ink, page, gray.size, reach=True)
    crop = shrunk(gray.crop(full_box), DIGIT_WORK_SIDE)
    size = crop.size
    pixels = as_array(crop)
    if page.ink_is_dark:
        pixels = 1.0 - pixels
    # The cut-out's box in page coordinates, from the whole pixels actually cut.
    scale_x, scale_y = page.shape[1] / gray.size[0], page.shape[0] / gray.size[1]
    box = (full_box[0] * scale_x, full_box[1] * scale_y, full_box[2] * scale_x, full_box[3] * scale_y)
    signal = pixels - page.paper.over(box, size)
    level = page.ink_level if ink.level is None else ink.level
    floor = min(max(3.0 * page.noise, 0.15 * level), 0.5 * level)
    strength = np.clip((signal - floor) / (level - floor), 0.0, 1.0)
    return strength * _mask_in_box(ink, box, size)


def _mask_in_box(ink: Ink, box, size):
    """The strokes' mask, grown by one cell, as soft weights over the cut-out."""
    import math

    import numpy as np
    from PIL import Image
    from scipy import ndimage

    cell = ink.cell
    rows, cols = ink.mask.shape
    left, top, right, bottom = box
    # Clamped: the box comes back from whole full-size pixels and may overshoot by a hair.
    box = (min(left / cell, cols), min(top / cell, rows), min(right / cell, cols), min(bottom / cell, rows))
    # Only the box and what the filter and the resampling reach around it are worked on (a
    # touching number has hundreds of candidate parts, each the size of the page's mask).
    reach = 3 + math.ceil(max((box[2] - box[0]) / size[0], (box[3] - box[1]) / size[1]))
    first_row, first_col = max(0, math.floor(box[1]) - reach), max(0, math.floor(box[0]) - reach)
    last_row, last_col = min(rows, math.ceil(box[3]) + reach), min(cols, math.ceil(box[2]) + reach)
    near = ink.mask[first_row:last_row, first_col:last_col].astype(np.float32)
    grown = ndimage.maximum_filter(near, size=3, mode="nearest")
    box = (box[0] - first_col, box[1] - first_row, box[2] - first_col, box[3] - first_row)
    weights = Image.fromarray(grown, mode="F").resize(size, Image.BILINEAR, box=box)
    return np.clip(np.asarray(weights, dtype=np.float32), 0.0, 1.0)


def _tight(ink, level: float = 0.1):
    """``ink`` cut to the box of the pixels above ``level`` (None when there are none)."""
    import numpy as np

    rows = np.nonzero((ink > level).any(axis=1))[0]
    cols = np.nonzero((ink > level).any(axis=0))[0]
    if rows.size == 0:
        return None
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def stroke_ratio(ink) -> float:
    """Stroke thickness relative to the ink's long side: 2 × area / perimeter / long side."""
    import numpy as np

    solid = ink > 0.5
    area = int(solid.sum())
    if area == 0:
        return 0.0
    padded = np.pad(solid, 1)
    perimeter = int((padded[1:] != padded[:-1]).sum() + (padded[:, 1:] != padded[:, :-1]).sum())
    return 2.0 * area / perimeter / max(ink.shape)


def _at_pen_scale(ink):
    """``ink`` resampled so its long side is PEN_SCALE_SIDE pixels.

    The stroke thickness is measured and changed in whole pixels, so it is done at
    one scale whatever the picture's size.
    """
    return _with_long_side(ink, PEN_SCALE_SIDE)


def _with_long_side(ink, side: int):
    """Scale float ``ink`` so its long side is ``side`` pixels, keeping the aspect ratio (antialiased)."""
    import numpy as np
    from PIL import Image

    height, width = ink.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    method = Image.BOX if scale < 1 else Image.BILINEAR
    resized = Image.fromarray(ink.astype(np.float32), mode="F").resize(size, method)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _pen_normalised(ink):
    """Strokes thinner or thicker than MNIST's usual ones brought into its range.

    A fine pen on a big digit, or a marker on a small one, would otherwise give a
    20-pixel digit fainter or bolder than nearly any the network was trained on.
    Thin strokes are grown (max filter), thick ones shrunk (min filter), by whole
    pixels of the work-size cut-out.
    """
    import numpy as np
    from scipy import ndimage

    ratio = stroke_ratio(ink)
    if ratio <= 0 or THIN_STROKE_RATIO <= ratio <= THICK_STROKE_RATIO:
        return ink
    target = min(max(ratio, THIN_STROKE_RATIO), THICK_STROKE_RATIO)
    change = abs(target - ratio) * max(ink.shape)
    size = 2 * int(round(change / 2)) + 1
    if size < 3:
        return ink
    padded = np.pad(ink, size // 2 + 1).astype(np.float32)
    pen = ndimage.maximum_filter if ratio < THIN_STROKE_RATIO else ndimage.minimum_filter
    changed = pen(padded, size=size, mode="nearest")
    # Never let shrinking wipe out a stroke: keep the original if most of the ink would go.
    if ratio > THICK_STROKE_RATIO and changed.sum() < 0.3 * ink.sum():
        return ink
    return changed


def _fitted(ink):
    """Scale ``ink`` so its long side is FIT_SIZE pixels, keeping the aspect ratio (antialiased)."""
    return _with_long_side(ink, FIT_SIZE)


def centred_in_frame(digit):
    """Paste a ≤20×20 float digit into 28×28 so its centre of mass sits at the centre.

    The shift is a whole number of pixels (as MNIST's was), limited so no ink leaves
    the field.
    """
    import numpy as np
    from scipy import ndimage

    height, width = digit.shape
    if float(digit.sum()) <= 0:
        raise ValueError("digit has no ink")
    centre_y, centre_x = ndimage.center_of_mass(digit)
    top = int(np.clip(round(FRAME_CENTRE - centre_y), 0, FRAME_SIZE - height))
    left = int(np.clip(round(FRAME_CENTRE - centre_x), 0, FRAME_SIZE - width))
    frame = np.zeros((FRAME_SIZE, FRAME_SIZE), dtype=np.float32)
    frame[top : top + height, left : left + width] = digit
    return frame


def prepare_image(image, *, name: str = "image"):
    """A picture of one digit → uint8 (28, 28), ink bright on black, made as MNIST was.

    Grey levels (alpha on white), polarity (ink made bright), paper removed (level
    measured across the page, so tint and uneven light go to 0), specks dropped, the
    ink's bounding box fitted into 20×20 keeping its aspect ratio, strokes much
    thinner or thicker than MNIST's brought into its range, centre of mass moved to
    the centre of 28×28.  The whole picture is taken as one digit (``--single``).
    Raises DigitnetError "...: no ink found — is the page blank?" when there is no digit.
    """
    gray = grayscale(image)
    page = analyse_page(gray, name)
    return digit_image(gray, page, one_digit_ink(page.strokes), name=name)


def digit_image(gray, page: Page, ink: Ink, *, name: str = "image"):
    """One digit's strokes on the page → uint8 (28, 28), ink bright on black, made as MNIST was."""
    import numpy as np

    cut = _tight(_digit_ink(gray, page, ink))
    if cut is None:
        raise DigitnetError(f"{name}: no ink found — is the page blank?")
    at_scale = _at_pen_scale(cut)
    normalised = _tight(_pen_normalised(at_scale), level=0.05)
    digit = _fitted(at_scale if normalised is None else normalised)
    peak = float(digit.max())
    if peak <= 0:
        raise DigitnetError(f"{name}: no ink found — is the page blank?")
    # MNIST's strokes reach full white; a faint or thin pen should too.
    digit = np.clip(digit / min(1.0, peak), 0.0, 1.0)
    return np.round(centred_in_frame(digit) * PIXEL_MAX).astype(np.uint8)


def image_to_digit(source, *, name: str | None = None):
    """load_image + prepare_image: a path or bytes → uint8 (28, 28), or DigitnetError naming it."""
    name = name or describe_source(source)
    image = load_image(source, name=name)
    try:
        return prepare_image(image, name=name)
    except DigitnetError:
        raise
    except MemoryError:
        raise DigitnetError(f"{name}: too large to process in the memory available") from None
