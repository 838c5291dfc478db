"""Finding the digits on a page: where the ink is, which strokes make one digit, left to right.

The page is analysed at ANALYSIS_SIDE (the paper's level, the ink's polarity and
strength, a mask of the strokes).  Its connected strokes (``scipy.ndimage.label``)
are sorted out: specks of dirt, the lines of ruled paper and the paper's edge are
dropped; pieces of one digit (the bar of a 5, a broken stroke) are joined; what is
left, read left to right, are the digits.  Digits whose strokes touch are split
afterwards (``touching.split_touching``).

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
# Ink along at least this fraction of one side of the picture is the paper's edge (a table
# or the floor photographed beyond the sheet), not a digit.
EDGE_FRACTION = 0.5
# Weakest ink (paper-to-ink contrast, 0–1) that counts as something written.
MIN_INK_CONTRAST = 0.10
# How many noise standard deviations above the paper level the ink must stand out.
NOISE_SIGMAS = 5.0
# A stroke is where the ink reaches this fraction of the pen's typical strength.
STROKE_FRACTION = 0.35
# Two pieces are one digit when the narrower lies this much within the other's columns and they
# share this much of the wider's (neighbours in a number, slanted, overlap only at their edges),
SAME_COLUMNS = 0.5
WIDER_COLUMNS = 0.3
# or they are stacked (overlapping by at most this fraction of the shorter's height),
# or the smaller is this short beside the line of digits (a bar, a dot, a broken-off end).
STACKED_OVERLAP = 0.35
PIECE_HEIGHT = 0.5
# A short piece with no columns in common joins a digit at most this far away (× line height).
PIECE_GAP = 0.03
# A digit's mask reaches this fraction of the line's height beyond its strokes (faint edges).
MARGIN = 0.06
# Followed down to the noise floor, a stroke longer than this × the line's height is no part
# of a digit (a faint ruled line, a fold in the paper); two close digits reach about 2.
WHOLE_EXTENT = 2.5


@dataclasses.dataclass
class Page:
    """What the analysis of the whole picture found: polarity, paper, ink levels, stroke pixels."""

    ink_is_dark: bool
    paper: object  # paper.Paper: the paper's level after inversion, anywhere on the page
    noise: float
    ink_level: float
    strokes: object  # bool (height, width): pixels of the page inked strongly enough to be strokes
    shape: tuple  # (height, width) of the page as analysed
    # The strokes followed down to the noise floor (hysteresis): a thin or faint digit beside
    # heavy ones stays whole here where ``strokes`` breaks it into specks.
    whole_strokes: object
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
    whole = _holding(smooth > clearly_ink, strokes)  # hysteresis thresholding
    return Page(ink_is_dark, paper, noise_sigma(signal), ink_level, strokes, ink.shape, whole, smooth)


def cells_to_pixels(mask, cell: int, shape):
    """A grid mask (one value per cell×cell block) back at pixel resolution."""
    import numpy as np

    pixels = np.repeat(np.repeat(mask, cell, axis=0), cell, axis=1)
    return pixels[: shape[0], : shape[1]]


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


def _rules(blobs, shape) -> set:
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
    return _sizeable(blob, main) and blob.near(main, NEAR_FRACTION * main.extent())


def _sizeable(blob: Blob, main: Blob) -> bool:
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
    rules = _rules(blobs, grid.shape)
    candidates = [blob for blob in blobs if blob.label not in rules] or blobs
    main = max(candidates, key=lambda blob: blob.size)
    keep = [blob.label for blob in candidates if _is_stroke(blob, main)]
    return Ink(np.isin(labels, keep), cell)


# --------------------------------------------------------------------------- several digits


def find_digits(page: Page) -> list[Ink]:
    """The digits on the page, left to right, each as its own strokes (touching ones not yet split).

    One digit found is given as ``one_digit_ink`` finds it, so a picture of one digit
    is read exactly as a single-digit picture always was.
    """
    import numpy as np

    binary = without_ruled_lines(page.strokes)
    # Not joined across gaps first (as one digit's grid is): digits written close together
    # would merge, and a stroke broken in two is put together again by _pieces_joined.
    labels, blobs = blobs_of(binary)
    if not blobs:
        return [one_digit_ink(page.strokes)]
    strokes, dropped = _digit_strokes(labels, blobs)
    whole = _whole_strokes(page.whole_strokes, labels, dropped, max(blob.height for blob in strokes))
    found = np.isin(labels, [blob.label for blob in strokes])
    faint = whole & ~_holding(whole, found)
    if faint.any():
        labels, blobs = blobs_of(found | faint)
        strokes, _ = _digit_strokes(labels, blobs)
    groups = _pieces_joined(strokes)
    if len(groups) == 1:
        return [one_digit_ink(page.strokes)]
    digit_of = np.zeros(labels.shape, dtype=np.int32)
    for number, group in enumerate(groups, start=1):
        digit_of[np.isin(labels, [blob.label for blob in group])] = number
    attached = _holding(whole, digit_of > 0)
    masks, owners = _surroundings(digit_of, len(groups), MARGIN * max(blob.height for blob in strokes), attached)
    return [Ink(mask, strokes=owner, level=_pen_level(page, owner)) for mask, owner in zip(masks, owners, strict=True)]


def _pen_level(page: Page, strokes) -> float:
    """How strong this digit's ink is, as the page's is measured: digits of one number may be
    written with different pens, and a fainter one is made as bright as MNIST's like the rest."""
    import numpy as np

    return min(page.ink_level, float(np.percentile(page.signal[strokes], 90)))


def _digit_strokes(labels, blobs):
    """The blobs that are strokes of digits on the line of writing, and the labels dropped as
    ruled lines or the paper's edge."""
    dropped = _rules(blobs, labels.shape) | _page_edges(labels, blobs)
    candidates = [blob for blob in blobs if blob.label not in dropped] or blobs
    main = max(candidates, key=lambda blob: blob.size)
    strokes = [blob for blob in candidates if blob is main or blob.size >= 0.5 * main.size or _sizeable(blob, main)]
    return _on_the_line(strokes, main), dropped


def _whole_strokes(whole, labels, dropped, line_height: int):
    """The strokes followed down to the noise floor, each part no bigger than a digit or two.

    There a digit written with a fainter or thinner pen than its neighbours is whole, where
    at their level it breaks into specks, and the faint ends of every digit's strokes are
    joined to them.  Ruled lines, the paper's edge and anything longer (a faint line that
    runs through several digits) are left out.
    """
    import numpy as np

    whole = without_ruled_lines(whole)
    whole &= ~_holding(whole, np.isin(labels, list(dropped)))
    whole_labels, blobs = blobs_of(whole)
    too_big = [blob.label for blob in blobs if blob.extent() > WHOLE_EXTENT * line_height]
    return whole & ~np.isin(whole_labels, too_big)


def _holding(whole, found):
    """The connected parts of ``whole`` that hold some of ``found``."""
    import numpy as np
    from scipy import ndimage

    whole_labels, _ = ndimage.label(whole, structure=np.ones((3, 3), dtype=bool))
    held = np.unique(whole_labels[found & whole])
    return np.isin(whole_labels, held[held > 0])


def _surroundings(digit_of, count: int, reach: float, attached):
    """Each digit's mask and strokes: pixels within ``reach`` of its strokes, or ``attached`` to them
    (the strokes followed down to the noise floor), each pixel going to the nearest digit.

    The mask only says whose ink a pixel is (the ink itself is measured on the full
    picture), so it may be generous: faint edges of a stroke stay with their digit,
    and a neighbour's strokes never come with it.
    """
    from scipy import ndimage

    distance, (rows, cols) = ndimage.distance_transform_edt(digit_of == 0, return_indices=True)
    nearest = digit_of[rows, cols]
    near = (distance <= reach) | attached
    strokes = (digit_of > 0) | attached
    masks = [near & (nearest == number) for number in range(1, count + 1)]
    return masks, [strokes & (nearest == number) for number in range(1, count + 1)]


def _page_edges(labels, blobs) -> set:
    """Labels of blobs lying along a side of the picture: the sheet's edge, a table beyond it."""
    import numpy as np

    edges = set()
    for side in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        counts = np.bincount(side, minlength=1)
        counts[0] = 0
        edges.update(int(label) for label in np.nonzero(counts >= EDGE_FRACTION * len(side))[0])
    return edges if len(edges) < len(blobs) else set()


def _on_the_line(strokes, main: Blob):
    """The strokes that share rows with the line of writing (the main stroke's band)."""
    margin = 0.5 * main.height
    return [
        blob
        for blob in strokes
        if blob.rows.stop > main.rows.start - margin and blob.rows.start < main.rows.stop + margin
    ]


def _pieces_joined(strokes) -> list[list[Blob]]:
    """Group strokes into digits, left to right.

    Taken tallest first: a stroke nearly as tall as the line is a digit of its own
    unless it belongs with one already found (``_one_digit``: the halves of a broken 8,
    the loop of a 9 beside its stem); a shorter piece (the bar of a 5, a broken-off end)
    joins the digit whose columns it shares most, or the nearest one within PIECE_GAP
    of the line's height, or stands alone.
    """
    line_height = max(blob.height for blob in strokes)
    groups = []
    for blob in sorted(strokes, key=lambda b: b.height, reverse=True):
        shared = [max(_shared_columns(blob, other) for other in group) for group in groups]
        best = max(range(len(groups)), key=shared.__getitem__, default=None)
        short = blob.height < PIECE_HEIGHT * line_height
        if best is not None and short and shared[best] > -PIECE_GAP * line_height:
            groups[best].append(blob)
        elif best is not None and any(_one_digit(blob, other) for other in groups[best]):
            groups[best].append(blob)
        else:
            groups.append([blob])
    return sorted(groups, key=lambda group: min(blob.cols.start for blob in group))


def _shared_columns(piece: Blob, other: Blob) -> int:
    """How many columns the two share (negative: the gap between them)."""
    return min(piece.cols.stop, other.cols.stop) - max(piece.cols.start, other.cols.start)


def _one_digit(piece: Blob, other: Blob) -> bool:
    """Two pieces of one digit: largely in the same columns (a 9's loop beside its stem, an 8
    in two pieces), or one above the other (digits of a number share most rows) with any
    columns in common (a slanted "1" broken in the middle)."""
    shared_rows = min(piece.rows.stop, other.rows.stop) - max(piece.rows.start, other.rows.start)
    shared_columns = _shared_columns(piece, other)
    narrower, wider = sorted((piece.width, other.width))
    if shared_columns >= SAME_COLUMNS * narrower and shared_columns >= WIDER_COLUMNS * wider:
        return True
    return shared_columns > 0 and shared_rows <= STACKED_OVERLAP * min(piece.height, other.height)
