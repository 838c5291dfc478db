"""The page: where the ink is, its connected strokes, and the strokes of a picture of one digit.

The page is analysed at ANALYSIS_SIDE (the paper's level, the ink's polarity and
strength, a mask of the strokes).  Its connected strokes (``scipy.ndimage.label``)
are blobs; specks of dirt and the lines of ruled paper are told from strokes.  Which
strokes make which digit of a number is ``line.find_digits``'s job.

An ``Ink`` is one digit's strokes: a boolean mask over the analysed page (at
``cell`` analysis pixels per mask cell) that the digit module cuts out and scales.
"""

from __future__ import annotations

import dataclasses

from .errors import DigitnetError
from .paper import box_mean3, ink_and_paper, noise_sigma
from .pictures import as_array, shrunk

# Where the page is analysed (polarity, paper level, where the ink is): big enough
# for thin strokes, small enough to be quick on a 40-megapixel photo.
ANALYSIS_SIDE = 512
# For one digit, the ink mask is searched for connected strokes on a grid of at most this size
# (which also joins strokes broken by a pixel or two).
COMPONENT_GRID_SIDE = 128
# A blob smaller than this fraction of the largest is a speck of dirt or noise, not a stroke.
SPECK_FRACTION = 0.08
# ... or whose extent is below this fraction of the largest's (a speck beside a thin "1").
SPECK_EXTENT = 0.25
# Smaller pieces count only this close to the main stroke (fraction of its extent).
NEAR_FRACTION = 0.3
# A line at least this long (fraction of the page) and this thin is a rule of lined paper.
RULE_LENGTH = 0.8
RULE_THICKNESS = 0.04
# Weakest ink (paper-to-ink contrast, 0–1) that counts as something written.
MIN_INK_CONTRAST = 0.10
# How many noise standard deviations above the paper level the ink must stand out.
NOISE_SIGMAS = 5.0
# A stroke is where the ink reaches this fraction of the pen's typical strength.
STROKE_FRACTION = 0.35


@dataclasses.dataclass
class Page:
    """What the analysis of the whole picture found: polarity, paper, ink levels, stroke pixels."""

    ink_is_dark: bool
    paper: object  # paper.Paper: the paper's level after inversion, anywhere on the page
    noise: float
    ink_level: float
    strokes: object  # bool (height, width): pixels of the page inked strongly enough to be strokes
    shape: tuple  # (height, width) of the page as analysed
    # Every pixel that stands out of the paper's noise: the parts of it holding ``strokes`` are the
    # strokes followed down to the noise floor, where a thin or faint digit beside heavy ones stays
    # whole (line.find_digits; ``strokes`` breaks it into specks).
    above_noise: object
    signal: object  # float (height, width): the ink's strength above the paper, a little smoothed


@dataclasses.dataclass
class Ink:
    """One digit: a mask over the page saying whose ink is where, ``cell`` analysis pixels per mask cell.

    ``strokes`` (when the mask reaches beyond them) are the digit's own stroke pixels.
    """

    mask: object
    cell: int = 1
    strokes: object = None
    level: float | None = None  # its pen's strength, when not the page's (a digit of a number)

    def box(self, *, reach: bool = False):
        """(left, top, right, bottom) of the strokes (or the whole mask) in analysis pixels, a cell of margin."""
        import numpy as np

        mask = self.mask if reach or self.strokes is None else self.strokes
        rows = np.nonzero(mask.any(axis=1))[0]
        cols = np.nonzero(mask.any(axis=0))[0]
        height, width = mask.shape
        left, right = max(0, cols[0] - 1), min(width, cols[-1] + 2)
        top, bottom = max(0, rows[0] - 1), min(height, rows[-1] + 2)
        return left * self.cell, top * self.cell, right * self.cell, bottom * self.cell


def joined_inks(left: Ink, right: Ink) -> Ink:
    """Two strokes taken as one digit (the stronger pen of the two, when they have their own)."""
    levels = [ink.level for ink in (left, right) if ink.level is not None]
    return Ink(left.mask | right.mask, left.cell, left.strokes | right.strokes, max(levels, default=None))


# --------------------------------------------------------------------------- the page


def analyse_page(gray, name: str) -> Page:
    """Find the paper, the ink's polarity and level, and where the strokes are.

    Two passes: anything clearly above the paper's noise is a candidate stroke, and
    the largest strokes (specks dropped) tell how strong this pen's ink is; then the
    strokes are found again at a fraction of that level, which keeps a faint pencil
    digit whole and leaves out smudges far weaker than its ink.
    Raises DigitnetError "...: no ink found — is the page blank?" when there is none.
    """
    import numpy as np

    picture = as_array(shrunk(gray, ANALYSIS_SIDE))
    ink_is_dark, ink, paper = ink_and_paper(picture)
    height, width = ink.shape
    signal = ink - paper.over((0, 0, width, height), (width, height))
    smooth = box_mean3(signal)
    clearly_ink = max(MIN_INK_CONTRAST / 2, NOISE_SIGMAS * noise_sigma(smooth))
    first = one_digit_ink(smooth > clearly_ink)
    strokes = cells_to_pixels(first.mask, first.cell, smooth.shape) & (smooth > clearly_ink)
    if not strokes.any():
        raise DigitnetError(f"{name}: no ink found — is the page blank?")
    ink_level = float(np.percentile(smooth[strokes], 90))
    if ink_level < MIN_INK_CONTRAST:
        raise DigitnetError(f"{name}: no ink found — is the page blank?")
    strokes = smooth > max(clearly_ink, STROKE_FRACTION * ink_level)
    if not strokes.any():
        raise DigitnetError(f"{name}: no ink found — is the page blank?")
    return Page(ink_is_dark, paper, noise_sigma(signal), ink_level, strokes, ink.shape, smooth > clearly_ink, smooth)


def cells_to_pixels(mask, cell: int, shape):
    """A grid mask (one value per cell×cell block) back at pixel resolution."""
    import numpy as np

    pixels = np.repeat(np.repeat(mask, cell, axis=0), cell, axis=1)
    return pixels[: shape[0], : shape[1]]


def parts_holding(mask, found):
    """The connected parts of ``mask`` that hold some of ``found`` (hysteresis, when ``found`` is
    the stronger ink and ``mask`` the weaker)."""
    import numpy as np
    from scipy import ndimage

    return labelled_parts_holding(ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))[0], found)


def labelled_parts_holding(labels, found):
    """The parts numbered in ``labels`` (0: none) that hold some of ``found``."""
    import numpy as np

    held = np.unique(labels[found])
    return np.isin(labels, held[held > 0])


# --------------------------------------------------------------------------- blobs


@dataclasses.dataclass
class Blob:
    """One connected group of inked pixels: its label, size and bounding slices."""

    label: int
    size: int
    rows: slice
    cols: slice

    @property
    def height(self) -> int:
        return self.rows.stop - self.rows.start

    @property
    def width(self) -> int:
        return self.cols.stop - self.cols.start

    def extent(self) -> int:
        return max(self.height, self.width)

    def is_rule(self, shape, direction: str) -> bool:
        """A thin line running ``direction`` ("across" or "down") over nearly the whole page."""
        rows, cols = shape
        if direction == "across":
            return self.width >= RULE_LENGTH * cols and self.height <= max(2, RULE_THICKNESS * rows)
        return self.height >= RULE_LENGTH * rows and self.width <= max(2, RULE_THICKNESS * cols)

    def near(self, other: Blob, margin: float) -> bool:
        return (
            self.rows.stop - 1 >= other.rows.start - margin
            and self.rows.start <= other.rows.stop - 1 + margin
            and self.cols.stop - 1 >= other.cols.start - margin
            and self.cols.start <= other.cols.stop - 1 + margin
        )


def blobs_of(binary):
    """8-connected components: (labels, [Blob])."""
    import numpy as np
    from scipy import ndimage

    labels, count = ndimage.label(binary, structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    blobs = [
        Blob(number, int(sizes[number]), where[0], where[1])
        for number, where in enumerate(ndimage.find_objects(labels, max_label=count), start=1)
        if where is not None and sizes[number] > 0
    ]
    return labels, blobs


def ruled_lines(blobs, shape) -> set:
    """Labels of the lines of ruled or squared paper: at least two parallel lines across the page."""
    rules = set()
    for direction in ("across", "down"):
        lines = [blob.label for blob in blobs if blob.is_rule(shape, direction)]
        if len(lines) >= 2:
            rules.update(lines)
    return rules


def without_ruled_lines(binary):
    """``binary`` without the rows and columns inked nearly end to end (ruled or squared paper).

    Only when there are several such lines: one alone may be the stroke of a "1" or a
    "7" that fills the picture.  Lines photographed at an angle are caught later, as
    long thin blobs (Blob.is_rule).
    """
    full_rows = binary.mean(axis=1) >= RULE_LENGTH
    full_cols = binary.mean(axis=0) >= RULE_LENGTH
    if _line_count(full_rows) < 2 and _line_count(full_cols) < 2:
        return binary
    cleaned = binary.copy()
    if _line_count(full_rows) >= 2:
        cleaned[full_rows, :] = False
    if _line_count(full_cols) >= 2:
        cleaned[:, full_cols] = False
    return cleaned


def _line_count(flags) -> int:
    """How many separate runs of True: adjacent rows of one thick line count once."""
    from scipy import ndimage

    return int(ndimage.label(flags)[1])


def _is_stroke(blob: Blob, main: Blob) -> bool:
    """The main stroke, any blob nearly as big, or a sizeable piece close to the main stroke.

    A thin "1" has little area, so a speck is recognised by its small extent as well.
    """
    if blob is main or blob.size >= 0.5 * main.size:
        return True
    return sizeable(blob, main) and blob.near(main, NEAR_FRACTION * main.extent())


def sizeable(blob: Blob, main: Blob) -> bool:
    return blob.size >= SPECK_FRACTION * main.size and blob.extent() >= SPECK_EXTENT * main.extent()


# --------------------------------------------------------------------------- one digit


def one_digit_ink(binary) -> Ink:
    """The strokes of a picture of one digit: the main stroke and the sizeable pieces near it.

    Works on a grid of at most COMPONENT_GRID_SIDE cells (a cell is inked when any
    pixel in it is), which also joins strokes broken by a pixel or two.
    """
    import numpy as np

    binary = without_ruled_lines(binary)
    height, width = binary.shape
    cell = max(1, -(-max(height, width) // COMPONENT_GRID_SIDE))
    rows, cols = -(-height // cell), -(-width // cell)
    padded = np.zeros((rows * cell, cols * cell), dtype=bool)
    padded[:height, :width] = binary
    grid = padded.reshape(rows, cell, cols, cell).any(axis=(1, 3))
    labels, blobs = blobs_of(grid)
    if not blobs:
        return Ink(grid, cell)
    # Ruled or squared paper: parallel lines across the whole page are not part of any
    # digit (one such line alone may well be a "1" filling the picture).
    rules = ruled_lines(blobs, grid.shape)
    candidates = [blob for blob in blobs if blob.label not in rules] or blobs
    main = max(candidates, key=lambda blob: blob.size)
    keep = [blob.label for blob in candidates if _is_stroke(blob, main)]
    return Ink(np.isin(labels, keep), cell)
